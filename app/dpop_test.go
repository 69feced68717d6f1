package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// TestDPoPModes: which credentials each DPOP_MODE accepts, and what it
// answers to the others. The token verifier is the fake; the proofs are
// real, checked by adapters/dpop.
func TestDPoPModes(t *testing.T) {
	ctx := context.Background()
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	other, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	v := fake.New()
	v.Accept("plain", domain.Principal{Subject: "alice"})
	v.Accept("bound", domain.Principal{Subject: "alice", JKT: key.JKT()})
	const url = "https://api.example/api/private"
	proof := func(s *dpop.Signer, token string) []string {
		p, err := s.Proof("GET", url, token, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return []string{p}
	}
	dpopCreds := func(token string, proofs []string) app.Credentials {
		return app.Credentials{Scheme: app.SchemeDPoP, Token: token, Proof: ports.ProofRequest{Method: "GET", URL: url, Proofs: proofs}}
	}
	const ok = domain.ProofReason("ok")
	const unauthenticated = domain.ProofReason("no credentials")
	const unsupportedCnf = domain.ProofReason(domain.ReasonConfirmation) // a *domain.TokenError
	for _, tc := range []struct {
		name  string
		creds func() app.Credentials
		want  map[app.DPoPMode]domain.ProofReason
	}{
		{"bearer token", func() app.Credentials { return bearer("plain") },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: ok, app.DPoPRequired: domain.ProofRequired, app.DPoPDisabled: ok}},
		{"bound token as Bearer (a downgrade)", func() app.Credentials { return bearer("bound") },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: domain.ProofBearerBound, app.DPoPRequired: domain.ProofRequired, app.DPoPDisabled: unsupportedCnf}},
		{"bound token with its proof", func() app.Credentials { return dpopCreds("bound", proof(key, "bound")) },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: ok, app.DPoPRequired: ok, app.DPoPDisabled: unauthenticated}},
		{"bound token without a proof", func() app.Credentials { return dpopCreds("bound", nil) },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: domain.ProofMissing, app.DPoPRequired: domain.ProofMissing, app.DPoPDisabled: unauthenticated}},
		{"bound token, proof of another key", func() app.Credentials { return dpopCreds("bound", proof(other, "bound")) },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: domain.ProofKeyMismatch, app.DPoPRequired: domain.ProofKeyMismatch, app.DPoPDisabled: unauthenticated}},
		{"bearer token with the DPoP scheme", func() app.Credentials { return dpopCreds("plain", proof(key, "plain")) },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: domain.ProofNotBound, app.DPoPRequired: domain.ProofNotBound, app.DPoPDisabled: unauthenticated}},
		{"empty token", func() app.Credentials { return dpopCreds("", proof(key, "")) },
			map[app.DPoPMode]domain.ProofReason{app.DPoPAllowed: unauthenticated, app.DPoPRequired: unauthenticated, app.DPoPDisabled: unauthenticated}},
	} {
		for mode, want := range tc.want {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				proofs, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
				if err != nil {
					t.Fatal(err)
				}
				p, err := app.NewAuth(v, proofs, mode, nil).Authenticate(ctx, tc.creds())
				var pe *domain.ProofError
				switch {
				case want == ok:
					if err != nil || p.Subject != "alice" {
						t.Errorf("got %+v, %v; want alice", p, err)
					}
				case want == unauthenticated:
					if !errors.Is(err, domain.ErrUnauthenticated) || errors.As(err, &pe) {
						t.Errorf("got %v, want ErrUnauthenticated", err)
					}
				case want == unsupportedCnf:
					var te *domain.TokenError
					if !errors.As(err, &te) || te.Reason != domain.ReasonConfirmation {
						t.Errorf("got %v, want a token error %s", err, domain.ReasonConfirmation)
					}
				case !errors.As(err, &pe) || pe.Reason != want:
					t.Errorf("got %v, want %s", err, want)
				}
			})
		}
	}
}

// The proof is checked on every request, though the token is the same:
// a proof used once is refused the second time.
func TestDPoPProofEveryRequest(t *testing.T) {
	key, err := dpop.GenerateSigner("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	v := fake.New()
	v.Accept("bound", domain.Principal{Subject: "alice", JKT: key.JKT()})
	proofs, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	a := app.NewAuth(v, proofs, app.DPoPRequired, nil)
	p, err := key.Proof("POST", "https://api.example/api/messages", "bound", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := app.Credentials{Scheme: app.SchemeDPoP, Token: "bound",
		Proof: ports.ProofRequest{Method: "POST", URL: "https://api.example/api/messages", Proofs: []string{p}}}
	if _, err := a.Authenticate(context.Background(), c); err != nil {
		t.Fatalf("first use: %v", err)
	}
	var pe *domain.ProofError
	if _, err := a.Authenticate(context.Background(), c); !errors.As(err, &pe) || pe.Reason != domain.ProofReplayed {
		t.Fatalf("second use: got %v, want %s", err, domain.ProofReplayed)
	}
}

func TestParseDPoPMode(t *testing.T) {
	for in, want := range map[string]app.DPoPMode{"": app.DPoPAllowed, "allowed": app.DPoPAllowed, "required": app.DPoPRequired, "disabled": app.DPoPDisabled} {
		if got, err := app.ParseDPoPMode(in); err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"Allowed", "on", "off", "true", "require"} {
		// The three values quoted, so that "allowed" does not read as
		// refused.
		want := fmt.Sprintf(`%q is not one of "allowed", "required", "disabled"`, in)
		if _, err := app.ParseDPoPMode(in); err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", in, err, want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewAuth without a proof verifier in allowed mode did not panic")
		}
	}()
	app.NewAuth(fake.New(), nil, app.DPoPAllowed, nil)
}
