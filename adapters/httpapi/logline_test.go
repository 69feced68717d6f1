package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// The request lines LogHandler writes itself are byte for byte those
// slog's JSONHandler writes for the same request.
func TestLogHandlerWritesWhatSlogWrites(t *testing.T) {
	end := time.Date(2026, 11, 28, 4, 9, 59, 123456789, time.FixedZone("X", 3600+1800))
	subjects := []string{"", "auth0|alice", `quote " and back\slash`, "control\x00\x01\b\f\x1f\n\r\t\x7f", "<html> & 'js'",
		"line\u2028para\u2029", "invalid \xff\xfe utf-8 \xe2\x82", "emoji 🦀 and é", strings.Repeat("long ", 100)}
	for _, tc := range []struct {
		method string
		status int
		took   time.Duration
		info   requestInfo
	}{
		{"GET", 200, 0, requestInfo{id: "abc", route: "/api/public"}},
		{"HEAD", 204, 1234567 * time.Nanosecond, requestInfo{id: "0123456789abcdef01234567", route: "/api/private"}},
		{"POST", 401, 999 * time.Nanosecond, requestInfo{id: "x", route: "/api/messages", reason: "expired"}},
		{"GET", 503, 12*time.Second + 345*time.Microsecond, requestInfo{id: "y", route: "/readyz", reason: "unavailable",
			err: errors.New("db \"down\"\nretry")}},
		{"GET", 500, time.Microsecond, requestInfo{id: "z", route: "unmatched", err: errors.New("panic: boom\u2028")}},
		{"BREW\x01\"\\" + strings.Repeat("X", 40), 405, 250 * time.Hour, requestInfo{id: "w"}},
		{"DELETE", 599, 3 * time.Millisecond, requestInfo{id: "v", route: "/api/messages/{id}"}},
	} {
		for _, sub := range subjects {
			info := tc.info
			info.principal = domain.Principal{Subject: sub}
			var want, got bytes.Buffer
			logRequest(context.Background(), slog.NewJSONHandler(&want, nil), end, tc.method, tc.status, tc.took, &info)
			logRequest(context.Background(), NewLogHandler(&got), end, tc.method, tc.status, tc.took, &info)
			if got.String() != want.String() {
				t.Errorf("%s %d %q:\ngot  %s\nwant %s", tc.method, tc.status, sub, got.String(), want.String())
			}
		}
	}
	// Floats at the edges of encoding/json's formats.
	for _, f := range []float64{0, 0.001, 1e-7, 123456.789, 1e21, 5e-324} {
		var want bytes.Buffer
		slog.New(slog.NewJSONHandler(&want, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey {
				return slog.Attr{}
			}
			return a
		}})).Info("", "f", f)
		if got := `{"f":` + string(appendJSONFloat(nil, f)) + "}\n"; got != want.String() {
			t.Errorf("float %v: got %s, want %s", f, got, want.String())
		}
	}
}

// Loggers derived from a LogHandler keep their attributes: their request
// lines go through slog.
func TestLogHandlerWith(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewLogHandler(&out)).With("instance", "a")
	logRequest(context.Background(), log.Handler(), time.Now(), "GET", 200, time.Millisecond, &requestInfo{id: "1", route: "/healthz"})
	if !strings.Contains(out.String(), `"instance":"a"`) || !strings.Contains(out.String(), `"route":"/healthz"`) {
		t.Errorf("got %s, want the line with instance a", out.String())
	}
}

// The log line's time, from a stamp cached per second, is what
// time.RFC3339Nano writes: in every zone, across second boundaries,
// with and without fractions, and in the years slog shows.
func TestStampIsRFC3339Nano(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("X", 3600+1800), time.FixedZone("Y", -(9*3600 + 30*60)), time.FixedZone("Z", 59)}
	base := []time.Time{
		time.Date(2026, 11, 28, 23, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond), // year -1
		time.Date(9999, 12, 31, 23, 59, 59, 100, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 120000000, time.UTC),
	}
	steps := []time.Duration{0, 1, 10, 999, time.Millisecond, time.Second - 1, time.Second, 90 * time.Minute}
	n := 0
	for _, b := range base {
		for _, z := range zones {
			for _, d := range steps {
				tm := b.Add(d).In(z)
				if y := tm.Year(); y < 0 || y >= 10000 {
					if stampOf(tm) != nil {
						t.Errorf("%v: a stamp for a year slog does not show as is", tm)
					}
					continue
				}
				st := stampOf(tm)
				if st == nil {
					t.Fatalf("%v: no stamp", tm)
				}
				want := tm.AppendFormat(nil, time.RFC3339Nano)
				if got := st.append(nil, tm.Nanosecond()); string(got) != string(want) {
					t.Errorf("%v: got %s, want %s", tm, got, want)
				}
				n++
			}
		}
	}
	if n < 150 {
		t.Fatalf("only %d times compared", n)
	}
}
