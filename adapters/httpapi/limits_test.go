package httpapi_test

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// routerWith is the full router over stores with cfg, its verifier knowing
// the messagesFixture's tokens.
func routerWith(t *testing.T, cfg httpapi.Config, stores ports.Stores) *fixture {
	t.Helper()
	v := fake.New()
	rw := []string{"read:messages", "write:messages"}
	const one = "https://one.example/"
	v.Accept("alice", domain.Principal{Issuer: one, Subject: "auth0|alice", Scopes: rw})
	v.Accept("reader", domain.Principal{Issuer: one, Subject: "auth0|reader", Scopes: []string{"read:messages"}})
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	metrics, err := httpapi.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	proofs, replay := newProofs(t, nil)
	h := httpapi.NewRouter(cfg, httpapi.Services{
		Auth:     app.NewAuth(v, proofs, app.DPoPAllowed, nil),
		Health:   app.NewHealth(v, stores, replay),
		Messages: app.NewMessages(stores.Messages, fixtureQuota),
	}, slog.New(slog.NewJSONHandler(logs, nil)), metrics)
	f := &fixture{handler: h, fake: v, logs: logs, reg: reg}
	if fm, ok := stores.Messages.(*fake.Messages); ok {
		f.store = fm
	}
	return f
}

// fakeStores is one fake message store as the whole database.
func fakeStores() ports.Stores {
	store := fake.NewMessages()
	return ports.Stores{Database: store, Messages: store}
}

// serveLimited serves h as cmd/api does (NewServer on a LimitConnections
// listener) on loopback.
func serveLimited(t *testing.T, h http.Handler) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httpapi.NewServer("", h, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(httpapi.LimitConnections(srv, ln, 100, log))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// exchange sends raw on a new connection and reads n answers.
func exchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	c := dial(t, addr)
	go io.WriteString(c, raw) // the server may answer before it has read it all
	r := bufio.NewReader(c)
	var answers []*http.Response
	for range n {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", len(answers)+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		answers = append(answers, resp)
	}
	return answers
}

func fields(n int, prefix string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s-%03d: v\r\n", prefix, i)
	}
	return b.String()
}

func TestHeaderLimits(t *testing.T) {
	f := routerWith(t, httpapi.Config{}, fakeStores())
	addr := serveLimited(t, f.handler)
	get := "GET /api/public HTTP/1.1\r\nHost: api\r\n"

	for _, tc := range []struct {
		name   string
		raw    string
		status []int
		body   string // in the first answer
	}{
		{"a head over MaxHeaderBytes (and net/http's 4 KiB of slack)",
			get + "X-Big: " + strings.Repeat("a", httpapi.MaxHeaderBytes+4096) + "\r\n\r\n", []int{431}, "431 Request Header Fields Too Large"},
		{"a head of MaxHeaderBytes in one field", get + "X-Big: " + strings.Repeat("a", httpapi.MaxHeaderBytes-len(get)-9) + "\r\n\r\n", []int{200}, ""},
		{"MaxHeaderFields fields", get + fields(httpapi.MaxHeaderFields-1, "X") + "\r\n", []int{200}, ""},
		{"one field more", get + fields(httpapi.MaxHeaderFields, "X") + "\r\n", []int{431}, "more than 100 header fields"},
		{"10,000 tiny fields (5 bytes each): within the byte limit",
			get + tinyFields(10_000), []int{431}, "more than 100 header fields"},
		{"a field folded over many lines counts each line",
			get + "X-Folded: a\r\n" + strings.Repeat(" b\r\n", httpapi.MaxHeaderFields) + "\r\n", []int{431}, "more than 100 header fields"},
		{"three pipelined requests of 60 fields each, in one write",
			strings.Repeat(get+fields(60, "X")+"\r\n", 3), []int{200, 200, 200}, ""},
		{"a POST body of many lines is not a head",
			"POST /api/messages HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer alice\r\nContent-Type: application/json\r\nContent-Length: 313\r\n\r\n{" +
				strings.Repeat("\n", 300) + `"text":"hi"}` + get + "\r\n", []int{201, 200}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answers := exchange(t, addr, tc.raw, len(tc.status))
			for i, resp := range answers {
				if resp.StatusCode != tc.status[i] {
					body, _ := io.ReadAll(resp.Body)
					t.Errorf("answer %d: got %d %s, want %d", i+1, resp.StatusCode, body, tc.status[i])
				}
			}
			if body, _ := io.ReadAll(answers[0].Body); !strings.Contains(string(body), tc.body) {
				t.Errorf("body: got %q, want it to say %q", body, tc.body)
			}
		})
	}
}

// tinyFields is n fields of distinct two-letter-and-number names, empty
// values and bare newlines: the most fields a head's bytes can carry.
func tinyFields(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%x:\n", i)
	}
	return b.String() + "\n"
}

// The largest request a real client plausibly sends passes the header
// limits: a browser's DPoP request to /api/private with an Entra ID access
// token listing 200 groups (Entra's cap before it sends a group overage
// claim instead) and a proof made with an RSA-4096 key, behind a proxy
// that adds its own headers.
func TestLargeRealisticRequest(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := dpop.NewSigner(key, "PS256")
	if err != nil {
		t.Fatal(err)
	}
	token := entraToken(t)
	f := routerWith(t, httpapi.Config{AllowedOrigins: []string{spa}}, fakeStores())
	f.fake.Accept(token, domain.Principal{Issuer: "https://login.microsoftonline.com/tenant/v2.0", Subject: "entra-user",
		Scopes: []string{"read:messages"}, ExpiresAt: time.Now().Add(time.Hour), JKT: signer.JKT()})
	addr := serveLimited(t, f.handler)
	url := "http://" + addr + "/api/private"
	proof, err := signer.Proof("GET", url, token, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	head := "GET /api/private HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Connection: keep-alive\r\n" +
		`sec-ch-ua: "Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"` + "\r\n" +
		"sec-ch-ua-mobile: ?0\r\n" +
		`sec-ch-ua-platform: "Windows"` + "\r\n" +
		"Authorization: DPoP " + token + "\r\n" +
		"DPoP: " + proof + "\r\n" +
		"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
		"Accept: application/json, text/plain, */*\r\n" +
		"Origin: " + spa + "\r\n" +
		"Sec-Fetch-Site: same-site\r\n" +
		"Sec-Fetch-Mode: cors\r\n" +
		"Sec-Fetch-Dest: empty\r\n" +
		"Referer: " + spa + "/messages?filter=mine&page=2\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
		"Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,de-DE;q=0.7,de;q=0.6,fr;q=0.5\r\n" +
		"Priority: u=1, i\r\n" +
		"X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"X-Forwarded-Host: api.example.com\r\n" +
		"X-Request-ID: 4bf92f3577b34da6a3ce929d0e0e4736\r\n" +
		"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n" +
		"tracestate: congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\r\n\r\n"
	t.Logf("token %d bytes, proof %d bytes, whole head %d bytes (MaxHeaderBytes %d)", len(token), len(proof), len(head), httpapi.MaxHeaderBytes)
	if len(head) > httpapi.MaxHeaderBytes/2 {
		t.Errorf("a realistic large request (%d bytes) takes more than half the header limit (%d)", len(head), httpapi.MaxHeaderBytes)
	}
	resp := exchange(t, addr, head, 1)[0]
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
		t.Fatalf("got %d %s, want 200", resp.StatusCode, body)
	}
}

// entraToken is an access token shaped as Entra ID (v2.0) issues one for
// a user in 200 groups with 30 app roles, signed RS256 with a 2048-bit key
// (the signature is random bytes of that size: only the size matters).
func entraToken(t *testing.T) string {
	t.Helper()
	id := func(i int) string {
		return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", uint32(i)*2654435761, i&0xffff, i&0xfff, (i*7)&0xfff, i*7919)
	}
	var groups, roles []string
	for i := range 200 {
		groups = append(groups, id(i))
	}
	for i := range 30 {
		roles = append(roles, fmt.Sprintf("Orders.ReadWrite.Region%02d", i))
	}
	now := time.Now().Unix()
	claims := map[string]any{
		"aud": "api://8f2c3d1e-1111-2222-3333-444455556666", "iss": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
		"iat": now, "nbf": now, "exp": now + 3600, "aio": strings.Repeat("A", 100), "azp": id(9), "azpacr": "0",
		"groups": groups, "roles": roles, "wids": []string{id(1000), id(1001), id(1002)},
		"name": "Alexandra Example-Longname", "oid": id(7), "preferred_username": "alexandra.example-longname@contoso.onmicrosoft.com",
		"rh": "0.ARoAv4j5cvGGr0GRqy180BHbR1_j2Yl0xQxKlrA5CqRMEt0aAJs.", "scp": "access_as_user Messages.Read Messages.Write",
		"sid": id(8), "sub": strings.Repeat("s", 43), "tid": id(10), "uti": strings.Repeat("u", 22), "ver": "2.0",
		"cnf": map[string]string{"jkt": strings.Repeat("j", 43)},
	}
	header, _ := json.Marshal(map[string]string{"typ": "at+jwt", "alg": "RS256", "kid": "nOo3ZDrODXEK1jKWhXslHR_KXEg"})
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 256)
	rand.Read(sig)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(header) + "." + enc(payload) + "." + enc(sig)
}
