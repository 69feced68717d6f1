package jwtverify

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/MicahParks/jwkset"
)

// LoadKeyFile reads verification keys from a file: a JWKS ({"keys": [...]}),
// one JWK, or PEM blocks (PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE). The
// same rules as for a remote JWKS apply: RSA keys of at least 2048 bits,
// EC and Ed25519 keys, for signatures, usable by one of algs. PEM keys have
// no kid and verify tokens whatever kid they name.
func LoadKeyFile(path string, algs []string) ([]jwkset.JWK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxDocumentBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxDocumentBytes)
	}
	var keys []jwkset.JWK
	var skipped []string
	add := func(raw json.RawMessage) {
		k, err := parseKey(raw, algs)
		if err != nil {
			skipped = append(skipped, err.Error())
			return
		}
		keys = append(keys, k)
	}
	trimmed := bytes.TrimSpace(b)
	switch {
	case bytes.HasPrefix(trimmed, []byte("{")):
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(trimmed, &set); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", path, err)
		}
		if set.Keys != nil {
			for _, raw := range set.Keys {
				add(raw)
			}
		} else {
			add(trimmed)
		}
	default:
		for rest := trimmed; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			pub, err := pemPublicKey(block)
			if err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{})
			if err != nil {
				skipped = append(skipped, err.Error())
				continue
			}
			raw, _ := json.Marshal(jwk.Marshal())
			add(raw)
		}
	}
	if len(keys) == 0 {
		if len(skipped) == 0 {
			return nil, fmt.Errorf("%s holds no JWKS, JWK or PEM public key", path)
		}
		return nil, fmt.Errorf("%s holds no usable key: %v", path, skipped)
	}
	return keys, nil
}

func pemPublicKey(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	}
	return nil, errors.New("PEM block " + block.Type + " is not a public key or certificate (private keys are refused)")
}
