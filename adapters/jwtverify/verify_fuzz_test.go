package jwtverify_test

import (
	"context"
	"testing"

	"github.com/example/spaapi/ports"
)

// FuzzVerify verifies hostile tokens with two verifiers that trust fixed
// keys: one given the keys as data (the static-key path), one fetching
// them from loopback JWKS servers for two issuers (issuer-bound keys). The
// input is a token and mutations to apply to it (see hostileKit.mutate).
// Properties, for each verifier: Verify never panics; a refusal is a
// *domain.TokenError with a known reason (or ErrUnavailable) whose text
// does not contain the token; and an accepted token's signing input was
// signed, byte for byte, by a trusted key of the issuer that accepted it
// (the kit records every signing input it signs), and the token meets
// every header and claim rule, as an oracle that decodes it separately
// sees it.
//
//	go test -run '^$' -fuzz '^FuzzVerify$' -fuzztime 10m ./adapters/jwtverify/
//
// Keys and the clock are fixed, so every fuzzing process trusts and signs
// the same.
func FuzzVerify(f *testing.F) {
	kit := newHostileKit(f)
	verifiers := []struct {
		name string
		v    ports.TokenVerifier
	}{{"fixed keys", kit.fixedVerifier(f)}, {"JWKS, two issuers", kit.remoteVerifier(f)}}
	seeds := kit.seedTokens()
	others := deterministic(seeds)
	for _, tok := range seeds {
		f.Add(tok, []byte(nil))
	}
	// Each mutation on a valid token with the first 64 choices of where;
	// the edits of the header and claims also signed again by the trusted
	// key afterwards.
	for what := range 24 {
		for where := range 64 {
			f.Add(others[0], []byte{byte(what), byte(where)})
			if 8 <= what && what <= 19 {
				f.Add(others[0], []byte{byte(what), byte(where), 20, 0})
			}
		}
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string, ops []byte) {
		tok = kit.mutate(tok, others, ops)
		for _, v := range verifiers {
			p, err := v.v.Verify(ctx, tok)
			if err != nil {
				if e := checkRefusal(err, tok); e != nil {
					t.Fatalf("%s: %v", v.name, e)
				}
				continue
			}
			if err := kit.checkAccepted(tok, p.Issuer); err != nil {
				t.Fatalf("%s accepted %q for %s: %v", v.name, tok, p.Issuer, err)
			}
		}
	})
}
