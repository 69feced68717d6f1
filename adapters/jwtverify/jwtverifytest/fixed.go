package jwtverifytest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/binary"
	"math/big"
	"sync"
	"testing"
)

// FixedKey returns a signing key for alg (RS256, PS256, ES256, ES384,
// ES512, EdDSA or Ed25519) made from fixed bytes named seed, so that it is
// the same in every process: the fuzzing engine runs a fuzz function in
// several processes, which must all trust and sign with the same keys.
// RSA keys are 2048 bits. These keys are for tests only: anyone can make
// them.
func FixedKey(t testing.TB, kid, alg, seed string) *Key {
	t.Helper()
	k := &Key{KID: kid, Alg: alg, JWKAlg: alg, Use: "sig"}
	d := sha512.Sum512([]byte("spaapi fixed test key " + alg + " " + seed))
	var err error
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k.Private, err = fixedRSA(seed)
	case "ES256":
		k.Private, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:32])
	case "ES384":
		k.Private, err = ecdsa.ParseRawPrivateKey(elliptic.P384(), d[:48])
	case "ES512":
		var b [66]byte // a scalar below the P-521 order: the top byte 0 or 1
		copy(b[2:], d[:64])
		b[1] = 1
		k.Private, err = ecdsa.ParseRawPrivateKey(elliptic.P521(), b[:])
	case "EdDSA", "Ed25519":
		k.Private = ed25519.NewKeyFromSeed(d[:32])
	default:
		t.Fatalf("FixedKey: no fixed key for %q", alg)
	}
	if err != nil {
		t.Fatalf("FixedKey %s %s: %v", alg, seed, err)
	}
	return k
}

var (
	fixedRSAMu sync.Mutex
	fixedRSAs  = map[string]*rsa.PrivateKey{}
)

// fixedRSA derives a 2048-bit RSA key from seed: each prime is the first
// prime at or after a 1024-bit number drawn from SHA-512 of the seed
// (top two bits set, so the product has 2048 bits). rsa.GenerateKey cannot
// be made to repeat itself (since Go 1.26 it ignores its reader).
func fixedRSA(seed string) (*rsa.PrivateKey, error) {
	fixedRSAMu.Lock()
	defer fixedRSAMu.Unlock()
	if k, ok := fixedRSAs[seed]; ok {
		return k, nil
	}
	e := big.NewInt(65537)
	one := big.NewInt(1)
	prime := func(label string) *big.Int {
		var b []byte
		for i := uint32(0); len(b) < 128; i++ {
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], i)
			sum := sha512.Sum512(append([]byte("spaapi fixed RSA "+label+" "+seed), n[:]...))
			b = append(b, sum[:]...)
		}
		b[0] |= 0xc0
		b[127] |= 1
		p := new(big.Int).SetBytes(b[:128])
		two := big.NewInt(2)
		for {
			// p-1 must be prime to e for d to exist.
			if p.ProbablyPrime(32) && new(big.Int).GCD(nil, nil, e, new(big.Int).Sub(p, one)).Cmp(one) == 0 {
				return p
			}
			p.Add(p, two)
		}
	}
	p, q := prime("p"), prime("q")
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537},
		D:         new(big.Int).ModInverse(e, phi),
		Primes:    []*big.Int{p, q},
	}
	if err := k.Validate(); err != nil {
		return nil, err
	}
	k.Precompute()
	fixedRSAs[seed] = k
	return k, nil
}
