// Command api serves the API: public endpoints for everyone, protected
// endpoints for holders of a valid access token from the configured issuer.
//
//	ISSUER_BASE_URL=https://TENANT.auth0.com/ AUDIENCE=https://api.example.com go run ./cmd/api
//
// Run it with -h for every setting.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/example/spaapi"
	"github.com/example/spaapi/adapters/httpapi"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "api: %v\n", err)
		os.Exit(1)
	}
}

// run serves until ctx ends or SIGINT/SIGTERM arrives, then shuts down
// gracefully. Logs go to stderr as JSON.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], getenv, stdout, stderr)
		case "proof":
			return runProof(args[1:], getenv, stdout, stderr)
		case "rotate-dev-keys":
			return runRotate(args[1:], getenv, stderr)
		case "healthcheck":
			return runHealthcheck(args[1:], getenv, stdout, stderr)
		case "version":
			return runVersion(args[1:], stdout, stderr)
		case "backup":
			return runBackup(ctx, args[1:], getenv, stdout, stderr)
		}
	}

	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// Log lines are buffered (logwriter.go), so that no request waits on
	// stderr; Close, deferred first so that it runs last, writes out the
	// last ones.
	logOut := newLogWriter(stderr, logBufferMax)
	defer logOut.Close()
	log := slog.New(httpapi.NewLogHandlerAt(logOut, cfg.logLevel))

	reg := prometheus.NewRegistry()
	var cert *httpapi.Certificate // nil: plain HTTP
	if cfg.tls.on() {
		c, stopCert, err := startTLS(ctx, cfg.tls, log, reg)
		if err != nil {
			return err
		}
		defer stopCert()
		cert = c
	}

	// The memory plan (memory.go): the collector keeps the Go heap under
	// the plan's Go limit (and the previous limit is back when run returns,
	// for tests that run it in process); list answers share its budget.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(cfg.memory.goLimit))
	answers := httpapi.NewAnswerBudget(cfg.memory.answers)
	cfg.web.Answers = answers

	// Traces (OTEL_*), before anything that makes spans starts; nil when off.
	tracing, err := startTracing(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer tracing.shutdown()

	// Listening first: -dev's issuer lets the SPA log in from the API's
	// origin, port included (SPA_DIR).
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w (set ADDR or PORT to another address)", err)
	}
	defer ln.Close() // if start-up fails; Serve closes it otherwise
	if cfg.dev != nil {
		cfg.dev.apiOrigins = apiOrigins(ln.Addr(), cfg.tls.scheme())
		stopIssuer, err := startDevIssuer(ctx, &cfg, cert, log, logOut)
		if err != nil {
			return err
		}
		defer stopIssuer()
	}
	spa, err := cfg.spa.open(cfg.identity) // nil without SPA_DIR
	if err != nil {
		return err
	}
	if spa != nil {
		defer spa.Close()
		cfg.web.SPA = spa
	}
	version := readBuildInfo().version
	if !strings.HasPrefix(version, "v") {
		version = "" // (devel): no version to tell
	}
	if cfg.web.Metadata, err = cfg.metadata.resolve(cfg.identity, version); err != nil {
		return err
	}
	if warning := cfg.metadata.originWarning(cfg.web.Metadata.Resource); warning != "" {
		log.Warn(warning, "resource", cfg.web.Metadata.Resource, "public_url", cfg.metadata.publicURL)
	}
	// Certificate-bound tokens can be used where a client certificate
	// reaches the API: its own TLS asks for one, or trusted proxies pass
	// it on (Client-Cert or CLIENT_CERT_HEADER).
	cfg.web.Metadata.CertificateBound = cfg.tls.askClients || len(cfg.web.TrustedProxies) > 0

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "log_lines_dropped_total",
			Help: "Log lines dropped because stderr did not take them fast enough (the log buffer was full).",
		}, func() float64 { return float64(logOut.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "memory_limit_bytes",
			Help: "MEMORY_LIMIT: the most resident memory the API is sized to take (compare process_resident_memory_bytes).",
		}, func() float64 { return float64(cfg.memory.limit) }))
	if err := registerAll(reg, answers.Collectors()); err != nil {
		return err
	}
	// The store first: a database that stops start-up (a newer schema, a
	// file that cannot be opened) does so before anything else starts.
	stores, closeStores, err := openStore(ctx, cfg.store, log)
	if err != nil {
		return err
	}
	defer closeStores()
	if m, ok := stores.Database.(interface{ Collectors() []prometheus.Collector }); ok { // PostgreSQL's pool
		if err := registerAll(reg, m.Collectors()); err != nil {
			return err
		}
	}
	stores = tracing.stores(stores, cfg.store.engine)
	verifier, stopVerifier, err := cfg.identity.start(ctx, log, reg)
	if err != nil {
		return err
	}
	defer stopVerifier()
	replay, closeReplay, err := openReplay(ctx, cfg.dpop, log)
	if err != nil {
		return err
	}
	defer closeReplay()
	replay = tracing.replay(replay, cfg.dpop.store())
	limiter, closeLimiter, err := openLimiter(cfg.limiter, log)
	if err != nil {
		return err
	}
	defer closeLimiter()
	handler, cleanup, err := spaapi.NewAPI(ctx, verifier, verifier, stores, cfg.quota, cfg.dpop.proofs, replay, cfg.dpop.mode, cfg.web, log, reg, limiter)
	if err != nil {
		return err
	}
	defer cleanup()

	if cfg.metricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.metricsAddr, reg, log)
		switch {
		case err != nil && cfg.metricsDefault:
			log.Warn("no /metrics: the default address is taken; set METRICS_ADDR", "error", err)
		case err != nil:
			return err
		default:
			defer stopMetrics()
		}
	}

	if cfg.tls.hstsSet {
		handler = httpapi.HSTS(handler, cfg.tls.hsts)
	}
	drain := &httpapi.Drain{} // SHUTDOWN_DELAY
	srv := httpapi.NewServer(cfg.addr, drain.Handler(handler), log)
	limited := httpapi.LimitConnections(srv, ln, cfg.maxConns, log)
	limited.LimitPerClient(cfg.perClientConns, cfg.web.TrustedProxies)
	if err := registerAll(reg, limited.Collectors()); err != nil {
		return err
	}
	m := cfg.memory
	log.Info("memory plan",
		"memory_limit", m.limit, "from", m.limitSource, "go_memory_limit", m.goLimit,
		"max_conns", m.maxConns, "conn_bytes", m.connBytes, "answer_budget", m.answers,
		"token_cache", m.tokenCache, "dpop_replay_cache", m.replay, "log_buffer", m.logs, "message_store", m.store, "database_pool", m.pool)
	log.Info("listening", append(readBuildInfo().logAttrs(),
		"addr", ln.Addr().String(),
		"scheme", cfg.tls.scheme(),
		"max_conns", cfg.maxConns,
		"max_conns_per_client", cfg.perClientConns,
		"auth_provider", cfg.identity.name,
		"allowed_origins", cfg.web.AllowedOrigins,
		"messages", cfg.store.display,
		"messages_per_user", int(cfg.quota),
		"dpop_mode", cfg.dpop.mode.String(),
		"dpop_nonce", cfg.dpop.proofs.NonceSecret != nil,
		"dpop_replay", cfg.dpop.display,
		"auth_failure_limit", cfg.limiter.display(),
		"spa_dir", cfg.spa.dir,
		"step_up", describeStepUp(cfg.web.StepUp))...)

	served := make(chan error, 1)
	go func() { served <- serve(srv, limited, cert) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, drain, served, cfg.shutdown, log)
}

// serveMetrics serves /metrics on its own address, so that it is not
// public when the API is.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w (set METRICS_ADDR to another address, or off)", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", httpapi.MetricsHandler(reg))
	srv := httpapi.NewServer(addr, mux, log)
	go srv.Serve(httpapi.LimitConnections(srv, ln, metricsMaxConns, log))
	log.Info("metrics listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

func registerAll(reg prometheus.Registerer, cs []prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
