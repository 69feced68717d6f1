package httpapi_test

import (
	"testing"

	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

// newProofs returns the DPoP proof verifier cmd/api builds by default
// (adapters/dpop over the in-memory replay cache), with edit applied to its
// configuration, and its replay cache.
func newProofs(tb testing.TB, edit func(*dpop.Config)) (*dpop.Verifier, *memory.ReplayCache) {
	tb.Helper()
	cfg := dpop.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	replay := memory.NewReplayCache(memory.DefaultReplayCacheSize, ports.ReplayShares{}, cfg.Now)
	v, err := dpop.New(cfg, replay)
	if err != nil {
		tb.Fatal(err)
	}
	return v, replay
}

// dpopOffer is the DPoP challenge without an error, with the default
// algorithms: what a 401 carries beside the Bearer one in allowed mode.
const dpopOffer = `DPoP algs="ES256 ES384 PS256 RS256 EdDSA Ed25519"`
