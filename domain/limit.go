package domain

import (
	"errors"
	"fmt"
	"time"
)

// ErrTooManyFailures: the client's credentials failed too often lately, so
// its requests with credentials are refused, unchecked, for a while. The
// error is a *FailureLimitError that says for how long.
var ErrTooManyFailures = errors.New("too many failed credential checks")

// FailureLimit is how many failed credential checks one client may cause:
// a bucket of Failures, each failure taking one, refilled at Failures per
// Window (one every Interval). A client with an empty bucket is blocked
// until one comes back; so it may fail Failures times in a row, then once
// per Interval. Successes take nothing and give nothing back. The zero
// value is no limit.
type FailureLimit struct {
	Failures int
	Window   time.Duration
}

// Off reports whether l limits nothing.
func (l FailureLimit) Off() bool { return l.Failures <= 0 || l.Window <= 0 }

// Interval is how long one failure counts against a client: Window divided
// by Failures (at least a nanosecond).
func (l FailureLimit) Interval() time.Duration {
	if l.Off() {
		return 0
	}
	return max(1, l.Window/time.Duration(l.Failures))
}

// String reads as the setting is written: "60/1m0s", or "off".
func (l FailureLimit) String() string {
	if l.Off() {
		return "off"
	}
	return fmt.Sprintf("%d/%v", l.Failures, l.Window)
}

// FailureLimitError is a request refused because its client has used up
// its FailureLimit. It wraps ErrTooManyFailures.
type FailureLimitError struct {
	// RetryAfter is how long until the client's credentials are checked
	// again (more than zero).
	RetryAfter time.Duration
}

func (e *FailureLimitError) Error() string {
	return fmt.Sprintf("too many failed credential checks: blocked for %v", e.RetryAfter)
}

// Unwrap lets errors.Is find ErrTooManyFailures.
func (e *FailureLimitError) Unwrap() error { return ErrTooManyFailures }
