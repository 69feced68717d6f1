package dpop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// Proofs from Signer are what the Verifier accepts, for every algorithm;
// and a proof for another request, token or key is refused.
func TestSignerProofsVerify(t *testing.T) {
	now := time.Now()
	for _, alg := range []string{"ES256", "ES384", "ES512", "RS256", "PS256", "PS384", "EdDSA", "Ed25519"} {
		t.Run(alg, func(t *testing.T) {
			cfg := dpop.DefaultConfig()
			cfg.Algorithms = []string{alg}
			v, err := dpop.New(cfg, memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
			if err != nil {
				t.Fatal(err)
			}
			s, err := dpop.GenerateSigner(alg)
			if err != nil {
				t.Fatal(err)
			}
			jkt, err := dpop.Thumbprint(s.JWK())
			if err != nil || jkt != s.JKT() {
				t.Fatalf("JKT %q, Thumbprint of JWK %q (%v)", s.JKT(), jkt, err)
			}
			req := func(p string) ports.ProofRequest {
				return ports.ProofRequest{Method: "GET", URL: "https://api.example/r", Proofs: []string{p}, AccessToken: "tok", JKT: s.JKT()}
			}
			p, err := s.Proof("GET", "https://api.example/r?q=1#f", "tok", "", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.VerifyProof(context.Background(), req(p)); err != nil {
				t.Fatalf("good proof refused: %v", err)
			}
			for _, tc := range []struct {
				name   string
				method string
				token  string
				want   domain.ProofReason
			}{
				{"another method", "POST", "tok", domain.ProofMethod},
				{"another token", "GET", "other", domain.ProofAccessToken},
			} {
				p, err := s.Proof(tc.method, "https://api.example/r", tc.token, "", now)
				if err != nil {
					t.Fatal(err)
				}
				var pe *domain.ProofError
				if err := v.VerifyProof(context.Background(), req(p)); !errors.As(err, &pe) || pe.Reason != tc.want {
					t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
				}
			}
		})
	}
	if _, err := dpop.GenerateSigner("HS256"); err == nil {
		t.Error("GenerateSigner(HS256): no error")
	}
}

// A token endpoint's proof has no access token: no ath is needed, the key's
// thumbprint is the answer, and everything else is checked as usual.
func TestVerifyTokenRequestProof(t *testing.T) {
	ctx := context.Background()
	v, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	s, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	const token = "https://issuer.example/oauth/token"
	req := func(p string) ports.ProofRequest {
		return ports.ProofRequest{Method: "POST", URL: token, Proofs: []string{p}}
	}
	p, err := s.Proof("POST", token, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if jkt, err := verifyTokenRequestProof(ctx, v, req(p)); err != nil || jkt != s.JKT() {
		t.Fatalf("got %q, %v; want the key's thumbprint %q", jkt, err, s.JKT())
	}
	var pe *domain.ProofError
	if _, err := verifyTokenRequestProof(ctx, v, req(p)); !errors.As(err, &pe) || pe.Reason != domain.ProofReplayed {
		t.Errorf("replayed: got %v", err)
	}
	// The same proof (without ath) is refused where an access token comes with it.
	p, err = s.Proof("POST", token, "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyProof(ctx, ports.ProofRequest{Method: "POST", URL: token, Proofs: []string{p}, AccessToken: "tok", JKT: s.JKT()}); !errors.As(err, &pe) || pe.Reason != domain.ProofMissingClaim {
		t.Errorf("no ath with an access token: got %v, want %s", err, domain.ProofMissingClaim)
	}
	for _, tc := range []struct {
		name   string
		method string
		url    string
		want   domain.ProofReason
	}{
		{"another endpoint", "POST", "https://issuer.example/userinfo", domain.ProofURL},
		{"another method", "GET", token, domain.ProofMethod},
	} {
		p, err := s.Proof(tc.method, tc.url, "", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifyTokenRequestProof(ctx, v, req(p)); !errors.As(err, &pe) || pe.Reason != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.want)
		}
	}
	if _, err := verifyTokenRequestProof(ctx, v, ports.ProofRequest{Method: "POST", URL: token}); !errors.As(err, &pe) || pe.Reason != domain.ProofMissing {
		t.Errorf("no proof: got %v", err)
	}
}

// verifyTokenRequestProof runs both steps of a token request's proof check,
// as a token endpoint does for an authenticated client, and returns the
// key's thumbprint.
func verifyTokenRequestProof(ctx context.Context, v *dpop.Verifier, req ports.ProofRequest) (string, error) {
	p, err := v.CheckTokenRequestProof(req)
	if err != nil {
		return "", err
	}
	if err := p.Accept(ctx); err != nil {
		return "", err
	}
	return p.JKT(), nil
}
