package domain_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/example/spaapi/domain"
)

func TestProofErrors(t *testing.T) {
	for _, tc := range []struct {
		reason   domain.ProofReason
		code     string
		sentinel error
	}{
		{domain.ProofMultiple, "invalid_request", domain.ErrInvalidRequest},
		{domain.ProofMissing, "invalid_dpop_proof", domain.ErrInvalidToken},
		{domain.ProofSignature, "invalid_dpop_proof", domain.ErrInvalidToken},
		{domain.ProofReplayed, "invalid_dpop_proof", domain.ErrInvalidToken},
		{domain.ProofNonceMissing, "use_dpop_nonce", domain.ErrInvalidToken},
		{domain.ProofNonceStale, "use_dpop_nonce", domain.ErrInvalidToken},
		{domain.ProofNonceInvalid, "use_dpop_nonce", domain.ErrInvalidToken},
		{domain.ProofNotBound, "invalid_token", domain.ErrInvalidToken},
		{domain.ProofKeyMismatch, "invalid_token", domain.ErrInvalidToken},
		{domain.ProofUnavailable, "temporarily_unavailable", domain.ErrUnavailable},
		{domain.ProofBearerBound, "invalid_token", domain.ErrInvalidToken},
		{domain.ProofRequired, "", domain.ErrUnauthenticated},
		{domain.ProofWeakKey, "invalid_dpop_proof", domain.ErrInvalidToken},
		{domain.ProofKeyTooLarge, "invalid_dpop_proof", domain.ErrInvalidToken},
		{domain.ProofStoreRestarted, "temporarily_unavailable", domain.ErrUnavailable},
		{domain.ProofKeyShare, "too_many_proofs", domain.ErrQuotaExceeded},
		{domain.ProofTokenShare, "too_many_proofs", domain.ErrQuotaExceeded},
		{domain.ProofReason("dpop_something_new"), "invalid_dpop_proof", domain.ErrInvalidToken},
	} {
		cause := errors.New("library detail")
		err := domain.InvalidProof(tc.reason, "jti", cause)
		var pe *domain.ProofError
		if !errors.As(err, &pe) || pe.Code() != tc.code {
			t.Errorf("%s: got code %q, want %q", tc.reason, pe.Code(), tc.code)
		}
		if !errors.Is(err, tc.sentinel) || !errors.Is(err, cause) {
			t.Errorf("%s: %v does not wrap %v and its cause", tc.reason, err, tc.sentinel)
		}
		for _, other := range []error{domain.ErrUnauthenticated, domain.ErrInvalidRequest, domain.ErrInvalidToken, domain.ErrUnavailable, domain.ErrQuotaExceeded} {
			if other != tc.sentinel && errors.Is(err, other) {
				t.Errorf("%s: also wraps %v", tc.reason, other)
			}
		}
		if d := pe.Describe(); strings.Contains(d, "library detail") || !strings.HasSuffix(d, ": jti") {
			t.Errorf("%s: description %q: want fixed text ending in \": jti\", without the cause", tc.reason, d)
		}
	}
}

// Every reason has its own description, and all are safe inside an RFC 6750
// quoted string (no '"' or '\\', printable ASCII), and metric labels never
// clash with token reasons (all begin with "dpop_").
func TestProofReasonDescriptions(t *testing.T) {
	seen := map[string]domain.ProofReason{}
	all := []domain.ProofReason{
		domain.ProofMultiple, domain.ProofMissing, domain.ProofTooLarge, domain.ProofMalformed, domain.ProofType,
		domain.ProofAlgorithm, domain.ProofCritical, domain.ProofKey, domain.ProofPrivateKey, domain.ProofWeakKey,
		domain.ProofSignature, domain.ProofMissingClaim, domain.ProofClaimType, domain.ProofMethod, domain.ProofURL,
		domain.ProofTooOld, domain.ProofFuture, domain.ProofAccessToken, domain.ProofReplayed, domain.ProofNonceMissing,
		domain.ProofNonceStale, domain.ProofNonceInvalid, domain.ProofNotBound, domain.ProofKeyMismatch, domain.ProofUnavailable,
		domain.ProofRequired, domain.ProofBearerBound, domain.ProofKeyTooLarge, domain.ProofStoreRestarted, domain.ProofKeyShare,
		domain.ProofTokenShare,
	}
	// ProofReasons (the metric's label values) lists exactly these.
	if got := domain.ProofReasons(); len(got) != len(all) || !slices.IsSorted(got) {
		t.Errorf("ProofReasons: got %d reasons %v, want the %d known ones, sorted", len(got), got, len(all))
	} else {
		for _, r := range all {
			if !slices.Contains(got, r) {
				t.Errorf("ProofReasons lacks %s", r)
			}
		}
	}
	for _, r := range all {
		d := r.Description()
		if prev, dup := seen[d]; dup || d == "invalid DPoP proof" {
			t.Errorf("%s: description %q not its own (also %s)", r, d, prev)
		}
		seen[d] = r
		if !strings.HasPrefix(string(r), "dpop_") {
			t.Errorf("%s: does not begin with dpop_", r)
		}
		for _, c := range d {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Errorf("%s: description %q has %q", r, d, c)
			}
		}
	}
}
