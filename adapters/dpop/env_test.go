package dpop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/example/spaapi/adapters/dpop"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	cfg, err := dpop.FromEnv(env(nil))
	if err != nil || cfg.IATOffset != 300*time.Second || cfg.IATLeeway != 30*time.Second || cfg.NonceSecret != nil ||
		strings.Join(cfg.Algorithms, " ") != strings.Join(dpop.DefaultAlgorithms, " ") {
		t.Fatalf("defaults: got %+v, %v", cfg, err)
	}
	secret := strings.Repeat("x", 32)
	cfg, err = dpop.FromEnv(env(map[string]string{
		"DPOP_SIGNING_ALGS": "ES256,EdDSA", "DPOP_IAT_OFFSET": "60", "DPOP_IAT_LEEWAY": "5s",
		"DPOP_NONCE": "on", "DPOP_NONCE_SECRET": secret, "DPOP_NONCE_WINDOW": "2m",
	}))
	if err != nil || cfg.IATOffset != time.Minute || cfg.IATLeeway != 5*time.Second || string(cfg.NonceSecret) != secret ||
		cfg.NonceWindow != 2*time.Minute || strings.Join(cfg.Algorithms, " ") != "ES256 EdDSA" {
		t.Fatalf("set: got %+v, %v", cfg, err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DPOP_SIGNING_ALGS": "ES256,HS256"}, `DPOP_SIGNING_ALGS: "HS256" is not allowed`},
		{map[string]string{"DPOP_SIGNING_ALGS": "none"}, `DPOP_SIGNING_ALGS: "none" is not allowed`},
		{map[string]string{"DPOP_IAT_OFFSET": "0"}, "DPOP_IAT_OFFSET"},
		{map[string]string{"DPOP_IAT_OFFSET": "5 minutes"}, "DPOP_IAT_OFFSET"},
		{map[string]string{"DPOP_IAT_LEEWAY": "-1"}, "DPOP_IAT_LEEWAY"},
		{map[string]string{"DPOP_IAT_LEEWAY": "1h"}, "DPOP_IAT_LEEWAY"},
		{map[string]string{"DPOP_NONCE": "yes"}, `DPOP_NONCE: "yes" is not one of "on", "off"`},
		{map[string]string{"DPOP_NONCE": "on"}, "DPOP_NONCE_SECRET: with DPOP_NONCE=on it must be at least 32 bytes (it has 0)"},
		{map[string]string{"DPOP_NONCE": "on", "DPOP_NONCE_SECRET": "short"}, "(it has 5)"},
		{map[string]string{"DPOP_NONCE_SECRET": secret}, "DPOP_NONCE is not on"},
	} {
		_, err := dpop.FromEnv(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%v: error %q contains the secret", tc.env, err)
		}
	}
}

func TestURLPolicyFromEnv(t *testing.T) {
	for _, e := range []map[string]string{
		{"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"},
		{"PUBLIC_URL": "https://api.example.com", "TRUSTED_PROXIES": "10.0.0.1"},
	} {
		if _, err := dpop.URLPolicyFromEnv(env(e)); err != nil {
			t.Errorf("%v: %v", e, err)
		}
	}
	for _, e := range []map[string]string{
		{"TRUSTED_PROXIES": "10.0.0.0/8,,127.0.0.1"},
		{"TRUSTED_PROXIES": "lb.internal"},
		{"PUBLIC_URL": "api.example.com"},
	} {
		if _, err := dpop.URLPolicyFromEnv(env(e)); err == nil {
			t.Errorf("%v: got no error", e)
		}
	}
}
