package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// series counts the HTTP metrics' series and checks every label value is
// one of the allowed ones.
func (f *fixture) series(t *testing.T) int {
	t.Helper()
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string][]string{
		"route":  {"/healthz", "/readyz", "/api/public", "/api/private", "/api/private-scoped", "/api/me", "/api/messages", "/api/messages/{id}", "unmatched"},
		"method": {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"},
	}
	n := 0
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			n++
			for _, lp := range m.GetLabel() {
				if vs, ok := allowed[lp.GetName()]; ok && !slices.Contains(vs, lp.GetValue()) {
					t.Errorf("%s{%s=%.40q}: not one of the bounded values", mf.GetName(), lp.GetName(), lp.GetValue())
				}
				if lp.GetName() == "status" && len(lp.GetValue()) != 3 {
					t.Errorf("%s{status=%.40q}: not a status code", mf.GetName(), lp.GetValue())
				}
			}
		}
	}
	return n
}

// hostile sends requests with made-up methods (some 64 KiB long) and
// paths, distinct in every round.
func (f *fixture) hostile(round int) {
	long := strings.Repeat("X", 64<<10)
	for i := range 300 {
		method := fmt.Sprintf("M%d-%d", round, i)
		path := fmt.Sprintf("/made/up/%d/%d", round, i)
		f.do(method, "/api/public", nil)
		f.do("GET", path, nil)
		f.do(method, path, nil)
		f.do(strings.ToLower(method), "/api/private", auth("Bearer "+tokReader))
		if i%30 == 0 {
			f.do(fmt.Sprintf("%s%d-%d", long, round, i), "/api/private", nil)
			f.do("OPTIONS", path, http.Header{"Origin": {spa}, "Access-Control-Request-Method": {method}})
		}
	}
}

func TestMetricSeriesAreBounded(t *testing.T) {
	f := newFixture(t)
	f.hostile(0)
	after0 := f.series(t)
	f.hostile(1)
	f.hostile(2)
	if got := f.series(t); got != after0 {
		t.Errorf("series: got %d after more made-up methods and paths, want %d as before", got, after0)
	}
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range families {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["method"] == "other" && labels["route"] == "unmatched" && labels["status"] == "405" {
				found = true
				// Round 0 is counted too: 3 rounds × 300 made-up methods on a
				// real path; the lower-case GETs on /api/private are 405s too.
				if got := m.GetCounter().GetValue(); got < 3*300 {
					t.Errorf("other/unmatched/405: got %v requests, want at least %d", got, 3*300)
				}
			}
		}
	}
	if !found {
		t.Errorf(`no http_requests_total{method="other",route="unmatched",status="405"}`)
	}
}

func TestLogLineOfAnUnusualMethodIsBounded(t *testing.T) {
	f := newFixture(t)
	f.do(strings.Repeat("X", 64<<10), "/api/public", nil)
	f.do("BREW", "/api/public", nil)
	f.do("DELETE", "/api/public", nil)
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3", len(lines))
	}
	for i, want := range []string{"XXXXXXXXXXXXXXXXXXXX...", "BREW", "DELETE"} {
		if len(lines[i]) > 400 {
			t.Errorf("line %d is %d bytes, want at most 400: %.200s", i, len(lines[i]), lines[i])
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got, ok := m["method"].(string); !ok || got != want {
			t.Errorf("line %d: method got %q, want %q", i, m["method"], want)
		}
	}
}

// The preflight lists what the routes serve, no more: no PUT or PATCH.
func TestCORSPreflightListsServedMethods(t *testing.T) {
	f := newFixture(t)
	rec := f.do("OPTIONS", "/api/messages", http.Header{"Origin": {spa}, "Access-Control-Request-Method": {"POST"}})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("status: got %d, want 204", rec.Code)
	}
	if got, want := rec.Header().Get("Access-Control-Allow-Methods"), "GET, HEAD, POST, DELETE"; got != want {
		t.Errorf("Access-Control-Allow-Methods: got %q, want %q", got, want)
	}
	// The 405's Allow header comes from the same list.
	rec = f.do("PUT", "/api/messages", nil)
	if got, want := rec.Header().Get("Allow"), "GET, HEAD, POST"; rec.Code != 405 || got != want {
		t.Errorf("PUT /api/messages: got %d Allow %q, want 405 Allow %q", rec.Code, got, want)
	}
}
