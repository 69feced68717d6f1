package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/fake"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// TestCertificateBinding: a token bound to a client certificate (cnf
// x5t#S256, RFC 8705) is accepted only from a request that came with that
// certificate, in every DPoP mode and with either scheme; one bound both
// ways needs the certificate and the DPoP proof.
func TestCertificateBinding(t *testing.T) {
	ctx := context.Background()
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	const (
		cert  = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"
		other = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		url   = "https://api.example/api/private"
	)
	v := fake.New()
	v.Accept("plain", domain.Principal{Subject: "alice"})
	v.Accept("cert", domain.Principal{Subject: "alice", CertThumbprint: cert})
	v.Accept("both", domain.Principal{Subject: "alice", CertThumbprint: cert, JKT: key.JKT()})
	bearer := func(token, thumbprint string) app.Credentials {
		return app.Credentials{Scheme: app.SchemeBearer, Token: token, CertThumbprint: thumbprint}
	}
	withProof := func(token, thumbprint string) app.Credentials {
		p, err := key.Proof("GET", url, token, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return app.Credentials{Scheme: app.SchemeDPoP, Token: token, CertThumbprint: thumbprint,
			Proof: ports.ProofRequest{Method: "GET", URL: url, Proofs: []string{p}}}
	}
	withoutProof := func(token, thumbprint string) app.Credentials {
		return app.Credentials{Scheme: app.SchemeDPoP, Token: token, CertThumbprint: thumbprint,
			Proof: ports.ProofRequest{Method: "GET", URL: url}}
	}
	const ok = "ok"
	for _, tc := range []struct {
		name  string
		modes []app.DPoPMode
		creds app.Credentials
		want  string // "ok", a domain.Reason or a domain.ProofReason
	}{
		{"bearer token with a certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPDisabled}, bearer("plain", cert), ok},
		{"certificate-bound token with its certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPDisabled}, bearer("cert", cert), ok},
		{"certificate-bound token without a certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPDisabled}, bearer("cert", ""), string(domain.ReasonCertificateMissing)},
		{"certificate-bound token with another certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPDisabled}, bearer("cert", other), string(domain.ReasonCertificateMismatch)},
		{"certificate-bound token with a thumbprint's prefix", []app.DPoPMode{app.DPoPAllowed}, bearer("cert", cert[:42]), string(domain.ReasonCertificateMismatch)},
		{"bound both ways, certificate and proof", []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired}, withProof("both", cert), ok},
		{"bound both ways, proof without the certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired}, withProof("both", ""), string(domain.ReasonCertificateMissing)},
		{"bound both ways, proof with another certificate", []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired}, withProof("both", other), string(domain.ReasonCertificateMismatch)},
		{"bound both ways, certificate without the proof", []app.DPoPMode{app.DPoPAllowed, app.DPoPRequired}, withoutProof("both", cert), string(domain.ProofMissing)},
		{"bound both ways, certificate, Bearer scheme", []app.DPoPMode{app.DPoPAllowed}, bearer("both", cert), string(domain.ProofBearerBound)},
		{"bound both ways, certificate, DPoP disabled", []app.DPoPMode{app.DPoPDisabled}, bearer("both", cert), string(domain.ReasonConfirmation)},
		{"certificate-bound token with the DPoP scheme", []app.DPoPMode{app.DPoPAllowed}, withProof("cert", cert), string(domain.ProofNotBound)},
	} {
		for _, mode := range tc.modes {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				proofs, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
				if err != nil {
					t.Fatal(err)
				}
				p, err := app.NewAuth(v, proofs, mode, nil).Authenticate(ctx, tc.creds)
				var (
					te *domain.TokenError
					pe *domain.ProofError
				)
				switch {
				case tc.want == ok:
					if err != nil || p.Subject != "alice" {
						t.Errorf("got %+v, %v; want alice", p, err)
					}
				case errors.As(err, &te):
					if string(te.Reason) != tc.want || !errors.Is(err, domain.ErrInvalidToken) {
						t.Errorf("got %v, want %s", err, tc.want)
					}
				case errors.As(err, &pe):
					if string(pe.Reason) != tc.want {
						t.Errorf("got %v, want %s", err, tc.want)
					}
				default:
					t.Errorf("got %+v, %v; want %s", p, err, tc.want)
				}
			})
		}
	}
}

// A certificate-bound token refused for its certificate leaves the DPoP
// proof unspent: the same proof is accepted with the certificate.
func TestCertificateCheckedBeforeProof(t *testing.T) {
	key, err := dpop.GenerateSigner("ES256")
	if err != nil {
		t.Fatal(err)
	}
	const cert = "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg0"
	v := fake.New()
	v.Accept("both", domain.Principal{Subject: "alice", CertThumbprint: cert, JKT: key.JKT()})
	proofs, err := dpop.New(dpop.DefaultConfig(), memory.NewReplayCache(1024, ports.ReplayShares{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	a := app.NewAuth(v, proofs, app.DPoPAllowed, nil)
	p, err := key.Proof("GET", "https://api.example/x", "both", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := app.Credentials{Scheme: app.SchemeDPoP, Token: "both",
		Proof: ports.ProofRequest{Method: "GET", URL: "https://api.example/x", Proofs: []string{p}}}
	if _, err := a.Authenticate(context.Background(), c); !errors.Is(err, domain.ErrInvalidToken) {
		t.Fatalf("without the certificate: got %v, want invalid_token", err)
	}
	c.CertThumbprint = cert
	if got, err := a.Authenticate(context.Background(), c); err != nil || got.Subject != "alice" {
		t.Fatalf("with the certificate: got %+v, %v; want alice", got, err)
	}
}
