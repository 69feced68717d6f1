package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

// send makes a request with an Authorization header and DPoP proofs.
func send(t *testing.T, method, target, authorization string, proofs ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return resp, string(body)
}

// command runs an api subcommand and returns its one line of output.
func command(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, env(map[string]string{}), &stdout, &stderr); err != nil {
		t.Fatalf("%v: %v (%s)", args, err, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || stderr.Len() != 0 {
		t.Fatalf("%v: stdout %q stderr %q, want one line and nothing else", args, out, stderr.String())
	}
	return strings.TrimSpace(out)
}

// `api -dev` with DPoP, as the README shows it with curl: api token -dpop
// and api proof; and the development issuer binding tokens to a proof's key.
func TestDevModeDPoP(t *testing.T) {
	dir := t.TempDir()
	base, logs, stop := runDev(t, env(map[string]string{}),
		"-dev-dir", dir, "-addr", "127.0.0.1:0", "-dev-issuer-addr", "127.0.0.1:0", "-metrics-addr", "off")
	issuerAddr := devIssuerAddr(t, logs)
	waitStatus(t, base+"/readyz", 200)
	dev := []string{"-dev-dir", dir, "-dev-issuer-addr", issuerAddr}
	private := strings.Replace(base, "127.0.0.1", "localhost", 1) + "/api/private"

	tok := command(t, append([]string{"token", "-dpop"}, dev...)...)
	proof := func(args ...string) string {
		return command(t, append(append([]string{"proof"}, dev...), args...)...)
	}
	p := proof("-url", private, "-token", tok)
	if resp, body := send(t, "GET", private, "DPoP "+tok, p); resp.StatusCode != 200 {
		t.Fatalf("token -dpop with api proof: got %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name          string
		authorization string
		proofs        []string
		want          string // the start of the first WWW-Authenticate
	}{
		{"the same proof again", "DPoP " + tok, []string{p}, `DPoP error="invalid_dpop_proof", error_description="DPoP proof already used: jti"`},
		{"as Bearer", "Bearer " + tok, nil, `Bearer realm="api", error="invalid_token"`},
		{"proof for another URL", "DPoP " + tok, []string{proof("-url", strings.Replace(private, "private", "me", 1), "-token", tok)}, `DPoP error="invalid_dpop_proof", error_description="DPoP proof htu does not match the request URL: htu"`},
		{"proof for POST", "DPoP " + tok, []string{proof("-method", "POST", "-url", private, "-token", tok)}, `DPoP error="invalid_dpop_proof", error_description="DPoP proof htm does not match`},
		{"proof without the token", "DPoP " + tok, []string{proof("-url", private)}, `DPoP error="invalid_dpop_proof", error_description="DPoP proof claim missing: ath"`},
	} {
		resp, body := send(t, "GET", private, tc.authorization, tc.proofs...)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), tc.want) {
			t.Errorf("%s: got %d %q %s, want 401 %s…", tc.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, tc.want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, devissuer.DPoPKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, %v; want mode 0600", devissuer.DPoPKeyFile, fi, err)
	}

	// The development issuer binds a machine token to the proof's key.
	key, err := dpop.GenerateSigner("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := "http://" + strings.Replace(issuerAddr, "127.0.0.1", "localhost", 1) + "/oauth/token"
	tp, err := key.Proof("POST", tokenURL, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {devissuer.DefaultMachine},
		"client_secret": {devissuer.DefaultMachineToken}, "audience": {devissuer.DefaultAudience}}
	req, err := http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ AccessToken, TokenType string }
	err = json.NewDecoder(resp.Body).Decode(&struct {
		AccessToken *string `json:"access_token"`
		TokenType   *string `json:"token_type"`
	}{&answer.AccessToken, &answer.TokenType})
	resp.Body.Close()
	if err != nil {
		t.Fatalf("issuer's answer: %v", err)
	}
	if resp.StatusCode != 200 || answer.TokenType != "DPoP" {
		t.Fatalf("issuer with a proof: got %d %+v", resp.StatusCode, answer)
	}
	ap, err := key.Proof("GET", private, answer.AccessToken, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := send(t, "GET", private, "DPoP "+answer.AccessToken, ap); resp.StatusCode != 200 {
		t.Errorf("issuer's DPoP token with its proof: got %d %s", resp.StatusCode, body)
	}
	other := proof("-url", private, "-token", answer.AccessToken) // the dev key, not the one it is bound to
	if resp, _ := send(t, "GET", private, "DPoP "+answer.AccessToken, other); resp.StatusCode != 401 ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "access token is bound to another DPoP key") {
		t.Errorf("proof by another key: got %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	stop()
}

// The development DPoP key is made once, even by commands starting
// together, private, and refused when others may read it.
func TestDevDPoPKey(t *testing.T) {
	dir := t.TempDir()
	const target = "https://api.example/r"
	var wg sync.WaitGroup
	proofs := make([]string, 8)
	for i := range proofs {
		wg.Go(func() {
			var stdout bytes.Buffer
			if err := run(context.Background(), []string{"proof", "-dev-dir", dir, "-url", target}, env(nil), &stdout, io.Discard); err != nil {
				t.Error(err)
			}
			proofs[i] = strings.TrimSpace(stdout.String())
		})
	}
	wg.Wait()
	v, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(memory.DefaultReplayCacheSize, ports.ReplayShares{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	jkts := map[string]bool{}
	for _, p := range proofs {
		checked, err := v.CheckTokenRequestProof(ports.ProofRequest{Method: "GET", URL: target, Proofs: []string{p}})
		if err == nil {
			err = checked.Accept(context.Background())
		}
		if err != nil {
			t.Fatalf("proof %q: %v", p, err)
		}
		jkts[checked.JKT()] = true
	}
	if len(jkts) != 1 {
		t.Errorf("8 commands at once made %d keys, want 1", len(jkts))
	}
	path := filepath.Join(dir, devissuer.DPoPKeyFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	err = run(context.Background(), []string{"proof", "-dev-dir", dir, "-url", target}, env(nil), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("key readable by others: got %v, want a refusal saying chmod 600", err)
	}
	for _, args := range [][]string{{"-url", "localhost:8080/api"}, {"-url", "ftp://x/y"}, {"-method", "GET POST"}, {"extra"}} {
		err := run(context.Background(), append([]string{"proof", "-dev-dir", t.TempDir()}, args...), env(nil), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("proof %v: no error", args)
		}
	}
}
