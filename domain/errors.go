package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error an adapter or service returns wraps one of
// them, and the HTTP adapter maps each to one answer (see
// adapters/httpapi/errors.go). Test with errors.Is.
var (
	// ErrUnauthenticated: the request carries no credentials at all.
	ErrUnauthenticated = errors.New("no credentials")
	// ErrInvalidRequest: the request is malformed, e.g. it carries a token
	// in more than one place.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidToken: a token was presented and refused. The error is a
	// *TokenError that says why.
	ErrInvalidToken = errors.New("invalid token")
	// ErrForbidden: the caller is known but not allowed to do this.
	ErrForbidden = errors.New("forbidden")
	// ErrInsufficientScope: the caller lacks a required scope. It wraps
	// ErrForbidden; the error is a *ScopeError that names the scopes.
	ErrInsufficientScope = errors.New("insufficient scope")
	// ErrUnavailable: a dependency (e.g. the issuer's signing keys) is not
	// available yet; the caller should retry later.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidInput: a request's content breaks a rule of the domain. The
	// error is an *InputError naming the field.
	ErrInvalidInput = errors.New("invalid input")
	// ErrQuotaExceeded: storing more would pass a limit. The error is a
	// *QuotaError that says which.
	ErrQuotaExceeded = errors.New("quota exceeded")
)

// Reason says why a token was refused. Reasons are stable, machine-readable
// and safe to show to clients, log and count.
type Reason string

// The reasons a token is refused.
const (
	ReasonMalformed      Reason = "malformed"
	ReasonTooLarge       Reason = "too_large"
	ReasonAlgorithm      Reason = "algorithm"
	ReasonType           Reason = "type"
	ReasonCritical       Reason = "critical_header"
	ReasonUnknownKey     Reason = "unknown_key"
	ReasonSignature      Reason = "bad_signature"
	ReasonExpired        Reason = "expired"
	ReasonNotYetValid    Reason = "not_yet_valid"
	ReasonIssuedInFuture Reason = "issued_in_future"
	ReasonIssuer         Reason = "wrong_issuer"
	ReasonAudience       Reason = "wrong_audience"
	ReasonMissingClaim   Reason = "missing_claim"
	ReasonClaimType      Reason = "bad_claim"
	// ReasonInactive: the issuer says the token is not active (revoked,
	// expired or unknown), as token introspection answers.
	ReasonInactive Reason = "inactive"
	// ReasonConfirmation: "cnf" (RFC 7800) is malformed, binds the token
	// to nothing this API knows, or names a confirmation method this
	// deployment cannot check (a raw "jwk", "jku", "jkt" with DPoP
	// disabled, ...). Accepting such a token as a bearer token would undo
	// its binding.
	ReasonConfirmation Reason = "unsupported_cnf"
	// ReasonCertificateMissing: the token is bound to a client certificate
	// ("cnf" "x5t#S256", RFC 8705) and the request came with none.
	ReasonCertificateMissing Reason = "certificate_missing"
	// ReasonCertificateMismatch: the token is bound to a client
	// certificate and the request came with another one.
	ReasonCertificateMismatch Reason = "certificate_mismatch"
)

// descriptions are the fixed texts clients see in error_description.
// They never contain token contents or library error text.
var descriptions = map[Reason]string{
	ReasonMalformed:      "malformed token",
	ReasonTooLarge:       "token too large",
	ReasonAlgorithm:      "signing algorithm not allowed",
	ReasonType:           "token type not accepted",
	ReasonCritical:       "critical header parameter not supported",
	ReasonUnknownKey:     "signing key not found",
	ReasonSignature:      "signature verification failed",
	ReasonExpired:        "token expired",
	ReasonNotYetValid:    "token not yet valid",
	ReasonIssuedInFuture: "token issued in the future",
	ReasonIssuer:         "issuer not accepted",
	ReasonAudience:       "audience not accepted",
	ReasonMissingClaim:   "required claim missing",
	ReasonClaimType:      "claim has an invalid value",
	ReasonInactive:       "token not active",
	ReasonConfirmation:   "claim cnf is malformed or names a confirmation method this API cannot check",
	// No double quotes: RFC 6750 §3 leaves them out of error_description.
	ReasonCertificateMissing:  "access token is bound to a client certificate (cnf x5t#S256); the request came with none",
	ReasonCertificateMismatch: "access token is bound to another client certificate (cnf x5t#S256)",
}

// Description returns the fixed, client-safe text for r.
func (r Reason) Description() string {
	if d, ok := descriptions[r]; ok {
		return d
	}
	return "invalid token"
}

// TokenError is a refused token. It wraps ErrInvalidToken and, for logs
// only, the underlying cause.
type TokenError struct {
	Reason Reason
	Cause  error // for logs; never shown to clients
}

// InvalidToken returns a *TokenError for reason, keeping cause for logs.
func InvalidToken(reason Reason, cause error) error {
	return &TokenError{Reason: reason, Cause: cause}
}

func (e *TokenError) Error() string {
	if e.Cause == nil {
		return "invalid token: " + e.Reason.Description()
	}
	return "invalid token: " + e.Reason.Description() + ": " + e.Cause.Error()
}

// Unwrap lets errors.Is find ErrInvalidToken and the cause.
func (e *TokenError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrInvalidToken}
	}
	return []error{ErrInvalidToken, e.Cause}
}

// ScopeError is a caller without the scopes (or permissions) a policy
// requires. It wraps ErrInsufficientScope and ErrForbidden.
type ScopeError struct {
	// Scopes lists the scopes (or permissions) the policy asks for.
	Scopes []string
	// Any is true when one of Scopes is enough, false when all are needed.
	Any bool
	// Permissions is true when Scopes are Auth0 RBAC permissions.
	Permissions bool
	// Description, if set, replaces the generated client-facing text.
	Description string
}

func (e *ScopeError) Error() string { return e.Describe() }

// Describe returns the client-safe text of e.
func (e *ScopeError) Describe() string {
	if e.Description != "" {
		return e.Description
	}
	what := "scope"
	if e.Permissions {
		what = "permission"
	}
	if e.Any && len(e.Scopes) > 1 {
		return "insufficient " + what + ": one of " + strings.Join(e.Scopes, ", ") + " required"
	}
	return "insufficient " + what + ": " + strings.Join(e.Scopes, ", ") + " required"
}

// Unwrap lets errors.Is find ErrInsufficientScope and ErrForbidden.
func (e *ScopeError) Unwrap() []error { return []error{ErrInsufficientScope, ErrForbidden} }

// DeniedError is a caller a policy refuses for a reason other than scopes:
// a role, a claim, a custom rule. It wraps ErrForbidden. Reason is fixed
// text from the policy's definition, safe to show to the caller.
type DeniedError struct {
	Reason string
}

func (e *DeniedError) Error() string { return "forbidden: " + e.Reason }

// Unwrap lets errors.Is find ErrForbidden.
func (e *DeniedError) Unwrap() error { return ErrForbidden }

// InputError is content that breaks a domain rule. It wraps
// ErrInvalidInput; Field and Problem are safe to show to the caller.
type InputError struct {
	Field   string
	Problem string
}

// Error reads as a sentence: "text is required".
func (e *InputError) Error() string { return e.Field + " " + e.Problem }

// Unwrap lets errors.Is find ErrInvalidInput.
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// QuotaError is something refused because its owner already keeps Limit
// of its kind, or, with Total, because the store holds all it may. It
// wraps ErrQuotaExceeded. Nothing is ever evicted to make room.
//
// Stores set Limit and Total; the service that refused sets What and Room,
// so that the answer (adapters/httpapi) names the resource from the error
// rather than from a list of resources.
type QuotaError struct {
	Limit int
	Total bool
	// What names what is counted, in the plural: "messages".
	What string
	// Room tells the caller how to make room, for example "delete one of
	// yours (DELETE /api/messages/{id}) to post another". Client-safe.
	Room string
}

// what is e.What, or a word for anything.
func (e *QuotaError) what() string {
	if e.What == "" {
		return "items"
	}
	return e.What
}

func (e *QuotaError) Error() string {
	if e.Total {
		return fmt.Sprintf("quota exceeded: the store holds its limit of %d %s", e.Limit, e.what())
	}
	return fmt.Sprintf("quota exceeded: the owner keeps the most %s allowed (%d)", e.what(), e.Limit)
}

// Describe returns the client-safe text of e.
func (e *QuotaError) Describe() string {
	if e.Total {
		return fmt.Sprintf("the server holds the most %s it may (%d); %s must be deleted before more can be added", e.what(), e.Limit, e.what())
	}
	desc := fmt.Sprintf("you keep %d %s, the most one author may", e.Limit, e.what())
	if e.Room != "" {
		desc += "; " + e.Room
	}
	return desc
}

// Unwrap lets errors.Is find ErrQuotaExceeded.
func (e *QuotaError) Unwrap() error { return ErrQuotaExceeded }

// UnavailableError says which dependency is missing. It wraps
// ErrUnavailable and, for logs only, the cause. What is fixed, client-safe
// text such as "the database"; the cause never reaches a client.
type UnavailableError struct {
	What  string
	Cause error
}

func (e *UnavailableError) Error() string {
	if e.Cause == nil {
		return e.What + " unavailable"
	}
	return e.What + " unavailable: " + e.Cause.Error()
}

// Unwrap lets errors.Is find ErrUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error {
	if e.Cause == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, e.Cause}
}
