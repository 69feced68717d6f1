package app_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
	"github.com/example/spaapi/ports/limitertest"
)

// countingVerifier counts the tokens it is asked about.
type countingVerifier struct {
	ports.TokenVerifier
	calls atomic.Int32
}

func (v *countingVerifier) Verify(ctx context.Context, token string) (domain.Principal, error) {
	v.calls.Add(1)
	return v.TokenVerifier.Verify(ctx, token)
}

// The failure limit in Authenticate: refused credentials count against
// their client; once blocked, the client's credentials, good ones too,
// are refused without being checked; other clients, missing credentials,
// unavailable keys and successes are not affected.
func TestAuthenticateFailureLimit(t *testing.T) {
	ctx := context.Background()
	fv := fake.New()
	fv.Accept("good", domain.Principal{Subject: "alice"})
	fv.Refuse("forged", domain.InvalidToken(domain.ReasonSignature, nil))
	v := &countingVerifier{TokenVerifier: fv}
	clk := limitertest.NewClock()
	limit := domain.FailureLimit{Failures: 3, Window: 3 * time.Second}
	a := app.NewAuth(v, nil, app.DPoPDisabled, memory.NewFailureLimiter(limit, 64, clk.Now))
	from := func(client string, c app.Credentials) app.Credentials { c.Client = client; return c }

	// Successes and missing credentials count nothing, however many.
	for range 10 {
		if _, err := a.Authenticate(ctx, from("attacker", bearer("good"))); err != nil {
			t.Fatalf("good token: %v", err)
		}
		if _, err := a.Authenticate(ctx, from("attacker", bearer(""))); !errors.Is(err, domain.ErrUnauthenticated) {
			t.Fatalf("no token: got %v, want ErrUnauthenticated", err)
		}
	}
	fv.SetReady(false) // keys not loaded: the API's trouble, not the client's
	for range 10 {
		if _, err := a.Authenticate(ctx, from("attacker", bearer("good"))); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("keys not loaded: got %v, want ErrUnavailable", err)
		}
	}
	fv.SetReady(true)
	// Three failures: the third blocks.
	malformed := app.Credentials{Malformed: domain.InvalidToken(domain.ReasonMalformed, nil)}
	for i, c := range []app.Credentials{bearer("forged"), bearer("unknown"), malformed} {
		if _, err := a.Authenticate(ctx, from("attacker", c)); !errors.Is(err, domain.ErrInvalidToken) {
			t.Fatalf("failure %d: got %v, want ErrInvalidToken", i+1, err)
		}
	}
	calls := v.calls.Load()
	for _, c := range []app.Credentials{bearer("forged"), bearer("good"), malformed} {
		_, err := a.Authenticate(ctx, from("attacker", c))
		var le *domain.FailureLimitError
		if !errors.As(err, &le) || le.RetryAfter != time.Second || !errors.Is(err, domain.ErrTooManyFailures) {
			t.Fatalf("blocked client, %q: got %v, want a FailureLimitError of 1s", c.Token, err)
		}
	}
	if got := v.calls.Load(); got != calls {
		t.Fatalf("the verifier was asked %d times for a blocked client, want 0", got-calls)
	}
	// A blocked client without credentials is told it has none.
	if _, err := a.Authenticate(ctx, from("attacker", bearer(""))); !errors.Is(err, domain.ErrUnauthenticated) {
		t.Fatalf("blocked client, no token: got %v, want ErrUnauthenticated", err)
	}
	// Another client, and a request with no client address, are not
	// affected, failures below the limit included.
	for _, client := range []string{"someone else", ""} {
		for range 2 {
			if _, err := a.Authenticate(ctx, from(client, bearer("forged"))); !errors.Is(err, domain.ErrInvalidToken) {
				t.Fatalf("%q's forged token: got %v, want ErrInvalidToken", client, err)
			}
		}
		if _, err := a.Authenticate(ctx, from(client, bearer("good"))); err != nil {
			t.Fatalf("%q's good token: %v", client, err)
		}
	}
	// Once the block has passed, the good token works again.
	clk.Add(time.Second)
	if _, err := a.Authenticate(ctx, from("attacker", bearer("good"))); err != nil {
		t.Fatalf("good token after the block: %v", err)
	}
}

// DPoP refusals count, except use_dpop_nonce, which every client meets
// once per nonce window.
func TestAuthenticateFailureLimitDPoP(t *testing.T) {
	ctx := context.Background()
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	v := fake.New()
	v.Accept("bound", domain.Principal{Subject: "alice", JKT: key.JKT()})
	cfg := dpop.DefaultConfig()
	cfg.NonceSecret = make([]byte, 32)
	proofs, err := dpop.New(cfg, memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	limit := domain.FailureLimit{Failures: 2, Window: time.Minute}
	a := app.NewAuth(v, proofs, app.DPoPAllowed, memory.NewFailureLimiter(limit, 64, nil))
	const url = "https://api.example/api/private"
	withProof := func(nonce string) app.Credentials {
		p, err := key.Proof("GET", url, "bound", nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return app.Credentials{Scheme: app.SchemeDPoP, Token: "bound", Client: "c",
			Proof: ports.ProofRequest{Method: "GET", URL: url, Proofs: []string{p}}}
	}
	var pe *domain.ProofError
	for range 5 {
		if _, err := a.Authenticate(ctx, withProof("")); !errors.As(err, &pe) || pe.Code() != domain.ProofCodeUseNonce {
			t.Fatalf("proof without a nonce: got %v, want use_dpop_nonce", err)
		}
	}
	if _, err := a.Authenticate(ctx, withProof(proofs.Nonce())); err != nil {
		t.Fatalf("proof with the nonce after five use_dpop_nonce: %v", err)
	}
	noProof := app.Credentials{Scheme: app.SchemeDPoP, Token: "bound", Client: "c", Proof: ports.ProofRequest{Method: "GET", URL: url}}
	for range 2 {
		if _, err := a.Authenticate(ctx, noProof); !errors.As(err, &pe) || pe.Reason != domain.ProofMissing {
			t.Fatalf("no proof: got %v, want dpop_missing", err)
		}
	}
	if _, err := a.Authenticate(ctx, withProof(proofs.Nonce())); !errors.Is(err, domain.ErrTooManyFailures) {
		t.Fatalf("good proof after two refused ones: got %v, want ErrTooManyFailures", err)
	}
}

// callingVerifier stands for token introspection: a token it has not seen
// is a call to the issuer (called), active or not; one it has seen is a
// cached answer.
type callingVerifier struct {
	seen    map[string]bool
	clients []string
}

func (v *callingVerifier) Verify(ctx context.Context, token string) (domain.Principal, error) {
	p, _, err := v.VerifyFrom(ctx, "", token)
	return p, err
}

func (v *callingVerifier) VerifyFrom(_ context.Context, client, token string) (domain.Principal, bool, error) {
	v.clients = append(v.clients, client)
	called := !v.seen[token]
	v.seen[token] = true
	if strings.HasPrefix(token, "active") {
		return domain.Principal{Subject: "alice"}, called, nil
	}
	return domain.Principal{}, called, domain.InvalidToken(domain.ReasonInactive, nil)
}

// With a verifier that calls the issuer, each call counts once against the
// client, whatever its answer; cached answers count only when they refuse.
func TestAuthenticateFailureLimitCountsCalls(t *testing.T) {
	ctx := context.Background()
	v := &callingVerifier{seen: map[string]bool{}}
	limit := domain.FailureLimit{Failures: 4, Window: 4 * time.Second}
	a := app.NewAuth(v, nil, app.DPoPDisabled, memory.NewFailureLimiter(limit, 64, limitertest.NewClock().Now))
	from := func(token string) app.Credentials { c := bearer(token); c.Client = "c"; return c }

	// One new active token: one call, counted; then cached: not counted.
	for range 10 {
		if _, err := a.Authenticate(ctx, from("active-1")); err != nil {
			t.Fatalf("active token: %v", err)
		}
	}
	// A new inactive token: one call and one refusal, counted once.
	if _, err := a.Authenticate(ctx, from("random-1")); !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("random token: got %v", err)
	}
	// A new active token: its call is the fourth unit.
	if _, err := a.Authenticate(ctx, from("active-2")); err != nil {
		t.Fatalf("second active token: %v", err)
	}
	if _, err := a.Authenticate(ctx, from("active-1")); err != nil {
		t.Fatalf("the first active token, cached: %v", err)
	}
	// The inactive one again (cached): a refusal, the fourth.
	if _, err := a.Authenticate(ctx, from("random-1")); !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("random token again: got %v", err)
	}
	if _, err := a.Authenticate(ctx, from("active-1")); !errors.Is(err, domain.ErrTooManyFailures) {
		t.Fatalf("after four units: got %v, want ErrTooManyFailures", err)
	}
	if got := v.clients[0]; got != "c" {
		t.Fatalf("the verifier was told the client %q, want c", got)
	}
}
