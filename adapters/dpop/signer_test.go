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
			v, err := dpop.New(cfg, memory.NewReplayCache(1024, nil))
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
				p, _ := s.Proof(tc.method, "https://api.example/r", tc.token, "", now)
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
