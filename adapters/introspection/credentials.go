package introspection

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// ProbeInterval is how long Ready trusts the endpoint's last verdict on
// the API's credentials before asking it again.
const ProbeInterval = time.Second

// credentials is what the endpoint last said of the API's credentials.
// Every answer is a verdict, whether it was about a token or a probe: a
// 200 accepts them, a 401 or 403 refuses them. Other answers (5xx, none
// at all) say nothing about them and change nothing.
type credentials struct {
	mu      sync.Mutex
	refused int       // the status while refused (401, 403); 0 when accepted or not known yet
	heard   time.Time // the last verdict, or the start of the last probe
	probing bool
}

// refusesCredentials reports whether an answer with status refuses the
// API's credentials (RFC 6749 §5.2 invalid_client: 401; some servers 403).
func refusesCredentials(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden
}

// heard records the endpoint's verdict in an answer with status, and logs
// when it changes.
func (v *Verifier) heard(endpoint string, status int) {
	refused := 0
	switch {
	case status == http.StatusOK:
	case refusesCredentials(status):
		refused = status
	default:
		return
	}
	c := &v.creds
	c.mu.Lock()
	was := c.refused
	c.refused, c.heard = refused, v.cfg.Now()
	c.mu.Unlock()
	switch {
	case refused != 0 && was == 0:
		v.log.Error("the introspection endpoint refuses this API's credentials: every token is answered 503 and /readyz is 503 until it accepts them; check INTROSPECTION_CLIENT_ID and its secret",
			"endpoint", endpoint, "client_id", v.cfg.ClientID, "status", status)
	case refused == 0 && was != 0:
		v.log.Info("the introspection endpoint accepts this API's credentials again", "endpoint", endpoint)
	}
}

// Ready returns nil once the introspection endpoint is known and, as far
// as it last said, accepts the API's credentials. When it has said
// nothing for ProbeInterval (no tokens to introspect), Ready first asks it
// about a made-up token, one probe at a time: what the answer says of the
// token does not matter, only its status. An endpoint that is down or
// slow leaves the verdict as it was: tokens are then answered 503, but
// readiness, which every instance would lose at once, is not taken away.
func (v *Verifier) Ready(ctx context.Context) error {
	endpoint := *v.endpoint.Load()
	if endpoint == "" {
		return unavailable(fmt.Errorf("the introspection endpoint of %s is not discovered yet", v.cfg.Issuer))
	}
	if v.probeDue() {
		v.probe(ctx, endpoint)
	}
	v.creds.mu.Lock()
	status := v.creds.refused
	v.creds.mu.Unlock()
	if status != 0 {
		return unavailable(fmt.Errorf("%s refuses this API's credentials (status %d): check INTROSPECTION_CLIENT_ID and its secret", endpoint, status))
	}
	return nil
}

// probeDue reports whether Ready should ask the endpoint, and if so
// marks a probe as under way.
func (v *Verifier) probeDue() bool {
	c := &v.creds
	c.mu.Lock()
	defer c.mu.Unlock()
	now := v.cfg.Now()
	if c.probing || !c.heard.IsZero() && now.Sub(c.heard) < ProbeInterval {
		return false
	}
	c.probing, c.heard = true, now
	return true
}

// probe asks the endpoint about a made-up token, for its verdict on the
// API's credentials (recorded by ask). It takes one of the slots tokens
// use; when none is free, tokens under way bring the verdict instead.
func (v *Verifier) probe(ctx context.Context, endpoint string) {
	defer func() {
		v.creds.mu.Lock()
		v.creds.probing = false
		v.creds.mu.Unlock()
	}()
	if !v.slots.enter() {
		return
	}
	defer v.slots.leave()
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	if _, err := v.ask(ctx, endpoint, "readiness-probe-"+rand.Text()); err != nil {
		v.log.Debug("introspection readiness probe", "endpoint", endpoint, "error", err)
	}
}
