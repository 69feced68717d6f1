package httpapi

import (
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/spaapi/domain"
)

// Metrics are the HTTP adapter's Prometheus metrics.
//
// Every label has a bounded set of values, fixed by this code and never
// taken as-is from a request, so no caller can grow the number of series
// (each costs memory for good and lengthens every scrape):
//
//   - route: a route template from routes.go, "spa" for the files of the
//     SPA (spa.go), or "unmatched" for anything else no route matched
//     (404s, 405s, preflights). Never the raw path.
//   - method: one of knownMethods, or "other" for anything else: a client
//     may send any token as a method, of any length.
//   - status: a status code this server's handlers write, 100-599 (the
//     handlers write a dozen or so); anything else would be "other".
//   - outcome (auth_outcomes_total): one of authOutcomes or dpopOutcomes,
//     all created at zero; an outcome not in them is counted as "other".
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	auth     *prometheus.CounterVec
	outcomes map[string]prometheus.Counter // every outcome's counter, bound once
	// clientCertHeaders counts RFC 9440 Client-Cert headers by result:
	// used (from a trusted proxy), ignored (from anyone else), malformed.
	clientCertHeaders *prometheus.CounterVec

	// series holds the request counter and histogram of every label set
	// seen so far, bound once: a request looks its own up without a lock
	// (the labels are bounded, so is the map). New label sets copy the
	// map under mu.
	series atomic.Pointer[map[seriesKey]requestSeries]
	mu     sync.Mutex
}

// seriesKey is a label set of the request metrics: route, method, status.
type seriesKey struct{ route, method, status string }

// requestSeries are the children of the request metrics for one label set.
type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// unmatchedRoute labels requests no route matched.
const unmatchedRoute = "unmatched"

// otherLabel stands for any value outside a label's known set.
const otherLabel = "other"

// knownMethods keep their name in the method label: the methods of RFC
// 9110 and PATCH (RFC 5789). Methods are case-sensitive, so "get" is other.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// methodLabel bounds the method label.
func methodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return otherLabel
}

// statusLabel bounds the status label; the strings of codes are made once.
func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return otherLabel
	}
	return statusText[status-100]
}

var statusText = func() []string {
	s := make([]string, 500)
	for i := range s {
		s[i] = strconv.Itoa(i + 100)
	}
	return s
}()

// authOutcomes are every value of auth_outcomes_total's outcome label:
// "ok", each reason a protected request is refused, and "other" for a
// reason missing from this list. They are created at zero so /metrics
// lists them all from the start.
var authOutcomes = []string{
	"ok", "missing", "invalid_request", "insufficient_scope", insufficientUserAuthentication, "forbidden", "unavailable",
	string(domain.ReasonMalformed), string(domain.ReasonTooLarge), string(domain.ReasonAlgorithm),
	string(domain.ReasonType), string(domain.ReasonCritical), string(domain.ReasonUnknownKey),
	string(domain.ReasonSignature), string(domain.ReasonExpired), string(domain.ReasonNotYetValid),
	string(domain.ReasonIssuedInFuture), string(domain.ReasonIssuer), string(domain.ReasonAudience),
	string(domain.ReasonMissingClaim), string(domain.ReasonClaimType), string(domain.ReasonInactive),
	string(domain.ReasonConfirmation), string(domain.ReasonCertificateMissing), string(domain.ReasonCertificateMismatch),
	tooManyFailures, clientClosedOutcome, otherLabel,
}

// clientClosedOutcome counts protected requests whose client closed the
// connection before the answer, wherever they were.
const clientClosedOutcome = "client_closed_request"

// NewMetrics creates the HTTP metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: `HTTP requests by route template ("unmatched" for none), method ("other" for unusual ones) and status.`,
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    `HTTP request latency by route template ("unmatched" for none), method ("other" for unusual ones) and status.`,
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_outcomes_total",
			Help: `Protected requests by outcome: "ok", or why they were refused (missing, malformed, bad_signature, expired, wrong_issuer, wrong_audience, unknown_key, insufficient_scope, too_many_failures (the failed-credential limit), ...).`,
		}, []string{"outcome"}),
		outcomes: map[string]prometheus.Counter{},
		clientCertHeaders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "client_cert_headers_total",
			Help: `Requests to protected endpoints with a Client-Cert header (RFC 9440, or CLIENT_CERT_HEADER) by result: "used" (from a trusted proxy), "ignored" (from anyone else), "malformed" (from a trusted proxy, and no certificate read).`,
		}, []string{"result"}),
	}
	for _, o := range slices.Concat(authOutcomes, dpopOutcomes()) {
		m.outcomes[o] = m.auth.WithLabelValues(o)
	}
	m.series.Store(&map[seriesKey]requestSeries{})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth, m.clientCertHeaders} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one finished request. route is a template or "".
func (m *Metrics) observe(route, method string, status int, took time.Duration, protected bool, reason string) {
	if route == "" {
		route = unmatchedRoute
	}
	s := m.seriesOf(seriesKey{route, methodLabel(method), statusLabel(status)})
	s.requests.Inc()
	s.duration.Observe(took.Seconds())
	if protected {
		switch {
		case status == StatusClientClosedRequest:
			reason = clientClosedOutcome
		case reason == "":
			reason = "ok"
		}
		c, ok := m.outcomes[reason]
		if !ok {
			c = m.outcomes[otherLabel]
		}
		c.Inc()
	}
}

// clientCerts returns the source of client certificates for protected
// requests, counting Client-Cert headers in m.
func (m *Metrics) clientCerts(proxies []netip.Prefix, header string) *clientCerts {
	if header == "" {
		header = ClientCertHeader
	}
	return &clientCerts{proxies: proxies, header: http.CanonicalHeaderKey(header),
		used:      m.clientCertHeaders.WithLabelValues("used"),
		ignored:   m.clientCertHeaders.WithLabelValues("ignored"),
		malformed: m.clientCertHeaders.WithLabelValues("malformed"),
	}
}

// seriesOf returns the children for k, binding them on first use.
func (m *Metrics) seriesOf(k seriesKey) requestSeries {
	if s, ok := (*m.series.Load())[k]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s, ok := old[k]; ok {
		return s
	}
	s := requestSeries{
		requests: m.requests.WithLabelValues(k.route, k.method, k.status),
		duration: m.duration.WithLabelValues(k.route, k.method, k.status),
	}
	next := make(map[seriesKey]requestSeries, len(old)+1)
	maps.Copy(next, old)
	next[k] = s
	m.series.Store(&next)
	return s
}

// MetricsHandler serves reg in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
