// Package app holds the use cases the HTTP endpoints call. It depends on
// ports and domain only: no JWT, key-set or HTTP types.
package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

// signingKeys names, for clients, what a verifier waits for.
const signingKeys = "the token signing keys"

// Auth authenticates callers and authorizes what they do.
type Auth struct {
	verifier ports.TokenVerifier
	calling  ports.CallingVerifier // verifier, if it calls another service; else nil
	proofs   ports.ProofVerifier
	mode     DPoPMode
	limiter  ports.FailureLimiter // nil: no limit
}

// NewAuth returns an Auth that trusts tokens verifier accepts and, as mode
// says, DPoP-bound tokens with a proof proofs accepts. proofs may be nil
// only with DPoPDisabled. limiter, if not nil, counts each client's failed
// credential checks and refuses, unchecked, the credentials of a client
// it blocks (see Authenticate).
func NewAuth(verifier ports.TokenVerifier, proofs ports.ProofVerifier, mode DPoPMode, limiter ports.FailureLimiter) *Auth {
	if proofs == nil && mode != DPoPDisabled {
		panic(fmt.Sprintf("app: NewAuth: DPOP_MODE=%v needs a proof verifier", mode))
	}
	calling, _ := verifier.(ports.CallingVerifier)
	return &Auth{verifier: verifier, calling: calling, proofs: proofs, mode: mode, limiter: limiter}
}

// Scheme is how a request presents its access token (RFC 6750, RFC 9449).
type Scheme int

// The schemes of an Authorization header.
const (
	SchemeNone   Scheme = iota // no credentials
	SchemeBearer               // "Authorization: Bearer <token>"
	SchemeDPoP                 // "Authorization: DPoP <token>", with a DPoP proof header
)

// Credentials are what a request presents to a protected endpoint.
type Credentials struct {
	Scheme Scheme
	Token  string
	// Proof is, for SchemeDPoP, what the proof must match: Method, URL
	// and Proofs (every DPoP header value). Authenticate fills in
	// AccessToken and JKT.
	Proof ports.ProofRequest
	// CertThumbprint is the base64url SHA-256 thumbprint of the DER client
	// certificate the request came with (RFC 8705 §3.1): from the API's
	// own TLS handshake, or from a trusted proxy's Client-Cert header (RFC
	// 9440); "" when it came with none. A token bound to a certificate
	// (cnf x5t#S256) is accepted only when it is that certificate's.
	CertThumbprint string
	// Client is who sent them, for the failed-credential limit: the HTTP
	// layer's name for the client's address ("" when it has none: not
	// limited).
	Client string
	// Malformed, when set, is why the HTTP layer could not read the
	// credentials the request carries (several Authorization headers, a
	// token that is not b64token syntax, ...): an error wrapping
	// domain.ErrInvalidToken or domain.ErrInvalidRequest. Authenticate
	// returns it, as a failed check, without looking further.
	Malformed error
}

// Authenticate returns the principal behind c, as the DPoP mode allows:
//
//   - no token (or, with DPoPDisabled, the DPoP scheme):
//     domain.ErrUnauthenticated;
//   - with DPoPRequired, the Bearer scheme: a *domain.ProofError
//     (dpop_required), which wraps domain.ErrUnauthenticated;
//   - from a client the failure limiter blocks: a
//     *domain.FailureLimitError, before anything is checked, even for a
//     token that would be accepted: refusing it must cost nothing;
//   - c.Malformed, when set;
//   - a refused token: an error wrapping domain.ErrInvalidToken; keys not
//     loaded yet: one wrapping domain.ErrUnavailable;
//   - the Bearer scheme with a DPoP-bound token (cnf.jkt): a
//     *domain.ProofError (dpop_bound_token_as_bearer, invalid_token); with
//     DPoP disabled, a *domain.TokenError (unsupported_cnf): nothing here
//     could check its proof. A bound token is never used without its proof.
//   - a token bound to a client certificate (cnf x5t#S256), whatever the
//     scheme, when c.CertThumbprint is not that certificate's: a
//     *domain.TokenError (certificate_missing, certificate_mismatch). A
//     token bound both ways needs both proofs; the certificate is checked
//     first, so that a refused request spends no DPoP proof.
//   - the DPoP scheme: the proof is checked on every request (the token
//     may come from the verifier's cache, the proof never does); its
//     refusal is a *domain.ProofError.
//
// Every refusal of credentials that were presented (invalid_token of any
// reason, invalid_request, a refused DPoP proof) counts as one failure of
// c.Client, except use_dpop_nonce (the nonce protocol's usual first
// answer). Missing credentials, dpop_required and 503s cost the client
// nothing; successes are never counted, except that a verifier that calls
// another service for the token (ports.CallingVerifier: introspection)
// has each call counted once, whatever its answer: the call costs that
// service a request either way.
func (a *Auth) Authenticate(ctx context.Context, c Credentials) (domain.Principal, error) {
	switch {
	case c.Malformed != nil:
	case c.Token == "", c.Scheme == SchemeNone, c.Scheme == SchemeDPoP && a.mode == DPoPDisabled:
		return domain.Principal{}, domain.ErrUnauthenticated
	case c.Scheme == SchemeBearer && a.mode == DPoPRequired:
		return domain.Principal{}, domain.InvalidProof(domain.ProofRequired, "", nil)
	}
	limited := a.limiter != nil && c.Client != ""
	if limited {
		if wait := a.limiter.Blocked(ctx, c.Client); wait > 0 {
			return domain.Principal{}, &domain.FailureLimitError{RetryAfter: wait}
		}
	}
	p, called, err := a.authenticate(ctx, c)
	if limited && (called || err != nil && countsAsFailure(err)) {
		a.limiter.Failed(ctx, c.Client)
	}
	return p, err
}

// countsAsFailure reports whether err, a refusal of credentials, counts
// against the client's failure limit.
func countsAsFailure(err error) bool {
	var pe *domain.ProofError
	if errors.As(err, &pe) && pe.Code() == domain.ProofCodeUseNonce {
		return false
	}
	return errors.Is(err, domain.ErrInvalidToken) || errors.Is(err, domain.ErrInvalidRequest)
}

// authenticate is Authenticate for credentials that are there, by a
// client that is not blocked. called reports whether the verifier called
// another service.
func (a *Auth) authenticate(ctx context.Context, c Credentials) (p domain.Principal, called bool, err error) {
	if c.Malformed != nil {
		return domain.Principal{}, false, c.Malformed
	}
	p, called, err = a.verify(ctx, c.Client, c.Token)
	if err != nil {
		return domain.Principal{}, called, err
	}
	if c.Scheme == SchemeBearer && p.JKT != "" {
		if a.mode == DPoPDisabled {
			return domain.Principal{}, called, domain.InvalidToken(domain.ReasonConfirmation,
				errors.New(`"cnf"."jkt" binds the token to a DPoP key, and DPoP is disabled`))
		}
		return domain.Principal{}, called, domain.InvalidProof(domain.ProofBearerBound, "", nil)
	}
	if err := checkCertificate(p.CertThumbprint, c.CertThumbprint); err != nil {
		return domain.Principal{}, called, err
	}
	if c.Scheme == SchemeBearer {
		return p, called, nil
	}
	proof := c.Proof
	proof.AccessToken, proof.JKT = c.Token, p.JKT
	if err := a.proofs.VerifyProof(ctx, proof); err != nil {
		return domain.Principal{}, called, err
	}
	return p, called, nil
}

// checkCertificate checks a token's certificate binding (bound: its cnf
// x5t#S256, "" for none) against the thumbprint of the certificate the
// request came with (presented, "" for none), RFC 8705 §3.
func checkCertificate(bound, presented string) error {
	switch {
	case bound == "":
		return nil
	case presented == "":
		return domain.InvalidToken(domain.ReasonCertificateMissing, nil)
	case subtle.ConstantTimeCompare([]byte(bound), []byte(presented)) != 1:
		return domain.InvalidToken(domain.ReasonCertificateMismatch, nil)
	}
	return nil
}

// verify asks the token verifier about rawToken, presented by client;
// called reports whether the verifier called another service for it.
func (a *Auth) verify(ctx context.Context, client, rawToken string) (p domain.Principal, called bool, err error) {
	if a.calling != nil {
		p, called, err = a.calling.VerifyFrom(ctx, client, rawToken)
	} else {
		p, err = a.verifier.Verify(ctx, rawToken)
	}
	if err != nil {
		switch {
		case errors.Is(err, domain.ErrInvalidToken):
			return domain.Principal{}, called, err
		case errors.Is(err, domain.ErrUnavailable):
			// Say what is missing, for the 503 the caller gets.
			if !errors.As(err, new(*domain.UnavailableError)) {
				err = &domain.UnavailableError{What: signingKeys, Cause: err}
			}
			return domain.Principal{}, called, err
		}
		// An adapter broke its contract. Fail closed, keeping the cause for logs.
		return domain.Principal{}, called, domain.InvalidToken(domain.ReasonMalformed, fmt.Errorf("verifier: unexpected error: %w", err))
	}
	return p, called, nil
}

// Authorize returns nil when policy allows p, or the policy's error
// (wrapping domain.ErrForbidden) when it does not.
func (a *Auth) Authorize(_ context.Context, p domain.Principal, policy domain.Policy) error {
	return policy.Check(p)
}

// DPoPMode returns which schemes Authenticate accepts.
func (a *Auth) DPoPMode() DPoPMode { return a.mode }

// ProofAlgorithms lists the DPoP proof algorithms accepted (for the DPoP
// challenge's algs), nil when DPoP is disabled.
func (a *Auth) ProofAlgorithms() []string {
	if a.mode == DPoPDisabled {
		return nil
	}
	return a.proofs.Algorithms()
}

// DPoPNonce returns the nonce DPoP proofs must carry now (for the
// DPoP-Nonce header), or "" when nonces are off or DPoP is disabled.
func (a *Auth) DPoPNonce() string {
	if a.mode == DPoPDisabled {
		return ""
	}
	return a.proofs.Nonce()
}
