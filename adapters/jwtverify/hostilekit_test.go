package jwtverify_test

// The kit FuzzVerify and the differential test share: fixed trusted keys,
// tokens signed with them (and the record of every signing input signed),
// structured mutations of tokens, and an oracle that says, independently
// of the verifier, whether an accepted token meets the rules.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/jwtverify/jwtverifytest"
	"github.com/example/spaapi/domain"
)

// The kit's issuers, audience, clock and leeway.
const (
	kitIssuer   = "https://a.example/"
	kitIssuerB  = "https://b.example/"
	kitAudience = "https://api.example.test"
	kitLeeway   = 5 * time.Second
)

// kitNow is the kit's fixed clock: every process must agree on what is
// expired.
var kitNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// kitAlgorithms are the algorithms the kit's verifiers allow.
var kitAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// hostileKit holds the trusted keys (of issuer A and of issuer B), an
// attacker's keys, and the signing inputs the trusted keys signed.
type hostileKit struct {
	t        testing.TB
	trusted  []*jwtverifytest.Key // issuer A's
	trustedB []*jwtverifytest.Key // issuer B's
	attacker map[string]*jwtverifytest.Key
	byKID    map[string]*jwtverifytest.Key // every trusted key

	mu     sync.Mutex
	signed map[string][]string // signing input -> kids of the trusted keys that signed it
}

func newHostileKit(t testing.TB) *hostileKit {
	t.Helper()
	k := &hostileKit{t: t, byKID: map[string]*jwtverifytest.Key{}, attacker: map[string]*jwtverifytest.Key{}, signed: map[string][]string{}}
	rsaNoAlg := jwtverifytest.FixedKey(t, "rsa-no-alg", "RS256", "rsa-3")
	rsaNoAlg.JWKAlg = ""
	k.trusted = []*jwtverifytest.Key{
		jwtverifytest.FixedKey(t, "rsa-1", "RS256", "rsa-1"),
		jwtverifytest.FixedKey(t, "rsa-ps", "PS256", "rsa-2"),
		rsaNoAlg,
		jwtverifytest.FixedKey(t, "ec-1", "ES256", "ec-1"),
		jwtverifytest.FixedKey(t, "ed-1", "EdDSA", "ed-1"),
	}
	k.trustedB = []*jwtverifytest.Key{jwtverifytest.FixedKey(t, "ec-b", "ES256", "ec-b")}
	for _, key := range append(slices.Clone(k.trusted), k.trustedB...) {
		k.byKID[key.KID] = key
	}
	for _, alg := range kitAlgorithms {
		// The attacker reuses the trusted kids.
		kid := map[string]string{"RS256": "rsa-1", "PS256": "rsa-ps", "ES256": "ec-1", "EdDSA": "ed-1"}[alg]
		k.attacker[alg] = jwtverifytest.FixedKey(t, kid, alg, "attacker")
	}
	return k
}

// jwks returns the public JWKs of keys.
func (k *hostileKit) jwks(keys []*jwtverifytest.Key) []jwkset.JWK {
	var out []jwkset.JWK
	for _, key := range keys {
		raw := key.JWK(k.t)
		var m jwkset.JWKMarshal
		if err := json.Unmarshal(raw, &m); err != nil {
			k.t.Fatal(err)
		}
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			k.t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// fixedVerifier is a verifier of issuer A with the trusted keys given as
// data (the static-key path), with the token cache on.
func (k *hostileKit) fixedVerifier(t testing.TB) *jwtverify.Verifier {
	t.Helper()
	v, cleanup, err := jwtverify.New(context.Background(),
		jwtverify.Options{Algorithms: kitAlgorithms, ClockTolerance: kitLeeway, CacheSize: 1000, Now: func() time.Time { return kitNow }},
		[]jwtverify.Issuer{{Name: kitIssuer, Keys: k.jwks(k.trusted), Audiences: []string{kitAudience}, Claims: claims}},
		quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return v
}

// remoteVerifier is a verifier of issuers A and B, each with its own JWKS
// served from a loopback server: the fetching path, and issuer-bound keys.
func (k *hostileKit) remoteVerifier(t testing.TB) *jwtverify.Verifier {
	t.Helper()
	a, b := jwtverifytest.NewIssuer(t), jwtverifytest.NewIssuer(t)
	a.Publish(k.trusted...)
	b.Publish(k.trustedB...)
	v, cleanup, err := jwtverify.New(context.Background(),
		jwtverify.Options{Algorithms: kitAlgorithms, ClockTolerance: kitLeeway, CacheSize: 1000, Now: func() time.Time { return kitNow },
			UnknownKeyCooldown: time.Minute},
		[]jwtverify.Issuer{
			{Name: kitIssuer, JWKSURI: a.JWKSURL(), Audiences: []string{kitAudience}, Claims: claims},
			{Name: kitIssuerB, JWKSURI: b.JWKSURL(), Audiences: []string{kitAudience}, Claims: claims},
		},
		quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	jwtverifytest.WaitReady(t, v)
	return v
}

// kitClaims are the claims of a valid token of iss for sub.
func kitClaims(iss, sub string) map[string]any {
	return map[string]any{
		"iss": iss, "aud": []string{kitAudience, iss + "userinfo"}, "sub": sub,
		"iat": kitNow.Add(-time.Minute).Unix(), "exp": kitNow.Add(time.Hour).Unix(),
		"azp": "client", "scope": "openid read:messages",
	}
}

// keyFor returns the trusted key that signs alg, preferring kid.
func (k *hostileKit) keyFor(alg, kid string) *jwtverifytest.Key {
	if key, ok := k.byKID[kid]; ok {
		return key
	}
	switch alg {
	case "PS256":
		return k.trusted[1]
	case "ES256":
		return k.trusted[3]
	case "EdDSA", "Ed25519":
		return k.trusted[4]
	}
	return k.trusted[0]
}

// sign signs header.payload (as JSON values) with key under alg; a
// trusted key's signature is recorded.
func (k *hostileKit) sign(key *jwtverifytest.Key, alg string, header, payload []byte) (string, error) {
	input := b64url(header) + "." + b64url(payload)
	return k.signInput(key, alg, input)
}

func (k *hostileKit) signInput(key *jwtverifytest.Key, alg, input string) (string, error) {
	m := jwt.GetSigningMethod(alg)
	if m == nil {
		return "", fmt.Errorf("no signing method %q", alg)
	}
	sig, err := m.Sign(input, key.Private)
	if err != nil {
		return "", err
	}
	if k.byKID[key.KID] == key {
		k.mu.Lock()
		if !slices.Contains(k.signed[input], key.KID) {
			k.signed[input] = append(k.signed[input], key.KID)
		}
		k.mu.Unlock()
	}
	return input + "." + b64url(sig), nil
}

// token returns a valid token signed by key, with the default header for it.
func (k *hostileKit) token(key *jwtverifytest.Key, c map[string]any) string {
	h := map[string]any{"alg": key.Alg, "typ": "at+jwt", "kid": key.KID}
	tok, err := k.sign(key, key.Alg, mustMarshal(h), mustMarshal(c))
	if err != nil {
		k.t.Fatal(err)
	}
	return tok
}

// signedBy returns the trusted keys that signed tok's signing input.
func (k *hostileKit) signedBy(tok string) []*jwtverifytest.Key {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var keys []*jwtverifytest.Key
	for _, kid := range k.signed[tok[:i]] {
		keys = append(keys, k.byKID[kid])
	}
	return keys
}

// checkAccepted checks a token v accepted for iss: a trusted key of that
// issuer signed its signing input, and it meets the rules (meetsRules).
func (k *hostileKit) checkAccepted(tok, iss string) error {
	signers := k.signedBy(tok)
	if len(signers) == 0 {
		return errors.New("no trusted key signed its signing input")
	}
	keys := k.trusted
	if iss == kitIssuerB {
		keys = k.trustedB
	}
	var errs []error
	for _, s := range signers {
		if !slices.Contains(keys, s) {
			errs = append(errs, fmt.Errorf("signed by %s, a key of another issuer than %s", s.KID, iss))
			continue
		}
		err := meetsRules(tok, iss, s)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("signed by %s: %w", s.KID, err))
	}
	return errors.Join(errs...)
}

// deterministic returns the seeds whose signatures are the same in every
// process (RS256 and EdDSA; PS256 and ES256 signatures are randomized),
// for splices.
func deterministic(toks []string) []string {
	var out []string
	for _, tok := range toks {
		h, _, _ := strings.Cut(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(h)
		if strings.Contains(string(raw), `"alg":"RS256"`) || strings.Contains(string(raw), `"alg":"EdDSA"`) {
			out = append(out, tok)
		}
	}
	return out
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// seedTokens returns valid tokens of both issuers for every algorithm, and
// hostile ones from the hand-written tests (TestHostileTokens, TestAlgorithms).
func (k *hostileKit) seedTokens() []string {
	var toks []string
	for _, key := range k.trusted {
		toks = append(toks, k.token(key, kitClaims(kitIssuer, "auth0|alice")))
	}
	toks = append(toks, k.token(k.trustedB[0], kitClaims(kitIssuerB, "auth0|bob")))
	good := toks[0]
	c := string(mustMarshal(kitClaims(kitIssuer, "x")))
	pemKey := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(k.trusted[0].Public())
		if err != nil {
			k.t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	toks = append(toks,
		"", "invalidToken", "invalidToken abc", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", strings.Repeat(".", 100),
		good+"==", good+".abc", good[:strings.LastIndexByte(good, '.')+1], strings.Replace(good, "e", "+", 1),
		b64url([]byte(`{"alg":"none","typ":"JWT"}`))+"."+b64url([]byte(c))+".",
		b64url([]byte(`{"alg":"none","kid":"rsa-1"}`))+"."+b64url([]byte(c))+".c2ln",
		jwtverifytest.HMACToken(k.t, pemKey, `{"alg":"HS256","typ":"JWT","kid":"rsa-1"}`, c),
	)
	for _, h := range []string{
		`{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}`, `{"alg":"RS256","kid":"rsa-1","typ":"dpop+jwt"}`,
		`{"alg":"RS256","kid":"rsa-1","typ":1}`, `{"alg":"RS256","kid":1}`, `{"ALG":"RS256","kid":"rsa-1"}`,
		`{"alg":"RS256","kid":"rsa-1","jku":"http://127.0.0.1:1/jwks.json"}`, `["RS256"]`,
		`{"alg":"RS256","kid":"rsa-1","alg":"HS256"}`, `{"alg":"RS256","kid":"no-such-key"}`,
	} {
		tok, err := k.sign(k.trusted[0], "RS256", []byte(h), []byte(c))
		if err != nil {
			k.t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	for _, p := range []string{`{"exp":1e400}`, `null`, `[1,2]`, c + ` x`, `{"EXP":9999999999,"iss":"` + kitIssuer + `","aud":"` + kitAudience + `"}`} {
		tok, err := k.sign(k.trusted[0], "RS256", []byte(`{"alg":"RS256","kid":"rsa-1"}`), []byte(p))
		if err != nil {
			k.t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	for _, alg := range kitAlgorithms {
		a := k.attacker[alg]
		tok, err := k.sign(a, alg, mustMarshal(map[string]any{"alg": alg, "kid": a.KID}), []byte(c))
		if err != nil {
			k.t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	return toks
}

// Mutations. mutate applies ops, read two bytes at a time (what, where),
// to tok: bit flips in the text or in a decoded part, re-encodings (padding,
// the standard alphabet), extra dots, truncation, unicode, JSON edits of
// the header or claims (with or without signing again, by a trusted key or
// the attacker's), splices of parts of other tokens, and signature
// malleations. The result is a string of any shape.
func (k *hostileKit) mutate(tok string, others []string, ops []byte) string {
	ops = ops[:min(len(ops), 2*maxMutations)]
	for len(ops) >= 2 {
		what, where := ops[0], ops[1]
		ops = ops[2:]
		tok = k.mutateOnce(tok, others, what, where)
		if len(tok) > 64<<10 {
			break
		}
	}
	return tok
}

// maxMutations bounds the mutations of one token, so that one input costs
// at most a few signatures.
const maxMutations = 8

// pick returns the element of list that b selects.
func pick[T any](list []T, b byte) T { return list[int(b)%len(list)] }

var (
	unicodeBits = []string{"é", "\u2028", "Ａ", "\x00", "\xff", "İ", "ſ", "K", "\u200b", "\ufeff", " ", "\t", "\n", "%2E", "\\"}
	appendBits  = []string{"=", "==", ".", ".x", " ", "\n", "..", "\x00", "A", "."}
	algValues   = []any{"RS256", "PS256", "ES256", "EdDSA", "Ed25519", "RS384", "rs256", "none", "None", "HS256", "ES256K", "", 256, nil, "RS256 ", "ES384", "PS512", "ＲS256"}
	typValues   = []any{nil, "at+jwt", "JWT", "application/at+jwt", "AT+JWT", "dpop+jwt", "", 1, "jwt\x00", "ａt+jwt", "application/jwt", "JOSE", []string{"JWT"}, "at+jwt "}
	kidValues   = []any{nil, "rsa-1", "rsa-ps", "rsa-no-alg", "ec-1", "ed-1", "ec-b", "", 1, "../rsa-1", "RSA-1", "rsa-1\x00", []string{"rsa-1"}, "no-such-key"}
	extraHeader = []map[string]any{
		{"crit": []string{}}, {"crit": []string{"b64"}, "b64": false}, {"crit": "exp"}, {"b64": false},
		{"jku": "http://127.0.0.1:1/jwks.json"}, {"x5u": "http://127.0.0.1:1/c.pem"}, {"x5c": []string{"MIIB"}},
		{"zip": "DEF"}, {"enc": "A128GCM"}, {"cty": "JWT"}, {"jwk": map[string]any{"kty": "oct", "k": "AAAA"}},
	}
	issValues = []any{kitIssuer, kitIssuerB, nil, "https://A.example/", 1, []string{kitIssuer}, "https://a.example", kitIssuer + "\x00", "", "https://evil.example/"}
	audValues = []any{kitAudience, []string{kitAudience}, []string{"a", kitAudience}, nil, []string{}, 1, []any{kitAudience, 1}, "https://other.example", kitAudience + "/", strings.ToUpper(kitAudience), []any{}}
	timeNames = []string{"exp", "nbf", "iat"}
)

func timeValues() []any {
	n := kitNow.Unix()
	return []any{n + 3600, n - 3600, nil, "9999999999", n - 3, n + 3, n + 6, n - 6, float64(n) + 0.5, 0, -1, 1e300, true, json.Number("1e400"),
		json.Number("253402300800"), json.Number("-0"), []int64{n + 3600}, json.Number("9223372036854775808")}
}

var otherClaims = []struct {
	name  string
	value any
}{
	{"sub", 42}, {"sub", ""}, {"sub", nil}, {"sub", "auth0|admin"}, {"scope", []string{"read:messages"}}, {"scope", "admin"},
	{"permissions", "read:messages"}, {"permissions", []any{"x", 1}}, {"azp", 1}, {"client_id", map[string]any{}},
	{"jti", 7}, {"EXP", 1}, {"Exp", 1}, {"ISS", kitIssuer}, {"iss\x00", kitIssuer}, {"ſub", "x"},
}

func (k *hostileKit) mutateOnce(tok string, others []string, what, where byte) string {
	parts := strings.Split(tok, ".")
	pos := func(n int) int { // a position in [0, n] from where
		if n == 0 {
			return 0
		}
		return int(where) * (n + 1) / 256
	}
	seg := int(where) % 3
	switch what % 24 {
	case 0: // flip a bit of the text
		if len(tok) == 0 {
			return tok
		}
		i := pos(len(tok) - 1)
		b := []byte(tok)
		b[i] ^= 1 << (where % 7)
		return string(b)
	case 1: // flip a bit of a decoded part, encode it again
		if seg >= len(parts) {
			return tok
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[seg])
		if err != nil || len(raw) == 0 {
			return tok
		}
		raw[int(where)*7%len(raw)] ^= 1 << (where % 8)
		parts[seg] = b64url(raw)
	case 2: // encode a part again with padding
		if raw, err := base64.RawURLEncoding.DecodeString(parts[seg%len(parts)]); err == nil {
			parts[seg%len(parts)] = base64.URLEncoding.EncodeToString(raw)
		}
	case 3: // encode a part again in the standard alphabet
		if raw, err := base64.RawURLEncoding.DecodeString(parts[seg%len(parts)]); err == nil {
			parts[seg%len(parts)] = base64.RawStdEncoding.EncodeToString(raw)
		}
	case 4: // insert a dot
		i := pos(len(tok))
		return tok[:i] + "." + tok[i:]
	case 5: // append something
		return tok + pick(appendBits, where)
	case 6: // insert unicode, a control character or an escape
		i := pos(len(tok))
		return tok[:i] + pick(unicodeBits, where) + tok[i:]
	case 7: // cut
		return tok[:pos(len(tok))]
	case 8:
		return k.editJSON(tok, 0, func(h map[string]any) { set(h, "alg", pick(algValues, where)) })
	case 9:
		return k.editJSON(tok, 0, func(h map[string]any) { set(h, "typ", pick(typValues, where)) })
	case 10:
		return k.editJSON(tok, 0, func(h map[string]any) { set(h, "kid", pick(kidValues, where)) })
	case 11:
		return k.editJSON(tok, 0, func(h map[string]any) {
			for name, v := range pick(extraHeader, where) {
				h[name] = v
			}
		})
	case 12:
		return k.editJSON(tok, 1, func(c map[string]any) { set(c, "iss", pick(issValues, where)) })
	case 13:
		return k.editJSON(tok, 1, func(c map[string]any) { set(c, "aud", pick(audValues, where)) })
	case 14:
		return k.editJSON(tok, 1, func(c map[string]any) {
			set(c, timeNames[int(where)%3], pick(timeValues(), where/3))
		})
	case 15:
		return k.editJSON(tok, 1, func(c map[string]any) { oc := pick(otherClaims, where); set(c, oc.name, oc.value) })
	case 16: // a duplicate member in the raw JSON, first or last
		return k.editRaw(tok, int(where)%2, func(raw string) string {
			dup := pick([]string{`"alg":"HS256"`, `"alg":"none"`, `"kid":"ec-1"`, `"typ":"dpop+jwt"`, `"iss":"https://evil.example/"`, `"exp":1`, `"aud":"x"`, `"crit":["x"]`}, where/2)
			if where&4 == 0 {
				return strings.Replace(raw, "{", "{"+dup+",", 1)
			}
			if i := strings.LastIndexByte(raw, '}'); i > 0 {
				return raw[:i] + "," + dup + raw[i:]
			}
			return raw
		})
	case 17: // member names: escaped, or in other case
		return k.editRaw(tok, int(where)%2, func(raw string) string {
			name := pick([]string{"alg", "kid", "typ", "iss", "aud", "exp", "nbf", "iat", "sub", "crit"}, where/2)
			repl := pick([]string{`\u0061` + name[1:], strings.ToUpper(name), name + `\u0000`, name + " "}, where/32)
			return strings.Replace(raw, `"`+name+`"`, `"`+repl+`"`, 1)
		})
	case 18: // whitespace, a BOM or trailing data around the JSON
		return k.editRaw(tok, int(where)%2, func(raw string) string {
			return pick([]string{" " + raw, raw + " ", "\ufeff" + raw, raw + "x", raw + "{}", "\n" + raw + "\n", raw + "\x00"}, where/2)
		})
	case 19: // splice a part of another token
		if len(others) == 0 || len(parts) != 3 {
			return tok
		}
		o := strings.Split(pick(others, where/3), ".")
		if len(o) == 3 {
			parts[seg] = o[seg]
		}
	case 20: // sign again with the trusted key for the header's alg and kid
		return k.resign(tok, false)
	case 21: // sign again with the attacker's key of the same kid
		return k.resign(tok, true)
	case 22: // "alg confusion": HS256 with the public key as the secret
		if len(parts) < 2 {
			return tok
		}
		der, _ := x509.MarshalPKIXPublicKey(k.keyFor("RS256", "").Public())
		secret := pick([][]byte{der, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), k.keyFor("RS256", "").Public().(*rsa.PublicKey).N.Bytes()}, where)
		input := parts[0] + "." + parts[1]
		sig, err := jwt.SigningMethodHS256.Sign(input, secret)
		if err != nil {
			return tok
		}
		return input + "." + b64url(sig)
	case 23: // malleate an ECDSA signature: s -> n-s, or r and s as DER
		if len(parts) != 3 {
			return tok
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			return tok
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if where%2 == 0 {
			s.Sub(elliptic.P256().Params().N, s)
			out := make([]byte, 64)
			r.FillBytes(out[:32])
			s.FillBytes(out[32:])
			parts[2] = b64url(out)
		} else {
			der, err := ecdsaDER(r, s)
			if err != nil {
				return tok
			}
			parts[2] = b64url(der)
		}
	}
	return strings.Join(parts, ".")
}

func ecdsaDER(r, s *big.Int) ([]byte, error) {
	// encoding/asn1 would do; this keeps the imports small.
	enc := func(n *big.Int) []byte {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	body := append(enc(r), enc(s)...)
	if len(body) > 127 {
		return nil, errors.New("too long")
	}
	return append([]byte{0x30, byte(len(body))}, body...), nil
}

// set sets name to v, or deletes it for nil.
func set(m map[string]any, name string, v any) {
	if v == nil {
		delete(m, name)
		return
	}
	m[name] = v
}

// editJSON decodes part i (0 header, 1 claims) of tok as a JSON object,
// edits it, and encodes it again; the signature is left as it was.
func (k *hostileKit) editJSON(tok string, i int, edit func(map[string]any)) string {
	return k.editRaw(tok, i, func(raw string) string {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if dec.Decode(&m) != nil || m == nil {
			return raw
		}
		edit(m)
		return string(mustMarshal(m))
	})
}

// editRaw edits the decoded text of part i of tok.
func (k *hostileKit) editRaw(tok string, i int, edit func(string) string) string {
	parts := strings.Split(tok, ".")
	if i >= len(parts) {
		return tok
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		return tok
	}
	parts[i] = b64url([]byte(edit(string(raw))))
	return strings.Join(parts, ".")
}

// resign signs tok's first two parts again: with the trusted key its
// header names (by kid, else by alg), or with the attacker's key for the
// alg. The header's alg picks the method when it names one this kit can
// sign with for that key; otherwise the key's own.
func (k *hostileKit) resign(tok string, attacker bool) string {
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return tok
	}
	var h map[string]any
	if raw, err := base64.RawURLEncoding.DecodeString(parts[0]); err == nil {
		_ = json.Unmarshal(raw, &h)
	}
	alg, _ := h["alg"].(string)
	kid, _ := h["kid"].(string)
	key := k.keyFor(alg, kid)
	if attacker {
		key = k.attacker[key.Alg]
	}
	method := alg
	if !methodFits(method, key) {
		method = key.Alg
	}
	out, err := k.signInput(key, method, parts[0]+"."+parts[1])
	if err != nil {
		return tok
	}
	return out
}

// methodFits reports whether golang-jwt can sign alg with key.
func methodFits(alg string, key *jwtverifytest.Key) bool {
	switch key.Private.(type) {
	case *rsa.PrivateKey:
		return slices.Contains([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, alg)
	case *ecdsa.PrivateKey:
		return alg == key.Alg
	default:
		return alg == "EdDSA" || alg == "Ed25519"
	}
}

// meetsRules is the oracle: for a token a verifier accepted on behalf of
// issuer iss, it checks, by its own decoding, every rule the README lists
// for the header and the registered claims, and returns what breaks one.
// Decoding is encoding/json's, with exact member names; a member named
// twice (as encoding/json decodes names) breaks the rules.
func meetsRules(tok, iss string, signer *jwtverifytest.Key) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%d parts", len(parts))
	}
	for _, p := range parts {
		if p == "" {
			return errors.New("an empty part")
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(p); err != nil {
			return fmt.Errorf("a part is not strict unpadded base64url: %v", err)
		}
	}
	var h, c map[string]json.RawMessage
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := strictObject(hb, &h); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if err := strictObject(cb, &c); err != nil {
		return fmt.Errorf("claims: %v", err)
	}
	var alg string
	if json.Unmarshal(h["alg"], &alg) != nil || !slices.Contains(kitAlgorithms, alg) {
		return fmt.Errorf("alg %s", h["alg"])
	}
	fits := map[string]string{"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}[alg]
	keyType := map[string]string{"RS256": "RSA", "PS256": "RSA", "ES256": "EC", "EdDSA": "OKP", "Ed25519": "OKP"}[signer.Alg]
	if fits != keyType {
		return fmt.Errorf("alg %s verified by a %s key", alg, keyType)
	}
	if signer.JWKAlg != "" && signer.JWKAlg != alg {
		return fmt.Errorf("alg %s verified by a key whose JWK alg is %s", alg, signer.JWKAlg)
	}
	if _, ok := h["crit"]; ok {
		return errors.New("crit present")
	}
	if b64, ok := h["b64"]; ok && string(b64) != "true" {
		return fmt.Errorf("b64 %s", b64)
	}
	if raw, ok := h["typ"]; ok {
		var typ string
		if json.Unmarshal(raw, &typ) != nil {
			return fmt.Errorf("typ %s", raw)
		}
		if t := strings.TrimPrefix(strings.ToLower(typ), "application/"); t != "at+jwt" && t != "jwt" {
			return fmt.Errorf("typ %q", typ)
		}
	}
	if raw, ok := h["kid"]; ok {
		var kid string
		if json.Unmarshal(raw, &kid) != nil {
			return fmt.Errorf("kid %s", raw)
		}
	}
	var gotIss string
	if json.Unmarshal(c["iss"], &gotIss) != nil || gotIss != iss {
		return fmt.Errorf("iss %s, want %q", c["iss"], iss)
	}
	var aud any
	if json.Unmarshal(c["aud"], &aud) != nil {
		return fmt.Errorf("aud %s", c["aud"])
	}
	switch a := aud.(type) {
	case string:
		if a != kitAudience {
			return fmt.Errorf("aud %q", a)
		}
	case []any:
		has := false
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("aud %s has a non-string", c["aud"])
			}
			has = has || s == kitAudience
		}
		if !has {
			return fmt.Errorf("aud %s lacks ours", c["aud"])
		}
	default:
		return fmt.Errorf("aud %s", c["aud"])
	}
	now := float64(kitNow.Unix())
	leeway := kitLeeway.Seconds()
	// NumericDates count in whole seconds (golang-jwt's precision): a
	// fraction is dropped before comparing.
	num := func(name string) (float64, bool, error) {
		raw, ok := c[name]
		if !ok {
			return 0, false, nil
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return 0, true, fmt.Errorf("%s %s is not a number", name, raw)
		}
		return math.Floor(f), true, nil
	}
	exp, ok, err := num("exp")
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("exp missing")
	case exp <= now-leeway: // golang-jwt: expired when now-leeway is not before exp
		return fmt.Errorf("exp %v is past", exp)
	}
	if nbf, ok, err := num("nbf"); err != nil {
		return err
	} else if ok && nbf > now+leeway {
		return fmt.Errorf("nbf %v is ahead", nbf)
	}
	if iat, ok, err := num("iat"); err != nil {
		return err
	} else if ok && iat > now+leeway {
		return fmt.Errorf("iat %v is ahead", iat)
	}
	for _, name := range []string{"sub", "scope", "client_id", "jti", "azp"} {
		if raw, ok := c[name]; ok {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return fmt.Errorf("%s %s is not a string", name, raw)
			}
			if name == "sub" && s == "" {
				return errors.New("sub is empty")
			}
		}
	}
	return nil
}

// strictObject decodes b as one JSON object with nothing after it, and
// no member named twice.
func strictObject(b []byte, v *map[string]json.RawMessage) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if *v == nil {
		return errors.New("null")
	}
	if name, ok := repeatedName(b); ok {
		return fmt.Errorf("%.40q named twice", name)
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("data after the object")
	}
	return nil
}

// repeatedName returns a name that two top-level members of the JSON
// object b have, as encoding/json decodes names, if any.
func repeatedName(b []byte) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		name, _ := tok.(string)
		if seen[name] {
			return name, true
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return "", false
		}
	}
	return "", false
}

// checkRefusal checks that err is what Verify may return: a
// *domain.TokenError wrapping domain.ErrInvalidToken with a known reason,
// whose text does not contain the token; or, for a remote verifier, an
// error wrapping domain.ErrUnavailable.
func checkRefusal(err error, tok string) error {
	var te *domain.TokenError
	switch {
	case errors.As(err, &te):
		if !errors.Is(err, domain.ErrInvalidToken) {
			return fmt.Errorf("a *TokenError that does not wrap ErrInvalidToken: %v", err)
		}
		if te.Reason.Description() == "invalid token" {
			return fmt.Errorf("unknown reason %q", te.Reason)
		}
	case errors.Is(err, domain.ErrUnavailable):
	default:
		return fmt.Errorf("error %v (%T) wraps no domain error", err, err)
	}
	if len(tok) > 20 && strings.Contains(err.Error(), tok) {
		return errors.New("the error text contains the token")
	}
	return nil
}
