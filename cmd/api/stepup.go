package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/domain"
)

// maxStepUpAge bounds max_age in STEP_UP: a year, longer than any login
// is worth trusting for an action that asks for a recent one.
const maxStepUpAge = 366 * 24 * time.Hour

// devStepUp is STEP_UP's default with -dev: deleting a message takes the
// development issuer's second step, within the last ten minutes, so the
// demo shows step-up authentication (RFC 9470). STEP_UP=off turns it off.
var devStepUp = "DELETE /api/messages/{id} acr=" + devissuer.ACRMultiFactor + " max_age=10m"

func stepUpSettings() []*setting {
	return []*setting{
		{flag: "step-up", envs: []string{"STEP_UP"}, usage: `routes that ask for a stronger or more recent login than a valid token (RFC 9470), rules separated by ";": ` +
			`METHOD /path acr=VALUE[,VALUE...] max_age=DURATION, e.g. "DELETE /api/messages/{id} acr=http://schemas.openid.net/pape/policies/2007/06/multi-factor max_age=5m"; ` +
			`off for none (default: none; with -dev "` + devStepUp + `")`},
	}
}

// loadStepUp reads STEP_UP into the rules httpapi.Config.StepUp takes,
// checked: every route is one that takes a token (httpapi.TokenRoutes),
// named once, asking for acr values and/or a max_age.
func loadStepUp(get getter, dev bool) (map[string]domain.StepUp, error) {
	v, name, err := get("step-up")
	if err != nil {
		return nil, err
	}
	if v == "" && dev {
		v = devStepUp
	}
	rules, err := parseStepUp(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rules, nil
}

// parseStepUp parses STEP_UP's value ("" and "off": no rules).
func parseStepUp(v string) (map[string]domain.StepUp, error) {
	if v == "" || v == "off" {
		return nil, nil
	}
	routes := httpapi.TokenRoutes()
	out := map[string]domain.StepUp{}
	for rule := range strings.SplitSeq(v, ";") {
		fields := strings.Fields(rule)
		if len(fields) == 0 {
			return nil, fmt.Errorf("empty rule in %q (rules are separated by ;)", v)
		}
		if len(fields) < 2 {
			return nil, fmt.Errorf("%q is not a rule like METHOD /path acr=VALUE max_age=DURATION", strings.TrimSpace(rule))
		}
		route := strings.ToUpper(fields[0]) + " " + fields[1]
		if !slices.Contains(routes, route) {
			return nil, fmt.Errorf("%q is not a route that takes a token; one of: %s", fields[0]+" "+fields[1], strings.Join(routes, ", "))
		}
		if _, dup := out[route]; dup {
			return nil, fmt.Errorf("%s has two rules; give it one", route)
		}
		var need domain.StepUp
		seen := map[string]bool{}
		for _, f := range fields[2:] {
			key, value, ok := strings.Cut(f, "=")
			if !ok || (key != "acr" && key != "max_age") {
				return nil, fmt.Errorf("%s: %q is neither acr=VALUE[,VALUE...] nor max_age=DURATION", route, f)
			}
			if seen[key] {
				return nil, fmt.Errorf("%s: %s given twice", route, key)
			}
			seen[key] = true
			switch key {
			case "acr":
				for acr := range strings.SplitSeq(value, ",") {
					if acr == "" || !printableASCII(acr) || strings.ContainsAny(acr, `"\`) {
						return nil, fmt.Errorf("%s: acr %q: each value is non-empty printable ASCII, without quotes or backslashes, separated by commas", route, value)
					}
					if !slices.Contains(need.ACR, acr) {
						need.ACR = append(need.ACR, acr)
					}
				}
			case "max_age":
				var err error
				if need.MaxAge, err = stepUpAge(value); err != nil {
					return nil, fmt.Errorf("%s: max_age: %w", route, err)
				}
			}
		}
		if need.IsZero() {
			return nil, fmt.Errorf("%s asks for nothing: give acr=VALUE and/or max_age=DURATION", route)
		}
		out[route] = need
	}
	return out, nil
}

// stepUpAge parses max_age: a duration like 5m, or a number of seconds;
// whole seconds (as OpenID Connect's max_age says it) from 1s to a year.
func stepUpAge(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.ParseInt(v, 10, 64)
		if err2 != nil || secs > int64(maxStepUpAge/time.Second) {
			return 0, fmt.Errorf("%q is not a duration like 5m or a number of seconds", v)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < time.Second || d > maxStepUpAge || d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds from 1s to %v", v, maxStepUpAge)
	}
	return d, nil
}

// printableASCII reports whether s is all %x21-7E (no spaces: acr_values
// is a space-separated list).
func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// describeStepUp is the start-up log's view of the rules, in route order.
func describeStepUp(rules map[string]domain.StepUp) []string {
	var out []string
	for _, route := range httpapi.TokenRoutes() {
		need, ok := rules[route]
		if !ok {
			continue
		}
		s := route
		if len(need.ACR) > 0 {
			s += " acr=" + strings.Join(need.ACR, ",")
		}
		if need.MaxAge > 0 {
			s += " max_age=" + need.MaxAge.String()
		}
		out = append(out, s)
	}
	return out
}
