package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/sqlite"
	"github.com/example/spaapi/ports"
)

// A client that closes the connection mid-request ends the request's
// context: the SQLite store's query fails with it. That is logged as a
// client disconnect (499, INFO), not as a server error, and no 5xx is
// counted.
func TestClientDisconnectIsNotAServerError(t *testing.T) {
	db, err := sqlite.Open(context.Background(), t.TempDir()+"/messages.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := db.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := routerWith(t, httpapi.Config{}, ports.Stores{Database: db, Messages: store})
	f.post(t, "alice", "hello")
	f.post(t, "alice", "again")
	next := f.list(t, "alice", "/api/messages?limit=1").NextCursor
	if next == nil {
		t.Fatal("no next page")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as net/http does when the client's connection closes
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/api/messages?limit=100", nil), // the newest page, which SQLite caches
		httptest.NewRequest("GET", "/api/messages?limit=1&cursor="+*next, nil),
		httptest.NewRequest("POST", "/api/messages", strings.NewReader(`{"text":"bye"}`)),
	} {
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "application/json")
		f.handler.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	}

	logs := f.logs.String()
	if n := strings.Count(logs, `"status":499`); n != 3 {
		t.Errorf("log lines with status 499: got %d, want 3:\n%s", n, logs)
	}
	if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, `"status":500`) {
		t.Errorf("a client disconnect logged as a server error:\n%s", logs)
	}
	if !strings.Contains(logs, `"level":"INFO","msg":"request","method":"POST","route":"/api/messages","status":499`) ||
		!strings.Contains(logs, `"reason":"client_closed_request"`) {
		t.Errorf("no INFO line with 499 and the reason client_closed_request:\n%s", logs)
	}
	families, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got499 float64
	for _, mf := range families {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
					t.Errorf("http_requests_total counts a %s", l.GetValue())
				}
				if l.GetName() == "status" && l.GetValue() == "499" {
					got499 += m.GetCounter().GetValue()
				}
			}
		}
	}
	if got499 != 3 {
		t.Errorf(`http_requests_total{status="499"}: got %v, want 3`, got499)
	}
	if got := outcome(t, f.reg, "client_closed_request"); got != 3 {
		t.Errorf(`auth_outcomes_total{outcome="client_closed_request"}: got %v, want 3`, got)
	}
}
