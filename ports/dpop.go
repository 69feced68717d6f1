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
	// syntax, type, algorithm, key, the token's key binding, claims, time
	// window, access token hash, nonce, and last the signature) and
	// records its jti so that it is refused if it comes again.
	//
	// Errors: a *domain.ProofError, whose Code() is the answer to give
	// (invalid_request, invalid_dpop_proof, use_dpop_nonce, invalid_token)
	// and which wraps domain.ErrInvalidRequest or domain.ErrInvalidToken;
	// too_many_proofs (wrapping domain.ErrQuotaExceeded, with RetryAfter)
	// when the proof's key or token already has its share of the replay
	// cache; or, when the replay store cannot answer or has restarted, a
	// *domain.ProofError with code temporarily_unavailable wrapping
	// domain.ErrUnavailable: the request is then refused (503), never let
	// through unchecked.
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
// yet: the tokens issued are bound to the proof's key. The check is in two
// steps, so that the costly one (the signature) and the one that takes
// room (recording the jti) come only after the server has authenticated
// the client and found its grant valid.
//
// Implementation: adapters/dpop; the development issuer uses it.
type TokenRequestProofs interface {
	// CheckTokenRequestProof checks req's one proof as VerifyProof does,
	// except its signature and its jti, and without an access token
	// ("ath" and a binding are not checked; req.AccessToken and req.JKT
	// are ignored). Errors as VerifyProof's.
	CheckTokenRequestProof(req ProofRequest) (TokenRequestProof, error)

	// Nonce and Algorithms are ProofVerifier's.
	Nonce() string
	Algorithms() []string
}

// TokenRequestProof is a proof that passed TokenRequestProofs'
// CheckTokenRequestProof.
type TokenRequestProof interface {
	// JKT is the RFC 7638 thumbprint of the proof's key: the cnf.jkt of
	// the tokens to issue. Until Accept returns nil it is only what the
	// proof claims.
	JKT() string
	// Accept verifies the proof's signature and records its jti. Call it
	// once the client is authenticated and its grant valid, before
	// issuing anything. Errors as VerifyProof's.
	Accept(ctx context.Context) error
}
