package domain

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInsufficientAuthentication: the caller's token is valid, but the
// user's login behind it is not strong or recent enough for this (RFC
// 9470). The error is a *StepUpError that says what is required; the
// client gets a new token by logging the user in again.
var ErrInsufficientAuthentication = errors.New("insufficient user authentication")

// StepUp is what an action asks of the user's login beyond a valid token
// (RFC 9470): an authentication context class, a recent authentication,
// or both.
type StepUp struct {
	// ACR lists the authentication context classes accepted: the token's
	// "acr" must be one of them, exactly. Empty: any, or none.
	ACR []string
	// MaxAge is the longest time since the user last authenticated (the
	// token's "auth_time"). Zero: any age, or none.
	MaxAge time.Duration
}

// AuthTimeLeeway is how far ahead of this server's clock a token's
// "auth_time" may be (the issuer's clock running ahead) and still count
// for a MaxAge, when the token has no "iat" to bound it: as far as the
// largest CLOCK_TOLERANCE.
const AuthTimeLeeway = 10 * time.Minute

// IsZero reports whether s asks for nothing.
func (s StepUp) IsZero() bool { return len(s.ACR) == 0 && s.MaxAge == 0 }

// Check returns nil when p's login meets s at now, else a *StepUpError.
// A token without "acr" fails an ACR requirement; one without "auth_time",
// with one after its "iat", or with one more than AuthTimeLeeway ahead of
// now, fails a MaxAge requirement. A login exactly MaxAge old passes; one a moment older does
// not.
func (s StepUp) Check(p Principal, now time.Time) error {
	switch {
	case len(s.ACR) > 0 && p.ACR == "":
		return s.refuse("a stronger login is required: acr " + s.acrText() + "; the token has no acr")
	case len(s.ACR) > 0 && !slices.Contains(s.ACR, p.ACR):
		// The token's own value is not repeated: token contents never
		// reach an answer.
		return s.refuse("a stronger login is required: acr " + s.acrText() + "; the token's acr is another")
	case s.MaxAge > 0 && p.AuthTime.IsZero():
		return s.refuse("a more recent login is required: within " + s.maxAgeText() + "; the token has no auth_time")
	case s.MaxAge > 0 && !p.IssuedAt.IsZero() && p.AuthTime.After(p.IssuedAt):
		// The login cannot follow the token it led to. Both come from the
		// issuer's clock, so with iat (itself at most CLOCK_TOLERANCE
		// ahead of now) a future auth_time cannot stretch a max_age.
		return s.refuse("a more recent login is required: within " + s.maxAgeText() + "; the token's auth_time is after its iat")
	case s.MaxAge > 0 && p.AuthTime.After(now.Add(AuthTimeLeeway)):
		// A login in the future would pass any max_age for as long as
		// it stays there.
		return s.refuse("a more recent login is required: within " + s.maxAgeText() + "; the token's auth_time is in the future")
	case s.MaxAge > 0 && now.Sub(p.AuthTime) > s.MaxAge:
		return s.refuse("a more recent login is required: within " + s.maxAgeText() + "; the user logged in " +
			strconv.FormatInt(int64(now.Sub(p.AuthTime)/time.Second), 10) + " seconds ago")
	}
	return nil
}

// MaxAgeSeconds is MaxAge in whole seconds, rounded down, as the
// challenge's max_age and OpenID Connect's max_age say it (0: none).
func (s StepUp) MaxAgeSeconds() int64 { return int64(s.MaxAge / time.Second) }

func (s StepUp) acrText() string {
	if len(s.ACR) == 1 {
		return s.ACR[0]
	}
	return "one of " + strings.Join(s.ACR, ", ")
}

func (s StepUp) maxAgeText() string {
	return strconv.FormatInt(s.MaxAgeSeconds(), 10) + " seconds"
}

func (s StepUp) refuse(reason string) error {
	return &StepUpError{ACR: slices.Clone(s.ACR), MaxAge: s.MaxAge, Reason: reason}
}

// RequireStepUp allows principals whose login meets s (StepUp.Check) at
// the time now returns (nil: time.Now). Combine it with the route's
// scope policy in And, scopes first: a caller who lacks a scope gains
// nothing from logging in again.
func RequireStepUp(s StepUp, now func() time.Time) Policy {
	s.ACR = slices.Clone(s.ACR)
	if now == nil {
		now = time.Now
	}
	return PolicyFunc(func(p Principal) error { return s.Check(p, now()) })
}

// StepUpError is a valid token whose login does not meet a StepUp: it
// says what the user's next login must give (answered 401
// insufficient_user_authentication with acr_values and max_age, RFC 9470
// §3). It wraps ErrInsufficientAuthentication.
type StepUpError struct {
	// ACR lists the authentication context classes accepted; empty for
	// any.
	ACR []string
	// MaxAge is the longest time since the login; zero for any.
	MaxAge time.Duration
	// Reason is fixed, client-safe text saying what is missing.
	Reason string
}

func (e *StepUpError) Error() string { return "insufficient user authentication: " + e.Reason }

// Unwrap lets errors.Is find ErrInsufficientAuthentication.
func (e *StepUpError) Unwrap() error { return ErrInsufficientAuthentication }

// MaxAgeSeconds is MaxAge in whole seconds (0: none).
func (e *StepUpError) MaxAgeSeconds() int64 { return int64(e.MaxAge / time.Second) }
