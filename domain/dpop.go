package domain

import (
	"slices"
	"time"
)

// ProofReason says why a request with DPoP credentials (RFC 9449) was
// refused. Reasons are stable, machine-readable and safe to show to
// clients, log and count; all begin with "dpop_" so that they never clash
// with a token's Reason in a metric label.
type ProofReason string

// The reasons a DPoP request is refused, grouped by the error code
// (ProofReason.Code) the client is answered with.
const (
	// no error code (HTTP 401): the request has no credentials the API
	// accepts (RFC 6750 §3.1)

	ProofRequired ProofReason = "dpop_required" // DPOP_MODE=required and the Bearer scheme was used

	// invalid_request (HTTP 400)

	ProofMultiple ProofReason = "dpop_multiple_proofs" // more than one DPoP header

	// invalid_dpop_proof (HTTP 401)

	ProofMissing      ProofReason = "dpop_missing"         // no DPoP header, or an empty one
	ProofTooLarge     ProofReason = "dpop_too_large"       // longer than the size cap, refused unread
	ProofMalformed    ProofReason = "dpop_malformed"       // not a compact JWS with JSON objects in it
	ProofType         ProofReason = "dpop_type"            // "typ" is not exactly dpop+jwt
	ProofAlgorithm    ProofReason = "dpop_algorithm"       // "alg" missing or not allowed
	ProofCritical     ProofReason = "dpop_critical_header" // a "crit" header
	ProofKey          ProofReason = "dpop_bad_key"         // "jwk" missing, unusable, or not for "alg"
	ProofPrivateKey   ProofReason = "dpop_private_key"     // "jwk" holds private key members
	ProofWeakKey      ProofReason = "dpop_weak_key"        // an RSA key under 2048 bits
	ProofKeyTooLarge  ProofReason = "dpop_key_too_large"   // an RSA key over 4096 bits
	ProofSignature    ProofReason = "dpop_bad_signature"   // the signature does not verify with "jwk"
	ProofMissingClaim ProofReason = "dpop_missing_claim"   // jti, htm, htu, iat or ath absent
	ProofClaimType    ProofReason = "dpop_bad_claim"       // a claim of the wrong type, or jti too long
	ProofMethod       ProofReason = "dpop_wrong_method"    // "htm" is not the request's method
	ProofURL          ProofReason = "dpop_wrong_url"       // "htu" is not the request's URL
	ProofTooOld       ProofReason = "dpop_too_old"         // "iat" before the accepted window
	ProofFuture       ProofReason = "dpop_issued_in_future"
	ProofAccessToken  ProofReason = "dpop_wrong_ath" // "ath" is not the hash of the access token
	ProofReplayed     ProofReason = "dpop_replayed"  // this jti was already used with this key

	// use_dpop_nonce (HTTP 401, with a DPoP-Nonce header)

	ProofNonceMissing ProofReason = "dpop_nonce_missing" // nonces are on and the proof has none
	ProofNonceStale   ProofReason = "dpop_nonce_stale"   // a nonce of ours, but too old
	ProofNonceInvalid ProofReason = "dpop_nonce_invalid" // not a nonce this server made

	// invalid_token (HTTP 401): the access token does not fit the proof

	ProofNotBound    ProofReason = "dpop_not_bound"    // the token has no cnf.jkt
	ProofKeyMismatch ProofReason = "dpop_key_mismatch" // cnf.jkt is not the proof key's thumbprint
	// ProofBearerBound: a DPoP-bound token (cnf.jkt) sent with the Bearer
	// scheme, which would use it without a proof (RFC 9449 §7.2).
	ProofBearerBound ProofReason = "dpop_bound_token_as_bearer"

	// temporarily_unavailable (HTTP 503, Retry-After)

	ProofUnavailable ProofReason = "dpop_unavailable" // the replay store cannot answer
	// ProofStoreRestarted: the replay store lost the proofs it held (a
	// Redis restarted without persistence), and this proof could have been
	// used before that; a proof made a little later will do.
	ProofStoreRestarted ProofReason = "dpop_replay_store_restarted"

	// too_many_proofs (HTTP 429, Retry-After): the proof is good, but its
	// key or its access token already has its share of the replay cache.

	ProofKeyShare   ProofReason = "dpop_too_many_for_key"
	ProofTokenShare ProofReason = "dpop_too_many_for_token"
)

// The error codes of refused DPoP requests (RFC 9449 §7.1, §8; RFC 6750 §3.1).
const (
	ProofCodeNone           = "" // no credentials the API accepts: a challenge without an error code
	ProofCodeInvalidRequest = "invalid_request"
	ProofCodeInvalidProof   = "invalid_dpop_proof"
	ProofCodeUseNonce       = "use_dpop_nonce"
	ProofCodeInvalidToken   = "invalid_token"
	ProofCodeUnavailable    = "temporarily_unavailable"
	// ProofCodeTooMany is no OAuth error code: it names a 429 answer's
	// error, which carries no challenge (the credentials are good).
	ProofCodeTooMany = "too_many_proofs"
)

// proofReasons maps each reason to its error code and its fixed,
// client-safe description.
var proofReasons = map[ProofReason]struct{ code, description string }{
	ProofRequired:     {ProofCodeNone, "DPoP-bound access token required: send Authorization: DPoP <token> with a DPoP proof"},
	ProofMultiple:     {ProofCodeInvalidRequest, "more than one DPoP header"},
	ProofMissing:      {ProofCodeInvalidProof, "DPoP proof required"},
	ProofTooLarge:     {ProofCodeInvalidProof, "DPoP proof too large"},
	ProofMalformed:    {ProofCodeInvalidProof, "malformed DPoP proof"},
	ProofType:         {ProofCodeInvalidProof, "DPoP proof typ must be dpop+jwt"},
	ProofAlgorithm:    {ProofCodeInvalidProof, "DPoP proof signing algorithm not allowed"},
	ProofCritical:     {ProofCodeInvalidProof, "critical header parameter not supported"},
	ProofKey:          {ProofCodeInvalidProof, "DPoP proof jwk missing or unusable"},
	ProofPrivateKey:   {ProofCodeInvalidProof, "DPoP proof jwk must not contain a private key"},
	ProofWeakKey:      {ProofCodeInvalidProof, "DPoP proof RSA key under 2048 bits not accepted"},
	ProofKeyTooLarge:  {ProofCodeInvalidProof, "DPoP proof RSA key over 4096 bits not accepted"},
	ProofSignature:    {ProofCodeInvalidProof, "DPoP proof signature verification failed"},
	ProofMissingClaim: {ProofCodeInvalidProof, "DPoP proof claim missing"},
	ProofClaimType:    {ProofCodeInvalidProof, "DPoP proof claim has an invalid value"},
	ProofMethod:       {ProofCodeInvalidProof, "DPoP proof htm does not match the request method"},
	ProofURL:          {ProofCodeInvalidProof, "DPoP proof htu does not match the request URL"},
	ProofTooOld:       {ProofCodeInvalidProof, "DPoP proof iat too old"},
	ProofFuture:       {ProofCodeInvalidProof, "DPoP proof iat in the future"},
	ProofAccessToken:  {ProofCodeInvalidProof, "DPoP proof ath does not match the access token"},
	ProofReplayed:     {ProofCodeInvalidProof, "DPoP proof already used"},
	ProofNonceMissing: {ProofCodeUseNonce, "DPoP nonce required"},
	ProofNonceStale:   {ProofCodeUseNonce, "DPoP nonce expired"},
	ProofNonceInvalid: {ProofCodeUseNonce, "DPoP nonce not recognised"},
	ProofNotBound:     {ProofCodeInvalidToken, "access token is not bound to a DPoP key"},
	ProofKeyMismatch:  {ProofCodeInvalidToken, "access token is bound to another DPoP key"},
	ProofBearerBound:  {ProofCodeInvalidToken, "DPoP-bound access token sent with the Bearer scheme; use Authorization: DPoP with a DPoP proof"},
	ProofUnavailable:  {ProofCodeUnavailable, "DPoP replay check unavailable; retry shortly"},
	ProofStoreRestarted: {ProofCodeUnavailable, "the DPoP replay store restarted and cannot vouch for proofs made before; " +
		"retry with a fresh proof after Retry-After"},
	ProofKeyShare: {ProofCodeTooMany, "too many DPoP proofs with this key within the proof window; " +
		"retry with a fresh proof after Retry-After"},
	ProofTokenShare: {ProofCodeTooMany, "too many DPoP proofs with this access token within the proof window; " +
		"retry with a fresh proof after Retry-After"},
}

// ProofReasons returns every reason, sorted: the values a metric label of
// DPoP outcomes can take.
func ProofReasons() []ProofReason {
	out := make([]ProofReason, 0, len(proofReasons))
	for r := range proofReasons {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Code returns the OAuth error code r is answered with: ProofCodeInvalidProof
// for an unknown reason.
func (r ProofReason) Code() string {
	if d, ok := proofReasons[r]; ok {
		return d.code
	}
	return ProofCodeInvalidProof
}

// Description returns the fixed, client-safe text for r.
func (r ProofReason) Description() string {
	if d, ok := proofReasons[r]; ok {
		return d.description
	}
	return "invalid DPoP proof"
}

// ProofError is a refused DPoP request. It wraps, by its code:
// ErrUnauthenticated (no code: dpop_required); ErrInvalidRequest
// (invalid_request); ErrInvalidToken (invalid_dpop_proof, use_dpop_nonce,
// invalid_token: all answered 401); ErrUnavailable
// (temporarily_unavailable: answered 503); ErrQuotaExceeded
// (too_many_proofs: answered 429); and, for logs only, the cause.
type ProofError struct {
	Reason ProofReason
	// Param names the claim or header parameter concerned ("ath", "jwk"),
	// when there is one. It is fixed text, safe to show.
	Param string
	// RetryAfter, for too_many_proofs and temporarily_unavailable, is how
	// long the client should wait before trying again; 0 when unknown.
	RetryAfter time.Duration
	Cause      error // for logs; never shown to clients
}

// InvalidProof returns a *ProofError for reason about param, keeping cause
// for logs.
func InvalidProof(reason ProofReason, param string, cause error) error {
	return &ProofError{Reason: reason, Param: param, Cause: cause}
}

// Code is the OAuth error code of e (see ProofReason.Code).
func (e *ProofError) Code() string { return e.Reason.Code() }

// Describe returns the client-safe text of e: its reason's description,
// and the parameter concerned.
func (e *ProofError) Describe() string {
	if e.Param == "" {
		return e.Reason.Description()
	}
	return e.Reason.Description() + ": " + e.Param
}

func (e *ProofError) Error() string {
	if e.Cause == nil {
		return "dpop: " + e.Describe()
	}
	return "dpop: " + e.Describe() + ": " + e.Cause.Error()
}

// Unwrap lets errors.Is find the sentinel of e's code and the cause.
func (e *ProofError) Unwrap() []error {
	var sentinel error
	switch e.Code() {
	case ProofCodeNone:
		sentinel = ErrUnauthenticated
	case ProofCodeInvalidRequest:
		sentinel = ErrInvalidRequest
	case ProofCodeUnavailable:
		sentinel = ErrUnavailable
	case ProofCodeTooMany:
		sentinel = ErrQuotaExceeded
	default:
		sentinel = ErrInvalidToken
	}
	if e.Cause == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.Cause}
}
