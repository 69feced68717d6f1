package app

import (
	"time"

	"github.com/example/spaapi/domain"
)

// DefaultFailureLimit is AUTH_FAILURE_LIMIT's default: 60 failed
// credential checks in a row per client address, then one a second.
//
// A legitimate client fails rarely (a token that expired before its
// refresh, a retried DPoP proof), a few times a minute at most, and many
// users behind one NAT address share its bucket: 60 leaves them room.
// An attacker at one address gets 60 checks, then one a second: at
// about 100 µs per forged RSA token, a ten-thousandth of a core.
var DefaultFailureLimit = domain.FailureLimit{Failures: 60, Window: time.Minute}
