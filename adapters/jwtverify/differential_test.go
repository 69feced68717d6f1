//go:build differential

// The differential test checks this package against an independent JOSE
// implementation, go-jose. It is built only with the differential build
// tag, so only this test binary links go-jose: not the API, not the
// default `go test ./...` (cmd/api's TestBinaryDoesNotLinkTestOnlyModules
// checks the binary).
//
//	go test -tags differential -run '^TestDifferential$' -v ./adapters/jwtverify/
//	DIFFERENTIAL_TOKENS=5000 go test -tags differential -run '^TestDifferential$' -v ./adapters/jwtverify/

package jwtverify_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// joseAlgorithms are kitAlgorithms, as go-jose names them.
var joseAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// joseVerdict is go-jose's verdict on a token, configured to our rules
// where it has them (algorithms, issuer, audience, exp/nbf/iat with the
// same leeway and clock), with the trusted key the token's kid names
// (or, for an unknown or absent kid, any trusted key, as the fixed-key
// verifier tries them all): "ok", or the step that refused it.
func joseVerdict(kit *hostileKit, tok string) (verdict string, signer *jwtverifytest.Key) {
	jws, err := jose.ParseSignedCompact(tok, joseAlgorithms)
	if err != nil {
		return "parse: " + err.Error(), nil
	}
	candidates := kit.trusted
	if k, ok := kit.byKID[jws.Signatures[0].Header.KeyID]; ok && slices.Contains(kit.trusted, k) {
		candidates = []*jwtverifytest.Key{k}
	}
	var verr error
	for _, k := range candidates {
		if _, verr = jws.Verify(k.Public()); verr == nil {
			signer = k
			break
		}
	}
	if signer == nil {
		return "signature: " + verr.Error(), nil
	}
	t, err := josejwt.ParseSigned(tok, joseAlgorithms)
	if err != nil {
		return "jwt parse", signer
	}
	var c josejwt.Claims
	if err := t.Claims(signer.Public(), &c); err != nil {
		return "claims decoding: " + err.Error(), signer
	}
	err = c.ValidateWithLeeway(josejwt.Expected{Issuer: kitIssuer, AnyAudience: josejwt.Audience{kitAudience}, Time: kitNow}, kitLeeway)
	switch {
	case err == nil:
		return "ok", signer
	case errors.Is(err, josejwt.ErrExpired):
		return "claims: expired", signer
	case errors.Is(err, josejwt.ErrNotValidYet):
		return "claims: not valid yet", signer
	case errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return "claims: issued in the future", signer
	case errors.Is(err, josejwt.ErrInvalidIssuer):
		return "claims: issuer", signer
	case errors.Is(err, josejwt.ErrInvalidAudience):
		return "claims: audience", signer
	}
	return "claims: " + err.Error(), signer
}

// weRefuseItAccepts explains, by our refusal reason, why we refuse tokens
// go-jose accepts. A class missing here fails the test until explained.
var weRefuseItAccepts = map[domain.Reason]string{
	domain.ReasonType:           "by design: an explicit typ other than at+jwt or JWT (RFC 8725 §3.11, RFC 9068 §4); go-jose does not check typ",
	domain.ReasonCritical:       "by design: any crit, even [], is refused (RFC 7515 §4.1.11: nothing here understands an extension)",
	domain.ReasonMissingClaim:   "by design: exp, iss and aud are required (RFC 9068 §2.2); go-jose checks them only when present",
	domain.ReasonClaimType:      "by design: scope, sub, client_id, jti, azp must be strings, permissions an array of strings; go-jose reads only the registered claims",
	domain.ReasonUnknownKey:     "by design: a JWK's alg pins its key to that algorithm (a key published for RS256 does not verify PS256); go-jose gets the bare public key",
	domain.ReasonMalformed:      "by design: strict compact form (a signature with a trailing \\n, which go-jose's base64 skips), header and claims JSON objects with nothing after them (not even a space), typ and kid strings, b64 absent or true",
	domain.ReasonExpired:        "the same rule; golang-jwt and go-jose round fractional NumericDates differently (under a second)",
	domain.ReasonNotYetValid:    "the same rule at the edge (rounding), and nbf after year 9999, which go-jose reads as the distant past",
	domain.ReasonIssuedInFuture: "the same rule at the edge (rounding), and iat after year 9999, which go-jose reads as the distant past",
	domain.ReasonAudience:       "by design: aud must be a string or an array of strings",
	domain.ReasonAlgorithm:      "by design: alg exactly one of the allowed names",
}

// weAcceptItRefusesWhy explains the classes weAcceptItRefuses finds.
// (Duplicate member names were one until the verifier refused them too.)
var weAcceptItRefusesWhy = map[string]string{
	// go-jose parses a jwk header (refusing one it cannot read or with
	// private members) and x5c (each a DER certificate, no chain checked),
	// and refuses the token if that fails, though it verifies with the key
	// it is given, never these; jku and x5u it does not read at all. Here
	// all four are ignored (RFC 8725 §3.10: keys come only from the issuer's
	// JWKS); refusing them would refuse issuers that may send them (Curity's
	// JWT issuers can be set to) and protect nothing: no key in a token is
	// ever used.
	"embedded jwk header": "by design: ignored, keys come only from the issuer's key set; go-jose parses it and refuses this one, though it never verifies with it",
	"x5c header":          "by design: ignored; go-jose parses the certificates (no chain checked) and refuses these, though it never verifies with them",
}

// weAcceptItRefuses classifies a token we accept and go-jose refuses, by
// what go-jose said and what the token holds (checked here, token by
// token): "" when no explanation holds, and the test fails.
func weAcceptItRefuses(tok, theirs string) string {
	parts := strings.Split(tok, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var header map[string]json.RawMessage
	_ = json.Unmarshal(h, &header)
	switch {
	case strings.Contains(theirs, "failed to unmarshal JWK") && header["jwk"] != nil:
		return "embedded jwk header"
	case strings.Contains(theirs, "x5c") && header["x5c"] != nil:
		return "x5c header"
	}
	return ""
}

// TestDifferential verifies the same generated tokens — valid ones and
// mutated or hostile ones (hostileKit.mutate), across RS256, PS256, ES256
// and EdDSA — with our fixed-key verifier and with go-jose. Property:
// whenever we accept a token, go-jose accepts its signature with the same
// trusted key and its registered claims under the same rules. Every
// disagreement is counted by class and logged; "we accept, it refuses"
// fails the test, and so does a "we refuse, it accepts" class without an
// explanation in weRefuseItAccepts.
//
// DIFFERENTIAL_TOKENS sets how many mutated tokens (default 100,000; a
// tenth as many valid ones are compared too); DIFFERENTIAL_SEED the seed.
func TestDifferential(t *testing.T) {
	n := envInt(t, "DIFFERENTIAL_TOKENS", 100_000)
	seed := envInt(t, "DIFFERENTIAL_SEED", 1)
	kit := newHostileKit(t)
	v := kit.fixedVerifier(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 13))

	// A pool of valid tokens for each algorithm (RSA keys with and without
	// a JWK alg), with claim variations that keep them valid.
	keys := map[string][]*jwtverifytest.Key{
		"RS256": {kit.trusted[0], kit.trusted[2]}, "PS256": {kit.trusted[1], kit.trusted[2]},
		"ES256": {kit.trusted[3]}, "EdDSA": {kit.trusted[4]},
	}
	pool := map[string][]string{}
	for _, alg := range kitAlgorithms {
		for i := range 16 {
			key := keys[alg][i%len(keys[alg])]
			c := kitClaims(kitIssuer, fmt.Sprintf("auth0|user-%d", i))
			if i%2 == 1 {
				c["aud"] = kitAudience
			}
			if i%3 == 1 {
				c["nbf"] = kitNow.Add(-10 * 60 * 1e9).Unix()
			}
			h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": key.KID}
			if i%4 == 3 {
				delete(h, "kid")
				delete(h, "typ")
			}
			tok, err := kit.sign(key, alg, mustMarshal(h), mustMarshal(c))
			if err != nil {
				t.Fatal(err)
			}
			pool[alg] = append(pool[alg], tok)
		}
	}
	others := slices.Concat(pool["RS256"][:4], pool["EdDSA"][:4])

	counts := map[string]int{}
	examples := map[string][]string{}
	note := func(class, tok string) {
		counts[class]++
		if len(examples[class]) < 3 {
			examples[class] = append(examples[class], tok)
		}
	}
	valid, mutated := 0, 0
	total := n + n/10
	for i := range total {
		alg := kitAlgorithms[i%len(kitAlgorithms)]
		tok := pool[alg][rng.IntN(len(pool[alg]))]
		if i%11 == 10 {
			valid++
		} else {
			mutated++
			ops := make([]byte, 2*(1+rng.IntN(maxMutations-1)))
			for j := range ops {
				ops[j] = byte(rng.IntN(256))
			}
			if rng.IntN(2) == 0 { // sign the result again: edited claims and headers get a valid signature
				ops[len(ops)-2] = 20
			}
			tok = kit.mutate(tok, others, ops)
		}

		_, err := v.Verify(context.Background(), tok)
		if err != nil {
			if e := checkRefusal(err, tok); e != nil {
				t.Fatalf("%q: %v", tok, e)
			}
		}
		theirs, signer := joseVerdict(kit, tok)
		var te *domain.TokenError
		switch {
		case err == nil && theirs == "ok":
			note("both accept", tok)
			if s := kit.signedBy(tok); !slices.Contains(s, signer) {
				t.Errorf("go-jose verified %q with %s, which did not sign it", tok, signer.KID)
			}
		case err == nil:
			if why := weAcceptItRefuses(tok, theirs); why != "" {
				note("we accept, it refuses: "+why, tok)
			} else {
				note("WE ACCEPT, IT REFUSES: "+theirs, tok)
			}
		case theirs == "ok" && errors.As(err, &te):
			note("it accepts, we refuse: "+string(te.Reason), tok)
		case theirs == "ok":
			note("it accepts, we refuse: "+err.Error(), tok)
		default:
			note("both refuse", tok)
		}
	}

	classes := make([]string, 0, len(counts))
	for c := range counts {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	t.Logf("compared %d tokens (%d valid, %d mutated or hostile), seed %d:", total, valid, mutated, seed)
	for _, c := range classes {
		why := ""
		if r, ok := strings.CutPrefix(c, "it accepts, we refuse: "); ok {
			why = " — " + cmp.Or(weRefuseItAccepts[domain.Reason(r)], "UNEXPLAINED")
		}
		if r, ok := strings.CutPrefix(c, "we accept, it refuses: "); ok {
			why = " — " + weAcceptItRefusesWhy[r]
		}
		t.Logf("  %-46s %7d%s", c, counts[c], why)
	}
	for _, c := range classes {
		if strings.HasPrefix(c, "WE ACCEPT") {
			t.Errorf("%d tokens we accept and go-jose refuses (%s), e.g. %q", counts[c], c, examples[c])
		}
		if os.Getenv("DIFFERENTIAL_EXAMPLES") != "" {
			t.Logf("%s: %q", c, examples[c])
		}
		if r, ok := strings.CutPrefix(c, "it accepts, we refuse: "); ok && weRefuseItAccepts[domain.Reason(r)] == "" {
			t.Errorf("unexplained: %d tokens go-jose accepts and we refuse (%s), e.g. %q", counts[c], c, examples[c])
		}
	}
	if counts["both accept"] < valid {
		t.Errorf("only %d tokens accepted by both, fewer than the %d valid ones", counts["both accept"], valid)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a whole number", name, v)
	}
	return n
}
