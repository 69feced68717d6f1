package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/spaapi/domain"
)

// Metrics are the HTTP adapter's Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	auth     *prometheus.CounterVec
	authOK   prometheus.Counter // the common case, looked up once
}

// authOutcomes are every value of auth_outcomes_total's outcome label:
// "ok", and each reason a protected request is refused. They are created
// at zero so /metrics lists them all from the start.
var authOutcomes = []string{
	"ok", "missing", "invalid_request", "insufficient_scope", "forbidden", "unavailable",
	string(domain.ReasonMalformed), string(domain.ReasonTooLarge), string(domain.ReasonAlgorithm),
	string(domain.ReasonType), string(domain.ReasonCritical), string(domain.ReasonUnknownKey),
	string(domain.ReasonSignature), string(domain.ReasonExpired), string(domain.ReasonNotYetValid),
	string(domain.ReasonIssuedInFuture), string(domain.ReasonIssuer), string(domain.ReasonAudience),
	string(domain.ReasonMissingClaim), string(domain.ReasonClaimType), string(domain.ReasonInactive),
}

// NewMetrics creates the HTTP metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_outcomes_total",
			Help: `Protected requests by outcome: "ok", or why they were refused (missing, malformed, bad_signature, expired, wrong_issuer, wrong_audience, unknown_key, insufficient_scope, ...).`,
		}, []string{"outcome"}),
	}
	for _, o := range authOutcomes {
		m.auth.WithLabelValues(o)
	}
	m.authOK = m.auth.WithLabelValues("ok")
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one finished request.
func (m *Metrics) observe(route, method string, status int, took time.Duration, protected bool, reason string) {
	if route == "" {
		route = "unmatched"
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.duration.WithLabelValues(route, method, code).Observe(took.Seconds())
	switch {
	case protected && reason == "":
		m.authOK.Inc()
	case protected:
		m.auth.WithLabelValues(reason).Inc()
	}
}

// MetricsHandler serves reg in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
