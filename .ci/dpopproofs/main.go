// Command dpopproofs prints DPoP proofs made with the development DPoP key
// (the one `api token -dpop` binds tokens to), one per line, each with its
// own jti: for load tests, where every request needs a fresh proof and wrk
// cannot sign. With -key, the proofs are signed RS256 with that RSA key
// instead, of any size (an attacker's, for floods). Not part of the API.
//
//	go run ./.ci/dpopproofs -dev-dir DIR -url http://127.0.0.1:18280/api/private -token "$T" -n 100000 >proofs.txt
//	go run ./.ci/dpopproofs -key adapters/dpop/testdata/rsa8192.pem -url ... -token "$T" -n 1 >flood.txt
package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
)

// proofer makes one proof.
type proofer func(method, url, token string, now time.Time) (string, error)

func main() {
	dir := flag.String("dev-dir", "", "the development issuer's directory (holds dpop-key.pem)")
	keyFile := flag.String("key", "", "sign RS256 with this RSA private key (PKCS #8 PEM) instead of the development key")
	url := flag.String("url", "", "the URL the requests go to")
	method := flag.String("method", "GET", "their method")
	token := flag.String("token", "", "the access token they carry")
	n := flag.Int("n", 1000, "how many proofs")
	flag.Parse()
	if (*dir == "") == (*keyFile == "") || *url == "" || *token == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "dpopproofs: -dev-dir or -key, -url, -token and -n are required")
		os.Exit(2)
	}
	var newProof proofer
	if *keyFile != "" {
		newProof = rsaProofer(*keyFile)
	} else {
		priv, err := devissuer.OpenDPoPKey(*dir)
		if err != nil {
			fail(err)
		}
		key, err := dpop.NewSigner(priv, "ES256")
		if err != nil {
			fail(err)
		}
		newProof = func(method, url, token string, now time.Time) (string, error) {
			return key.Proof(method, url, token, "", now)
		}
	}
	proofs := make([]string, *n)
	now := time.Now()
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(proofs); i += workers {
				p, err := newProof(*method, *url, *token, now)
				if err != nil {
					fail(err)
				}
				proofs[i] = p
			}
		})
	}
	wg.Wait()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for _, p := range proofs {
		out.WriteString(p)
		out.WriteByte('\n')
	}
	if err := out.Flush(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dpopproofs:", err)
	os.Exit(1)
}

// rsaProofer signs RS256 proofs with the RSA key in file, whatever its
// size: dpop.Signer refuses keys the API refuses.
func rsaProofer(file string) proofer {
	b, err := os.ReadFile(file)
	if err != nil {
		fail(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		fail(fmt.Errorf("%s: no PEM block", file))
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		fail(err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		fail(fmt.Errorf("%s: not an RSA key", file))
	}
	jwk, err := dpop.PublicJWK(key.Public())
	if err != nil {
		fail(err)
	}
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk})
	header := base64.RawURLEncoding.EncodeToString(h)
	return func(method, url, token string, now time.Time) (string, error) {
		if i := strings.IndexAny(url, "?#"); i >= 0 {
			url = url[:i]
		}
		jti := make([]byte, 16)
		if _, err := rand.Read(jti); err != nil {
			return "", err
		}
		c, _ := json.Marshal(map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": url,
			"iat": now.Unix(), "ath": dpop.AccessTokenHash(token)})
		input := header + "." + base64.RawURLEncoding.EncodeToString(c)
		sig, err := jwt.SigningMethodRS256.Sign(input, key)
		if err != nil {
			return "", err
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
	}
}
