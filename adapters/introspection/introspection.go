// Package introspection verifies opaque access tokens by asking the
// issuer's OAuth 2.0 token introspection endpoint (RFC 7662), for issuers
// whose access tokens are not JWTs. It implements ports.TokenVerifier
// itself: there is no signature to check, only the issuer's answer.
//
// The API authenticates to the endpoint as a client (client_secret_basic)
// and sends the token there and nowhere else: over https (plain http only
// to loopback), with redirects refused. An answer of "active": false
// refuses the token; an active one is still checked (exp, nbf, iat, iss
// when an issuer is configured, aud naming one of the configured
// audiences, token_type and token_use when present naming an access
// token, no sender constraint but DPoP's) before its scope, client_id,
// sub, aud, iss and exp become the principal. An endpoint that is down,
// slow, refuses the API's credentials or answers garbage makes Verify
// return a *domain.UnavailableError naming the introspection endpoint
// (503 with Retry-After), never an acceptance; while it refuses the API's
// credentials (401 or 403) Ready says so. Answers are cached briefly:
// active ones at most CacheTTL and never past their exp, inactive ones
// shorter. Connections to the endpoint are kept alive, as many as
// requests may be in flight.
package introspection

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/domain"
	"github.com/example/spaapi/ports"
)

var (
	_ ports.TokenVerifier   = (*Verifier)(nil)
	_ ports.CallingVerifier = (*Verifier)(nil)
	_ ports.Readiness       = (*Verifier)(nil)
)

// Settings are the provider's own settings. The client secret comes from
// a file or the environment, never a flag.
var Settings = []jwtverify.Setting{
	{Flag: "introspection-url", Var: "INTROSPECTION_URL", Usage: "introspection: the endpoint (default: the introspection_endpoint of ISSUER_BASE_URL's metadata)"},
	{Flag: "introspection-client-id", Var: "INTROSPECTION_CLIENT_ID", Usage: "introspection: the client this API authenticates as at the endpoint"},
	{Flag: "introspection-client-secret-file", Var: "INTROSPECTION_CLIENT_SECRET_FILE", Usage: "introspection: file holding that client's secret"},
	{Var: "INTROSPECTION_CLIENT_SECRET", Usage: "introspection: that client's secret (environment only, never a flag)"},
	{Flag: "introspection-cache-ttl", Var: "INTROSPECTION_CACHE_TTL", Usage: "introspection: longest an answer is trusted (default 30s; a revoked token works at most this long)"},
}

// Defaults and limits.
const (
	DefaultCacheTTL    = 30 * time.Second
	MaxCacheTTL        = 10 * time.Minute
	DefaultNegativeTTL = 5 * time.Second
	DefaultTimeout     = 3 * time.Second
	DefaultMaxInFlight = 64
	// MaxAnswerBytes caps an introspection answer.
	MaxAnswerBytes = 64 << 10
)

// Config says where to introspect tokens and which answers to accept.
type Config struct {
	// Endpoint is the introspection endpoint. "" means the
	// introspection_endpoint of Issuer's metadata, found at start-up (and
	// retried until found).
	Endpoint string
	// Issuer, when set, is the issuer whose tokens are accepted: an
	// answer's "iss", when present, must name it (as its metadata does,
	// when discovered).
	Issuer string
	// ClientID and ClientSecret authenticate the API at the endpoint
	// (client_secret_basic).
	ClientID     string
	ClientSecret string
	// Audiences: an active answer's "aud" must name one of them; an
	// answer without "aud" is refused (missing_claim).
	Audiences []string
	// RolesClaims are answer members (names or dot paths) holding roles.
	RolesClaims []string
	// ClockTolerance is the leeway for exp, nbf and iat in a fresh
	// answer. A cached answer is never used at or past its exp.
	ClockTolerance time.Duration
	// CacheSize bounds the answer cache in entries; 0 disables it.
	CacheSize int
	// CacheTTL is the longest an active answer is trusted (default 30s,
	// at most 10m); NegativeTTL that of an inactive one (default 5s, at
	// most CacheTTL).
	CacheTTL    time.Duration
	NegativeTTL time.Duration
	// Timeout bounds one introspection request (default 3s).
	Timeout time.Duration
	// MaxInFlight bounds concurrent introspection requests (default 64);
	// beyond it tokens are answered as unavailable rather than queued. As
	// many connections to the endpoint are kept open between requests.
	MaxInFlight int
	// MaxInFlightPerClient bounds one client's (VerifyFrom's) concurrent
	// introspection requests (default MaxInFlight/DefaultShareDivisor, at
	// least 1): beyond it, its tokens are answered as unavailable while
	// others' still have slots.
	MaxInFlightPerClient int
	// HTTPClient makes the requests (nil: the system's roots, so
	// SSL_CERT_FILE works). Redirects are never followed. An
	// *http.Transport (or none: http.DefaultTransport) is cloned with its
	// connection limits set to MaxInFlight; another RoundTripper is used as
	// it is.
	HTTPClient *http.Client
	// RetryMax caps the back-off between failed discoveries (default 10s).
	RetryMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tracer, when set, records a "token.verify" span for each token and
	// a client span for each call to the endpoint, which is sent the W3C
	// traceparent; nil records none, at no cost.
	Tracer trace.Tracer
}

// Load reads the settings from env, with opts for the clock tolerance and
// cache size, and checks them; errors name the setting.
func Load(env jwtverify.Env, opts jwtverify.Options) (Config, error) {
	c := Config{ClockTolerance: opts.ClockTolerance, CacheSize: opts.CacheSize, Tracer: opts.Tracer}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=introspection asks the issuer about opaque tokens and checks no signatures", "jwks-uri", "token-signing-alg"); err != nil {
		return Config{}, err
	}
	if err := jwtverify.Unset(env, "AUTH_PROVIDER=introspection caches answers for INTROSPECTION_CACHE_TTL", "token-cache-ttl"); err != nil {
		return Config{}, err
	}
	var err error
	var from string
	if c.Issuer, from, err = env("issuer-base-url"); err != nil {
		return Config{}, err
	}
	if strings.Contains(c.Issuer, ",") {
		return Config{}, fmt.Errorf("%s: AUTH_PROVIDER=introspection takes one issuer", from)
	}
	if c.Endpoint, from, err = env("introspection-url"); err != nil {
		return Config{}, err
	}
	if c.Endpoint == "" && c.Issuer == "" {
		return Config{}, fmt.Errorf("%s is required for AUTH_PROVIDER=introspection, or ISSUER_BASE_URL whose metadata names an introspection_endpoint", from)
	}
	if c.ClientID, from, err = env("introspection-client-id"); err != nil {
		return Config{}, err
	}
	if c.ClientID == "" {
		return Config{}, fmt.Errorf("%s is required for AUTH_PROVIDER=introspection: the client this API authenticates as at the endpoint", from)
	}
	secret, secretFrom, err := env("INTROSPECTION_CLIENT_SECRET")
	if err != nil {
		return Config{}, err
	}
	file, fileFrom, err := env("introspection-client-secret-file")
	if err != nil {
		return Config{}, err
	}
	switch {
	case secret != "" && file != "":
		return Config{}, fmt.Errorf("%s and %s are both set; set one of them", secretFrom, fileFrom)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", fileFrom, err)
		}
		secret = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if secret == "" {
			return Config{}, fmt.Errorf("%s: %s is empty", fileFrom, file)
		}
	case secret == "":
		return Config{}, fmt.Errorf("%s (or %s) is required for AUTH_PROVIDER=introspection: the secret of %s", fileFrom, secretFrom, c.ClientID)
	}
	c.ClientSecret = secret
	aud, audFrom, err := jwtverify.ListSetting(env, "audience")
	if err != nil {
		return Config{}, err
	}
	if len(aud) == 0 {
		return Config{}, fmt.Errorf("%s is required: your API's identifier, which answers that name an aud must contain", audFrom)
	}
	c.Audiences = aud
	if c.RolesClaims, _, err = jwtverify.ListSetting(env, "roles-claim"); err != nil {
		return Config{}, err
	}
	ttl, ttlFrom, err := env("introspection-cache-ttl")
	if err != nil {
		return Config{}, err
	}
	if ttl != "" {
		if c.CacheTTL, err = time.ParseDuration(ttl); err != nil || c.CacheTTL <= 0 || c.CacheTTL > MaxCacheTTL {
			return Config{}, fmt.Errorf("%s: %q is not a duration like 30s (above 0, at most %v)", ttlFrom, ttl, MaxCacheTTL)
		}
	}
	return c, c.Check()
}

// Check reports what is wrong with c, if anything, as New would, naming
// the setting.
func (c Config) Check() error {
	if c.Endpoint == "" && c.Issuer == "" {
		return errors.New("INTROSPECTION_URL is required, or ISSUER_BASE_URL whose metadata names an introspection_endpoint")
	}
	if c.Endpoint != "" {
		if _, err := jwtverify.CheckURL(c.Endpoint); err != nil {
			return fmt.Errorf("INTROSPECTION_URL: %w", err)
		}
	}
	if c.Issuer != "" {
		if err := jwtverify.CheckIssuerURL(c.Issuer); err != nil {
			return fmt.Errorf("ISSUER_BASE_URL: %w", err)
		}
	}
	if c.ClientID == "" || strings.ContainsAny(c.ClientID, "\r\n") {
		return errors.New("INTROSPECTION_CLIENT_ID: required, on one line")
	}
	if c.ClientSecret == "" {
		return errors.New("INTROSPECTION_CLIENT_SECRET: required")
	}
	if len(c.Audiences) == 0 {
		return errors.New("AUDIENCE: at least one audience is required")
	}
	for _, a := range c.Audiences {
		if strings.TrimSpace(a) == "" {
			return errors.New("AUDIENCE: empty audience")
		}
	}
	switch {
	case c.CacheTTL < 0 || c.CacheTTL > MaxCacheTTL:
		return fmt.Errorf("INTROSPECTION_CACHE_TTL: %v is out of range (0 to %v)", c.CacheTTL, MaxCacheTTL)
	case c.ClockTolerance < 0, c.CacheSize < 0, c.NegativeTTL < 0, c.Timeout < 0, c.MaxInFlight < 0, c.MaxInFlightPerClient < 0:
		return errors.New("introspection: negative tuning value")
	}
	return nil
}

// Verifier checks opaque tokens at the introspection endpoint.
type Verifier struct {
	cfg      Config
	client   *http.Client // to the endpoint: no redirects
	auth     string       // the Authorization header
	endpoint atomic.Pointer[string]
	issuer   atomic.Pointer[string] // "" when none is configured
	cache    *cache                 // nil when disabled
	slots    slots                  // bounds requests in flight
	shares   *shares                // bounds each client's requests in flight
	flight   flight                 // one request per token at a time
	creds    credentials            // what the endpoint last said of the API's credentials
	log      *slog.Logger
	results  *prometheus.CounterVec
	stopped  chan struct{}
}

// New returns a verifier for cfg. Without a configured endpoint it starts
// discovering it from the issuer's metadata in the background, retrying
// until found; it does not wait. Discovery stops when ctx ends or cleanup
// is called. The verifier's metrics are registered with reg.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Verifier, func(), error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, fmt.Errorf("introspection: %w", err)
	}
	setDefault(&cfg.CacheTTL, DefaultCacheTTL)
	setDefault(&cfg.NegativeTTL, min(DefaultNegativeTTL, cfg.CacheTTL))
	cfg.NegativeTTL = min(cfg.NegativeTTL, cfg.CacheTTL)
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.RetryMax, 10*time.Second)
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.MaxInFlightPerClient == 0 {
		cfg.MaxInFlightPerClient = max(1, cfg.MaxInFlight/DefaultShareDivisor)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = jwtverify.NewHTTPClient(cfg.Timeout)
	}
	client := *cfg.HTTPClient
	client.Timeout = cfg.Timeout
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Transport = pooled(client.Transport, cfg.MaxInFlight)

	v := &Verifier{
		cfg:    cfg,
		client: &client,
		// RFC 6749 §2.3.1: the id and secret are form-encoded, then joined.
		auth:    "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(cfg.ClientID)+":"+url.QueryEscape(cfg.ClientSecret))),
		cache:   newCache(cfg.CacheSize),
		slots:   newSlots(cfg.MaxInFlight),
		shares:  newShares(cfg.MaxInFlightPerClient),
		log:     log,
		stopped: make(chan struct{}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "introspection_requests_total",
			Help: "Requests to the introspection endpoint, by result (active, inactive, error).",
		}, []string{"result"}),
	}
	issuer, endpoint := cfg.Issuer, cfg.Endpoint
	v.issuer.Store(&issuer)
	v.endpoint.Store(&endpoint)
	if err := v.register(reg); err != nil {
		return nil, nil, fmt.Errorf("introspection: metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	if endpoint == "" {
		go v.discover(ctx)
	} else {
		close(v.stopped)
	}
	log.Info("verifying tokens by introspection", "endpoint", endpoint, "issuer", issuer, "audiences", cfg.Audiences)
	return v, func() { cancel(); <-v.stopped }, nil
}

// pooled returns rt with room for n connections to the endpoint, all of
// them kept open between requests. An http.Transport keeps 2 idle
// connections per host unless told otherwise: with more requests in
// flight, most answers would close their connection and the next request
// open another (a TCP handshake, and a TLS one over https, for each
// token). MaxConnsPerHost is n too, so a request that finds every
// connection busy waits for one rather than opening more than the
// requests that may be in flight. Round trippers other than an
// *http.Transport are returned as they are.
func pooled(rt http.RoundTripper, n int) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return rt
	}
	t = t.Clone()
	t.MaxConnsPerHost = n
	t.MaxIdleConnsPerHost = n
	if t.MaxIdleConns != 0 && t.MaxIdleConns < n { // 0 is no limit
		t.MaxIdleConns = n
	}
	return t
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// discover finds the endpoint in the issuer's metadata, retrying with
// back-off until it does or ctx ends.
func (v *Verifier) discover(ctx context.Context) {
	defer close(v.stopped)
	for failures := 0; ; failures++ {
		md, from, err := jwtverify.Discover(ctx, v.cfg.HTTPClient, v.cfg.Issuer)
		if err == nil && md.IntrospectionEndpoint == "" {
			err = fmt.Errorf("%s names no introspection_endpoint; set INTROSPECTION_URL", from)
		}
		if err == nil {
			if _, err = jwtverify.CheckURL(md.IntrospectionEndpoint); err != nil {
				err = fmt.Errorf("%s: introspection_endpoint: %w", from, err)
			}
		}
		if err == nil {
			v.issuer.Store(&md.Issuer)
			v.endpoint.Store(&md.IntrospectionEndpoint)
			v.log.Info("introspection endpoint discovered", "endpoint", md.IntrospectionEndpoint, "issuer", md.Issuer)
			return
		}
		wait := min(time.Second<<min(failures, 10), v.cfg.RetryMax)
		v.log.Warn("discovering the introspection endpoint failed", "error", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// endpointName names the endpoint for clients: the 503 answer says
// "not available: the token introspection endpoint; retry shortly".
const endpointName = "the token introspection endpoint"

// unavailable is the error for a token the endpoint cannot judge now (a
// 503 naming the endpoint); cause is for the log only.
func unavailable(cause error) error {
	return &domain.UnavailableError{What: endpointName, Cause: fmt.Errorf("introspection: %w", cause)}
}

// errBusy: too many introspections are under way; errClientBusy: too
// many of one client's.
var (
	errBusy       = unavailable(errors.New("too many introspection requests in flight"))
	errClientBusy = unavailable(errors.New("too many introspection requests in flight for this client address"))
)

// Verify implements ports.TokenVerifier: VerifyFrom an unknown client.
func (v *Verifier) Verify(ctx context.Context, rawToken string) (domain.Principal, error) {
	p, _, err := v.VerifyFrom(ctx, "", rawToken)
	return p, err
}

// VerifyFrom implements ports.CallingVerifier: client has at most
// MaxInFlightPerClient requests to the endpoint under way, and called
// says whether this one made one.
func (v *Verifier) VerifyFrom(ctx context.Context, client, rawToken string) (p domain.Principal, called bool, err error) {
	if v.cfg.Tracer == nil {
		return v.verifyFrom(ctx, client, rawToken, nil)
	}
	ctx, span := v.cfg.Tracer.Start(ctx, "token.verify")
	defer span.End()
	var cache string
	p, called, err = v.verifyFrom(ctx, client, rawToken, &cache)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{attrProvider.String("introspection"), attrCalled.Bool(called)}
		if iss := *v.issuer.Load(); iss != "" {
			attrs = append(attrs, attrIssuer.String(iss))
		}
		if cache != "" {
			attrs = append(attrs, attrCache.String(cache))
		}
		span.SetAttributes(attrs...)
		jwtverify.EndWithError(span, err)
	}
	return p, called, err
}

// Span attributes, as adapters/jwtverify names them.
const (
	attrProvider = attribute.Key("spaapi.auth_provider")
	attrIssuer   = attribute.Key("spaapi.token.issuer")
	attrCache    = attribute.Key("spaapi.token.cache")
	attrCalled   = attribute.Key("spaapi.introspection.called")
)

// verifyFrom is VerifyFrom; cache, if not nil, is told what the answer
// cache said ("hit" or "miss"), for the span.
func (v *Verifier) verifyFrom(ctx context.Context, client, rawToken string, cache *string) (p domain.Principal, called bool, err error) {
	if len(rawToken) > jwtverify.MaxTokenBytes {
		return domain.Principal{}, false, domain.InvalidToken(domain.ReasonTooLarge, nil)
	}
	if !b64token(rawToken) {
		return domain.Principal{}, false, domain.InvalidToken(domain.ReasonMalformed, errors.New("not an RFC 6750 b64token"))
	}
	key := sha256.Sum256([]byte(rawToken))
	now := v.cfg.Now()
	if v.cache != nil {
		e, ok := v.cache.get(key, now)
		if cache != nil {
			*cache = "miss"
			if ok {
				*cache = "hit"
			}
		}
		if ok {
			if e.inactive {
				return domain.Principal{}, false, domain.InvalidToken(domain.ReasonInactive, errors.New("introspection: inactive (cached)"))
			}
			if now.Before(e.notBefore) {
				return domain.Principal{}, false, domain.InvalidToken(domain.ReasonNotYetValid, nil)
			}
			return e.principal, false, nil
		}
	}
	endpoint := *v.endpoint.Load()
	if endpoint == "" {
		return domain.Principal{}, false, v.Ready(ctx)
	}
	var asked bool // set by the call this request starts, if it does
	c, started := v.flight.do(key, func() (domain.Principal, error) {
		// Shared by every request for this token: it outlives the first
		// caller's context, not the timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.cfg.Timeout)
		defer cancel()
		return v.introspect(ctx, endpoint, rawToken, key, client, &asked)
	})
	select {
	case <-c.done:
		return c.p, started && asked, c.err
	case <-ctx.Done():
		// Gone before the answer: the call it started, if any, counts.
		return domain.Principal{}, started, unavailable(fmt.Errorf("waiting for the endpoint's answer: %w", ctx.Err()))
	}
}

// introspect asks the endpoint about raw, for client, and judges the
// answer; it sets *asked when it sends the request.
func (v *Verifier) introspect(ctx context.Context, endpoint, raw string, key [32]byte, client string, asked *bool) (domain.Principal, error) {
	if !v.shares.enter(client) {
		v.results.WithLabelValues("error").Inc()
		return domain.Principal{}, errClientBusy
	}
	defer v.shares.leave(client)
	if !v.slots.enter() {
		v.results.WithLabelValues("error").Inc()
		return domain.Principal{}, errBusy
	}
	defer v.slots.leave()
	*asked = true
	answer, err := v.ask(ctx, endpoint, raw)
	if err != nil {
		v.results.WithLabelValues("error").Inc()
		v.log.WarnContext(ctx, "token introspection failed", "endpoint", endpoint, "error", err)
		return domain.Principal{}, unavailable(err)
	}
	now := v.cfg.Now()
	if answer.inactive {
		v.results.WithLabelValues("inactive").Inc()
		if v.cache != nil {
			v.cache.put(key, entry{inactive: true, until: now.Add(v.cfg.NegativeTTL)}, now)
		}
		return domain.Principal{}, domain.InvalidToken(domain.ReasonInactive, errors.New(`introspection: "active": false`))
	}
	v.results.WithLabelValues("active").Inc()
	p, e, err := v.judge(answer.members, now)
	if err != nil {
		return domain.Principal{}, err
	}
	if v.cache != nil {
		// RFC 7662 §4: an answer is not used past its exp. The clock
		// tolerance judge allowed is for the issuer's fresh word, not for
		// our memory of it: a cached answer ends at exp by this clock,
		// and one judged active at or past exp is not cached at all.
		e.until = now.Add(v.cfg.CacheTTL)
		if !p.ExpiresAt.IsZero() {
			e.until = minTime(e.until, p.ExpiresAt)
		}
		if now.Before(e.until) {
			e.principal = p
			v.cache.put(key, e, now)
		}
	}
	return p, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// answer is the endpoint's answer: inactive, or active with its members.
type answer struct {
	inactive bool
	members  map[string]any
}

// ask posts the token to the endpoint. Any answer other than a 200 with a
// JSON object whose "active" is a boolean is an error. Every answer's
// status is the endpoint's verdict on the API's credentials (Ready).
func (v *Verifier) ask(ctx context.Context, endpoint, raw string) (answer, error) {
	body := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", v.auth)
	end := jwtverify.TraceHTTP(v.cfg.Tracer, req)
	resp, err := v.client.Do(req)
	end(resp, err)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	v.heard(endpoint, resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		// A short error body is read to its end, so the connection
		// carries the next request instead of being closed.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		hint := ""
		if refusesCredentials(resp.StatusCode) {
			hint = " (check INTROSPECTION_CLIENT_ID and its secret)"
		}
		return answer{}, fmt.Errorf("POST %s: status %d%s", endpoint, resp.StatusCode, hint)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: reading the answer: %w", endpoint, err)
	}
	if len(b) > MaxAnswerBytes {
		return answer{}, fmt.Errorf("POST %s: answer larger than %d bytes", endpoint, MaxAnswerBytes)
	}
	var members map[string]any
	if err := json.Unmarshal(b, &members); err != nil || members == nil {
		return answer{}, fmt.Errorf("POST %s: the answer is not a JSON object", endpoint)
	}
	active, ok := members["active"].(bool)
	if !ok {
		return answer{}, fmt.Errorf(`POST %s: the answer's "active" is missing or not a boolean`, endpoint)
	}
	if !active {
		return answer{inactive: true}, nil
	}
	return answer{members: members}, nil
}

// b64token reports whether s is an RFC 6750 b64token, the only shape a
// bearer token has: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// AuthorizationServers lists the issuer whose tokens c accepts, when
// set: the authorization server of the API's protected resource metadata
// (RFC 9728).
func (c Config) AuthorizationServers() []string {
	if c.Issuer == "" {
		return nil
	}
	return []string{c.Issuer}
}
