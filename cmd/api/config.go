package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/jwtverify"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/app"
)

// config is everything run needs, parsed and checked.
type config struct {
	identity identity
	web      httpapi.Config
	addr     string
	maxConns int // most connections the API holds open at once
	// perClientConns is the most of them one client holds (0: no share).
	perClientConns int
	memory         memoryPlan // MEMORY_LIMIT and what it is shared into
	metricsAddr    string     // "" when metrics are off
	// metricsDefault: metricsAddr is the default, not asked for, so a busy
	// port there only costs the metrics, not the start-up.
	metricsDefault bool
	// dev is set with -dev: run the development issuer too. The identity
	// provider's issuer and audience are then filled in from it.
	dev *devSettings
	// store is where messages are kept (DATABASE_URL), quota how many
	// each author may keep (MESSAGES_PER_USER).
	store storeConfig
	quota app.MessageQuota
	// dpop is how DPoP-bound tokens are accepted (DPOP_*, REDIS_URL,
	// PUBLIC_URL, TRUSTED_PROXIES).
	dpop dpopConfig
	// limiter is the failed-credential limit (AUTH_FAILURE_LIMIT,
	// REDIS_URL).
	limiter limiterConfig
	// spa is the built SPA served from the API's origin (SPA_*).
	spa spaConfig
	// metadata is what the API says of itself besides its routes
	// (RESOURCE_*, PUBLIC_URL), resolved once the identity is final.
	metadata metadataConfig
	// logLevel is the least level logged (LOG_LEVEL); traces says where
	// spans go, if anywhere (OTEL_*; tracing.go).
	logLevel slog.Level
	traces   tracesConfig
	// tls is HTTPS (TLS_*, HSTS_MAX_AGE), shutdown the stop (SHUTDOWN_*).
	tls      tlsConfig
	shutdown shutdownConfig
}

// devSettings locate the development issuer.
type devSettings struct {
	dir        string // keys and config.json
	issuerAddr string // loopback listen address
	// mtlsAddr is the loopback listen address of the issuer's token
	// endpoint over mutual TLS (DEV_ISSUER_MTLS_ADDR), served when the
	// API asks for client certificates.
	mtlsAddr string
	// apiOrigins are the API's own origins, set by run once it listens:
	// where the SPA it serves (SPA_DIR) logs in from.
	apiOrigins []string
}

const (
	defaultOrigins        = "http://localhost:3000,http://localhost:5173"
	defaultClockTolerance = 5 * time.Second
	maxClockTolerance     = 10 * time.Minute
)

// setting is one configuration value: a flag and the environment
// variables it can also come from (the first one named in errors).
type setting struct {
	flag  string
	envs  []string
	usage string
	value *string
}

// loadConfig reads flags (which win) and environment variables. Errors are
// one line naming the variable (or flag) and what is wrong with it.
func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	settings := []*setting{
		{flag: "issuer-base-url", envs: []string{"ISSUER_BASE_URL"}, usage: "the token issuer, e.g. https://TENANT.auth0.com/"},
		{flag: "audience", envs: []string{"AUDIENCE", "AUTH0_AUDIENCE"}, usage: "the API identifier tokens must be issued for; comma-separated for several (required)"},
		{flag: "jwks-uri", envs: []string{"JWKS_URI"}, usage: "where the signing keys are; skips discovery"},
		{flag: "token-signing-alg", envs: []string{"TOKEN_SIGNING_ALG"}, usage: "allowed signing algorithms, comma-separated (default RS256)"},
		{flag: "clock-tolerance", envs: []string{"CLOCK_TOLERANCE"}, usage: "leeway for exp, nbf and iat, e.g. 5s or 5 (default 5s)"},
		{flag: "allowed-origins", envs: []string{"ALLOWED_ORIGINS"}, usage: "browser origins allowed by CORS, comma-separated (default " + defaultOrigins + ")"},
		{flag: "addr", envs: []string{"ADDR"}, usage: "listen address, e.g. :8080 or 127.0.0.1:8080 (wins over PORT)"},
		{flag: "port", envs: []string{"PORT"}, usage: "listen port (default 8080)"},
		{flag: "token-cache-size", envs: []string{"TOKEN_CACHE_SIZE"}, usage: "verified-token cache entries; 0 disables (default 10000)"},
		{flag: "token-cache-ttl", envs: []string{"TOKEN_CACHE_TTL"}, usage: "longest a cached verification is trusted (default 5m)"},
		{flag: "max-conns", envs: []string{"MAX_CONNS"}, usage: "most connections the API holds open at once (default: what MEMORY_LIMIT leaves room for, at most 3/4 of the open-file limit and 10000)"},
		{flag: "max-conns-per-client", envs: []string{"MAX_CONNS_PER_CLIENT"}, usage: "most of MAX_CONNS one client (an IPv4 address or IPv6 /64) holds open; TRUSTED_PROXIES are not held to it; off for no share (default: a quarter of MAX_CONNS, at most 512)"},
		{flag: "memory-limit", envs: []string{"MEMORY_LIMIT"}, usage: "most memory (RSS) the API may use, e.g. 512MiB or 2GiB; sizes MAX_CONNS and the buffers (default GOMEMLIMIT, else the cgroup's limit, else 1GiB or half the machine's memory)"},
		{flag: "metrics-addr", envs: []string{"METRICS_ADDR"}, usage: "listen address of /metrics, or off (default 127.0.0.1:9090)"},
		{flag: "auth-provider", envs: []string{"AUTH_PROVIDER"}, usage: "identity provider: one of " + strings.Join(providerNames(), ", ") + " (default " + defaultProvider + ")"},
		{flag: "roles-claim", envs: []string{"ROLES_CLAIM"}, usage: "where roles are: claim names or dot paths, comma-separated (each provider has its default; see docs/identity-providers.md)"},
		{envs: []string{"DATABASE_URL"}, usage: "where messages are kept: sqlite:PATH, file:PATH, postgres://…, postgresql://… or memory: (default: an SQLite file)"},
		{flag: "database-max-conns", envs: []string{"DATABASE_MAX_CONNS"}, usage: "most connections to PostgreSQL (default: pool_max_conns in DATABASE_URL, else 4 × GOMAXPROCS from 8 to 16)"},
		{flag: "messages-per-user", envs: []string{"MESSAGES_PER_USER"}, usage: "messages one author may keep (default 1000)"},
		{flag: "log-level", envs: []string{"LOG_LEVEL"}, usage: "least level logged: debug, info, warn or error (default info)"},
	}
	settings = append(settings, dpopSettings()...)
	settings = append(settings, limiterSettings()...)
	settings = append(settings, spaSettings()...)
	settings = append(settings, metadataSettings()...)
	settings = append(settings, stepUpSettings()...)
	settings = append(settings, ownSettings()...)
	settings = append(settings, tlsSettings()...)
	settings = append(settings, shutdownSettings()...)
	for _, s := range settings {
		if s.flag != "" {
			s.value = fs.String(s.flag, "", s.usage+" [env "+strings.Join(s.envs, " or ")+"]")
		}
	}
	dev := fs.Bool("dev", false, "also run the development issuer on loopback and trust only it (never in production)")
	devDir, devAddr := devFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: api [flags]            serve the API\n"+
			"       api -dev [flags]       serve the API and a development issuer, offline\n"+
			"       api token [flags]      print a development access token (see api token -h)\n"+
			"       api proof [flags]      print a DPoP proof made with the development DPoP key (see api proof -h)\n"+
			"       api rotate-dev-keys    give the development issuer a new signing key\n"+
			"       api healthcheck        exit 0 if the running API's /readyz answers 200, else 1 (see api healthcheck -h)\n"+
			"       api backup DEST        copy the SQLite database into the new file DEST while the API runs (see api backup -h)\n"+
			"       api version            print the module, its version and the VCS revision it was built from\n\n"+
			"Every flag but -dev can also be set by the environment variable named with it.\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nEnvironment only (they may hold secrets, and flags show in ps):\n")
		for _, s := range settings {
			if s.flag == "" {
				fmt.Fprintf(stderr, "  %s\n    \t%s\n", s.envs[0], s.usage)
			}
		}
		fmt.Fprintf(stderr, "  OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, ...\n    \ttraces over OTLP/HTTP, off unless an endpoint is set (docs/configuration.md#traces)\n")
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// get returns a setting's value (by flag name, or by variable for the
	// environment-only ones) and the name to use in errors.
	get := func(name string) (string, string, error) {
		for _, s := range settings {
			if s.flag != name && (s.flag != "" || s.envs[0] != name) {
				continue
			}
			if s.flag != "" && set[name] {
				return strings.TrimSpace(*s.value), "-" + name, nil
			}
			value, from := "", s.envs[0]
			for _, env := range s.envs {
				v := strings.TrimSpace(getenv(env))
				if v == "" {
					continue
				}
				if value != "" && v != value {
					return "", "", fmt.Errorf("%s and %s disagree (%q and %q); set one of them", from, env, value, v)
				}
				value, from = v, env
			}
			return value, from, nil
		}
		panic("unknown setting " + name)
	}

	var c config
	provider, err := chooseProvider(get)
	if err != nil {
		return config{}, err
	}
	if *dev {
		if c.dev, err = devConfig(get, *devDir, *devAddr, getenv); err != nil {
			return config{}, err
		}
	}
	var opts jwtverify.Options
	tol, name, err := get("clock-tolerance")
	if err != nil {
		return config{}, err
	}
	if opts.ClockTolerance, err = clockTolerance(tol); err != nil {
		return config{}, fmt.Errorf("%s: %w", name, err)
	}
	if opts.CacheSize, opts.CacheTTL, err = cacheSettings(get); err != nil {
		return config{}, err
	}
	if c.identity, err = loadIdentity(provider, get, opts, c.dev != nil); err != nil {
		return config{}, err
	}

	origins, name, err := get("allowed-origins")
	if err != nil {
		return config{}, err
	}
	if origins == "" {
		origins = defaultOrigins
	}
	list, err := list(origins)
	if err != nil {
		return config{}, fmt.Errorf("%s: %w", name, err)
	}
	for _, o := range list {
		n, err := httpapi.NormalizeOrigin(o)
		if err != nil {
			return config{}, fmt.Errorf("%s: %w", name, err)
		}
		c.web.AllowedOrigins = append(c.web.AllowedOrigins, n)
	}

	if c.addr, err = listenAddr(get, c.dev != nil); err != nil {
		return config{}, err
	}
	if c.metricsAddr, err = metricsAddr(get, c.dev != nil); err != nil {
		return config{}, err
	}
	if v, _, _ := get("metrics-addr"); v == "" {
		c.metricsDefault = true
	}
	if c.store, err = databaseURL(get, getenv, c.dev); err != nil {
		return config{}, err
	}
	if err := databaseMaxConns(get, &c.store, runtime.GOMAXPROCS(0)); err != nil {
		return config{}, err
	}
	if c.quota, err = messagesPerUser(get); err != nil {
		return config{}, err
	}
	if c.dpop, err = loadDPoP(get); err != nil {
		return config{}, err
	}
	c.web.HTU = c.dpop.urls.HTU
	if c.web.TrustedProxies, err = trustedProxies(get); err != nil {
		return config{}, err
	}
	if c.web.ClientCertHeader, err = clientCertHeader(get, c.web.TrustedProxies); err != nil {
		return config{}, err
	}
	if c.limiter, err = loadLimiter(get, c.dpop.mode); err != nil {
		return config{}, err
	}
	if c.spa, err = loadSPA(get, c.dev != nil, c.dpop.mode); err != nil {
		return config{}, err
	}
	if c.metadata, err = loadMetadata(get); err != nil {
		return config{}, err
	}
	if c.logLevel, err = logLevel(get); err != nil {
		return config{}, err
	}
	if c.traces, err = loadTraces(getenv); err != nil {
		return config{}, err
	}
	if c.tls, err = loadTLS(get); err != nil {
		return config{}, err
	}
	if c.shutdown, err = loadShutdown(get); err != nil {
		return config{}, err
	}
	if c.web.StepUp, err = loadStepUp(get, c.dev != nil); err != nil {
		return config{}, err
	}
	if c.memory, err = memorySettings(get, getenv, c, opts.CacheSize); err != nil {
		return config{}, err
	}
	c.maxConns = c.memory.maxConns
	if c.perClientConns, err = perClientConns(get, c.maxConns); err != nil {
		return config{}, err
	}
	return c, nil
}

// maxPerClientDefault is the most MAX_CONNS_PER_CLIENT's default gives one
// client: about 85 browsers behind one NAT address at six connections each.
const maxPerClientDefault = 512

// perClientConns reads MAX_CONNS_PER_CLIENT (0 for off): by default a
// quarter of maxConns, at most maxPerClientDefault, so that four clients
// are needed to fill the cap.
func perClientConns(get getter, maxConns int) (int, error) {
	v, name, err := get("max-conns-per-client")
	if err != nil {
		return 0, err
	}
	switch v {
	case "":
		return max(1, min(maxConns/4, maxPerClientDefault)), nil
	case "off":
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is neither a positive number of connections nor off", name, v)
	}
	return min(n, maxConns), nil // at MAX_CONNS or above: no share, whatever MAX_CONNS this machine derives
}

// systemRoot is where memorySettings reads the cgroup's limit and the
// machine's memory (/proc, /sys/fs/cgroup).
var systemRoot fs.FS = os.DirFS("/")

// memorySettings resolves MEMORY_LIMIT and MAX_CONNS into the memory plan
// for c's other settings (tokenCache: TOKEN_CACHE_SIZE).
func memorySettings(get getter, getenv func(string) string, c config, tokenCache int) (memoryPlan, error) {
	limit, source, err := memoryLimit(get, getenv, systemRoot)
	if err != nil {
		return memoryPlan{}, err
	}
	nofile := openFileLimit()
	conns, connsVar, err := maxConns(get, nofile)
	if err != nil {
		return memoryPlan{}, err
	}
	replay := 0
	if c.dpop.mode != app.DPoPDisabled && c.dpop.redisURL == "" {
		replay = memory.DefaultReplayCacheSize
	}
	return planMemory(memoryInputs{
		limit: limit, limitSource: source,
		tokenCache: tokenCache, replay: replay, store: c.store.engine, storeConns: c.store.maxConns,
		procs: runtime.GOMAXPROCS(0), dev: c.dev != nil, nofile: nofile,
		maxConns: conns, maxConnsVar: connsVar, tls: c.tls.on(),
	})
}

// cacheSettings resolves TOKEN_CACHE_SIZE and TOKEN_CACHE_TTL.
func cacheSettings(get getter) (int, time.Duration, error) {
	size, ttl := jwtverify.DefaultCacheSize, jwtverify.DefaultCacheTTL
	v, name, err := get("token-cache-size")
	if err != nil {
		return 0, 0, err
	}
	if v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 0 || size > 10_000_000 {
			return 0, 0, fmt.Errorf("%s: %q is not a number of entries from 0 (off) to 10000000", name, v)
		}
	}
	v, name, err = get("token-cache-ttl")
	if err != nil {
		return 0, 0, err
	}
	if v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 || ttl > 24*time.Hour {
			return 0, 0, fmt.Errorf("%s: %q is not a duration like 5m (at most 24h)", name, v)
		}
	}
	return size, ttl, nil
}

// metricsAddr resolves METRICS_ADDR: "" means metrics are off. In
// development mode it must be loopback, like everything else.
func metricsAddr(get getter, dev bool) (string, error) {
	v, name, err := get("metrics-addr")
	switch {
	case err != nil:
		return "", err
	case v == "":
		return "127.0.0.1:9090", nil
	case v == "off":
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || !validPort(port) {
		return "", fmt.Errorf("%s: %q is not a listen address like 127.0.0.1:9090 (or off)", name, v)
	}
	if dev {
		ip, ok := loopbackIP(host)
		if !ok {
			return "", fmt.Errorf("%s: %q: with -dev /metrics listens on loopback only (e.g. 127.0.0.1:9090)", name, v)
		}
		return net.JoinHostPort(ip, port), nil
	}
	return v, nil
}

// Connection caps. Each open connection is a file descriptor: at the
// process's open-file limit (RLIMIT_NOFILE) accept fails, and new clients
// wait until they time out. So the API holds at most MAX_CONNS, by default
// three quarters of that limit, leaving the rest for the other servers,
// key fetches and files; at most maxConnsDefaultCap; and at most what
// MEMORY_LIMIT leaves room for (memory.go), since each connection may hold
// a request head of up to httpapi.MaxHeaderBytes.
const (
	maxConnsDefaultCap = 10_000
	// fileReserve is what MAX_CONNS must leave of the open-file limit.
	fileReserve = 64
	// metricsMaxConns and devIssuerMaxConns cap the other two servers:
	// Prometheus scrapes with one connection, a browser opens six.
	metricsMaxConns   = 16
	devIssuerMaxConns = 64
)

// defaultMaxConns is MAX_CONNS's default for an open-file limit (0:
// unknown), before the memory plan lowers it.
func defaultMaxConns(nofile uint64) int {
	if nofile == 0 {
		return maxConnsDefaultCap
	}
	return int(max(1, min(nofile*3/4, maxConnsDefaultCap)))
}

// maxConns reads MAX_CONNS, checked against the open-file limit nofile:
// 0 when it is not set. name is where it was set.
func maxConns(get getter, nofile uint64) (n int, name string, err error) {
	v, name, err := get("max-conns")
	if err != nil || v == "" {
		return 0, name, err
	}
	n, err = strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, "", fmt.Errorf("%s: %q is not a positive number of connections", name, v)
	}
	if nofile > 0 && uint64(n) > nofile-min(nofile, fileReserve) {
		return 0, "", fmt.Errorf("%s: %d does not fit the open-file limit of %d (each connection is a file; leave %d for the rest): lower it or raise the limit (ulimit -n)",
			name, n, nofile, fileReserve)
	}
	return n, name, nil
}

type getter func(name string) (value, from string, err error)

// listenAddr resolves ADDR (which wins) and PORT. In development mode
// the default host is 127.0.0.1 and other hosts are refused.
func listenAddr(get getter, dev bool) (string, error) {
	host := ""
	if dev {
		host = "127.0.0.1"
	}
	addr, from, err := get("addr")
	if err != nil {
		return "", err
	}
	if addr != "" {
		h, port, err := net.SplitHostPort(addr)
		if err != nil || !validPort(port) {
			return "", fmt.Errorf("%s: %q is not a listen address like :8080 or 127.0.0.1:8080", from, addr)
		}
		if dev {
			ip, ok := loopbackIP(h)
			if !ok {
				return "", fmt.Errorf("%s: %q: with -dev the API listens on loopback only (e.g. 127.0.0.1:8080)", from, addr)
			}
			return net.JoinHostPort(ip, port), nil
		}
		return addr, nil
	}
	port, from, err := get("port")
	if err != nil {
		return "", err
	}
	if port == "" {
		port = "8080"
	}
	if !validPort(port) {
		return "", fmt.Errorf("%s: %q is not a port number (0-65535)", from, port)
	}
	return net.JoinHostPort(host, port), nil
}

// loopbackIP returns the IP to listen on for a host that must be loopback,
// without asking DNS: a loopback IP as it is, and "localhost" or any name
// under .localhost (RFC 6761) as 127.0.0.1. ok is false for anything else,
// "" (every interface) included.
func loopbackIP(host string) (ip string, ok bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "127.0.0.1", true
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return host, true
	}
	return "", false
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// clockTolerance parses "5s", "1m" or a bare number of seconds.
func clockTolerance(s string) (time.Duration, error) {
	if s == "" {
		return defaultClockTolerance, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.Atoi(s)
		if err2 != nil {
			return 0, fmt.Errorf("%q is not a duration like 5s or a number of seconds", s)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < 0 || d > maxClockTolerance {
		return 0, fmt.Errorf("%v is out of range (0 to %v)", d, maxClockTolerance)
	}
	return d, nil
}

// list splits a comma-separated value, refusing empty items.
func list(s string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		out = append(out, item)
	}
	return out, nil
}
