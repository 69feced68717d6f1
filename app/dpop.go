package app

import (
	"fmt"
	"strconv"
	"strings"
)

// DPoPMode says which schemes protected endpoints accept (DPOP_MODE;
// RFC 9449).
type DPoPMode int

// The DPoP modes. The zero value is the default.
const (
	// DPoPAllowed accepts bearer tokens and DPoP-bound tokens with their
	// proofs; a DPoP-bound token is refused with the Bearer scheme.
	DPoPAllowed DPoPMode = iota
	// DPoPRequired accepts DPoP-bound tokens with their proofs only.
	DPoPRequired
	// DPoPDisabled accepts the Bearer scheme only: the DPoP scheme counts
	// as no credentials, DPoP headers are ignored, and a token's cnf.jkt
	// is not enforced.
	DPoPDisabled
)

var dpopModes = [...]string{DPoPAllowed: "allowed", DPoPRequired: "required", DPoPDisabled: "disabled"}

// String returns the mode's DPOP_MODE value.
func (m DPoPMode) String() string {
	if m >= 0 && int(m) < len(dpopModes) {
		return dpopModes[m]
	}
	return fmt.Sprintf("DPoPMode(%d)", int(m))
}

// ParseDPoPMode reads a DPOP_MODE value: allowed, required or disabled
// ("" is allowed, the default).
func ParseDPoPMode(s string) (DPoPMode, error) {
	if s == "" {
		return DPoPAllowed, nil
	}
	for m, name := range dpopModes {
		if s == name {
			return DPoPMode(m), nil
		}
	}
	quoted := make([]string, len(dpopModes))
	for i, name := range dpopModes {
		quoted[i] = strconv.Quote(name)
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(quoted, ", "))
}
