package ports

import "context"

// ProofRequest is what a DPoP proof (RFC 9449) is checked against: the
// request that carried it, and the access token it came with.
type ProofRequest struct {
	// Method is the request's method, as sent ("GET").
	Method string
	// URL is the URL the client addressed: scheme, host, port and path,
	// without query or fragment, as rebuilt by the HTTP layer under its
	// public-URL or trusted-proxy policy (adapters/dpop.URLPolicy).
	URL string
	// Proofs are all the values of the request's DPoP header fields.
	Proofs []string
	// AccessToken is the token from "Authorization: DPoP <token>".
	AccessToken string
	// JKT is the verified access token's cnf.jkt claim, "" if it has none.
	JKT string
}

// ProofVerifier checks DPoP proofs.
//
// Implementation: adapters/dpop. (It needs no fake: it is in-process,
// deterministic with an injected clock, and cheap, so tests use it.)
type ProofVerifier interface {
	// VerifyProof checks req's one proof completely (RFC 9449 §4.3, §7.1:
	// syntax, type, algorithm, key, signature, claims, time window, access
	// token hash, nonce, the token's key binding) and records its jti so
	// that it is refused if it comes again.
	//
	// Errors: a *domain.ProofError, whose Code() is the answer to give
	// (invalid_request, invalid_dpop_proof, use_dpop_nonce, invalid_token)
	// and which wraps domain.ErrInvalidRequest or domain.ErrInvalidToken;
	// or, when the replay store cannot answer, a *domain.ProofError with
	// reason dpop_unavailable wrapping domain.ErrUnavailable: the request
	// is then refused (503), never let through unchecked.
	VerifyProof(ctx context.Context, req ProofRequest) error

	// Nonce returns the nonce clients must put in their proofs now (the
	// DPoP-Nonce header's value), or "" when nonces are off.
	Nonce() string

	// Algorithms lists the proof signing algorithms accepted, for the
	// "algs" parameter of the DPoP challenge.
	Algorithms() []string
}

// TokenRequestProofs checks the DPoP proofs clients send an authorization
// server's token endpoint (RFC 9449 §5), where there is no access token
// yet: the tokens issued are bound to the proof's key.
//
// Implementation: adapters/dpop; the development issuer uses it.
type TokenRequestProofs interface {
	// VerifyTokenRequestProof checks req's one proof as VerifyProof does,
	// but without an access token ("ath" and a binding are not checked;
	// req.AccessToken and req.JKT are ignored), records its jti, and
	// returns the RFC 7638 thumbprint of its key, for cnf.jkt. Errors as
	// VerifyProof's.
	VerifyTokenRequestProof(ctx context.Context, req ProofRequest) (jkt string, err error)

	// Nonce and Algorithms are ProofVerifier's.
	Nonce() string
	Algorithms() []string
}
