package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/adapters/devissuer"
	"github.com/example/spaapi/adapters/dpop"
	"github.com/example/spaapi/adapters/httpapi"
	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/ports"
)

// devFlags adds the flags that locate the development issuer.
func devFlags(fs *flag.FlagSet) (dir, addr *string) {
	dir = fs.String("dev-dir", "", "development issuer's keys and config.json (default $XDG_CONFIG_HOME/spaapi/dev) [env DEV_DIR]")
	addr = fs.String("dev-issuer-addr", "", "development issuer's loopback listen address (default 127.0.0.1:8081) [env DEV_ISSUER_ADDR]")
	return dir, addr
}

// devConfig checks the development settings. -dev runs its own issuer, so
// an issuer from the environment (the shared settings, or the default
// provider's own, such as its domain shortcut) is a mistake worth stopping for.
func devConfig(get getter, dir, addr string, getenv func(string) string) (*devSettings, error) {
	for _, name := range devIssuerSettings() {
		if v, from, _ := get(name); v != "" {
			return nil, fmt.Errorf("%s is set, but -dev runs its own issuer; unset it or drop -dev", from)
		}
	}
	d, err := devLocation(dir, addr, getenv)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// devIssuerSettings are the settings -dev's own issuer stands in for: the
// shared issuer settings and the default provider's own.
func devIssuerSettings() []string {
	names := []string{"issuer-base-url", "jwks-uri"}
	for _, s := range providers[defaultProvider].settings {
		names = append(names, s.Name())
	}
	return names
}

// devLocation resolves -dev-dir and -dev-issuer-addr (flag, env, default).
func devLocation(dir, addr string, getenv func(string) string) (*devSettings, error) {
	if dir == "" {
		dir = getenv("DEV_DIR")
	}
	if dir == "" {
		base := getenv("XDG_CONFIG_HOME")
		if base == "" {
			if home := getenv("HOME"); home != "" {
				base = filepath.Join(home, ".config")
			}
		}
		if base == "" {
			return nil, errors.New("DEV_DIR: cannot find a home directory; set DEV_DIR or -dev-dir")
		}
		dir = filepath.Join(base, "spaapi", "dev")
	}
	if addr == "" {
		addr = getenv("DEV_ISSUER_ADDR")
	}
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port) {
		return nil, fmt.Errorf("DEV_ISSUER_ADDR: %q is not a listen address like 127.0.0.1:8081", addr)
	}
	ip, ok := loopbackIP(host)
	if !ok {
		return nil, fmt.Errorf("DEV_ISSUER_ADDR: %q: the development issuer listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	mtlsAddr := getenv("DEV_ISSUER_MTLS_ADDR")
	if mtlsAddr == "" {
		mtlsAddr = "127.0.0.1:8082"
	}
	mhost, mport, err := net.SplitHostPort(mtlsAddr)
	mip, ok := loopbackIP(mhost)
	if err != nil || !validPort(mport) || !ok {
		return nil, fmt.Errorf("DEV_ISSUER_MTLS_ADDR: %q is not a loopback listen address like 127.0.0.1:8082", mtlsAddr)
	}
	return &devSettings{dir: dir, issuerAddr: net.JoinHostPort(ip, port), mtlsAddr: net.JoinHostPort(mip, mport)}, nil
}

// parseDevCommand adds the dev directory flags to fs, parses args and
// locates the development issuer. A nil location with a nil error means
// -h was asked for and answered.
func parseDevCommand(fs *flag.FlagSet, args []string, getenv func(string) string) (*devSettings, error) {
	dir, addr := devFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, err
	}
	return devLocation(*dir, *addr, getenv)
}

// startDevIssuer opens the issuer's listener, points cfg.identity at it so
// the API trusts it (through the ordinary auth0 adapter), serves it until
// ctx ends and prints the development banner.
func startDevIssuer(ctx context.Context, cfg *config, cert *httpapi.Certificate, log *slog.Logger, stderr io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", cfg.dev.issuerAddr)
	if err != nil {
		return nil, fmt.Errorf("development issuer: listen: %w (set -dev-issuer-addr to another loopback address)", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	issuer := devissuer.IssuerURL(port)
	proofs, err := devIssuerProofs(cfg.dev.dir)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("development issuer: %w", err)
	}
	var opts []devissuer.Option
	spaLine := "(cd web && npm ci && npm run dev)   http://localhost:5173"
	if cfg.spa.dir != "" && len(cfg.dev.apiOrigins) > 0 {
		// The SPA the API serves logs in from the API's own origin.
		opts = append(opts, devissuer.AllowOrigins(cfg.spa.clientID, cfg.dev.apiOrigins...))
		spaLine = cfg.dev.apiOrigins[0] + "/   (SPA_DIR " + cfg.spa.dir + ")"
	}
	srv, configPath, err := devissuer.Open(cfg.dev.dir, issuer, proofs, log, opts...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("development issuer: %w", err)
	}
	if aud := cfg.identity.setting("audience"); aud != "" && aud != srv.Audience() {
		ln.Close()
		return nil, fmt.Errorf("AUDIENCE is %q but the development issuer issues tokens for %q (audience in %s); unset AUDIENCE or change the file",
			aud, srv.Audience(), configPath)
	}
	if err := cfg.identity.trust(issuer, srv.Audience()); err != nil {
		ln.Close()
		return nil, fmt.Errorf("development issuer: %w", err)
	}

	// With the API asking for client certificates, the token endpoint over
	// mutual TLS too (RFC 8705), with the API's certificate.
	var mtls *http.Server
	mtlsLine := ""
	if cert != nil && cfg.tls.askClients {
		mln, err := net.Listen("tcp", cfg.dev.mtlsAddr)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("development issuer: listen: %w (set DEV_ISSUER_MTLS_ADDR to another loopback address)", err)
		}
		_, mport, _ := net.SplitHostPort(mln.Addr().String())
		tokenURL := "https://localhost:" + mport + "/oauth/token"
		srv.ServeMutualTLS(tokenURL, cfg.dev.dir)
		mtls = httpapi.NewServer(mln.Addr().String(), srv.Handler(), log)
		go httpapi.ServeTLS(mtls, httpapi.LimitConnections(mtls, mln, devIssuerMaxConns, log), cert)
		mtlsLine = "\n  mTLS token " + tokenURL + " (" + devissuer.DefaultMachine + " with the certificate of api token -mtls)"
	}
	hs := httpapi.NewServer(ln.Addr().String(), srv.Handler(), log)
	go hs.Serve(httpapi.LimitConnections(hs, ln, devIssuerMaxConns, log))
	fmt.Fprintf(stderr, `
  ==== DEVELOPMENT MODE: not for production, anyone can log in as anyone ====
  issuer     %s
  audience   %s
  users      %s
  token      go run github.com/example/spaapi/cmd/api token -scope read:messages%s
  SPA        %s
  ============================================================================

`, issuer, srv.Audience(), configPath, mtlsLine, spaLine)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		if mtls != nil {
			mtls.Shutdown(sctx)
		}
	}, nil
}

// devIssuerProofs checks the DPoP proofs sent to the development issuer's
// token endpoint: the default algorithms and window, used proofs kept in
// memory, and with "dpop_nonce": true in its config.json, nonces under a
// secret made for this run.
func devIssuerProofs(dir string) (*dpop.Verifier, error) {
	devCfg, _, err := devissuer.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg := dpop.DefaultConfig()
	if devCfg.DPoPNonce {
		cfg.NonceSecret = make([]byte, dpop.MinNonceSecretBytes)
		if _, err := rand.Read(cfg.NonceSecret); err != nil {
			return nil, err
		}
	}
	// Proofs are recorded only for authenticated clients with a valid
	// grant; each client key may hold a 16th of the cache.
	return dpop.New(cfg, memory.NewReplayCache(1<<16, ports.ReplayShares{PerKey: 1 << 12}, nil))
}

// runToken prints a development access token and nothing else on stdout.
func runToken(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "subject, or a user id from config.json such as bob (default: the first user)")
	scope := fs.String("scope", "", `space-separated scopes, e.g. "read:messages"`)
	ttl := fs.Duration("ttl", time.Hour, fmt.Sprintf("lifetime, at most %v", devissuer.MaxTokenTTL))
	client := fs.String("client", devissuer.DefaultSPAClient, "client_id / azp claim")
	count := fs.Int("count", 1, "print this many tokens, one per line, each for a distinct subject (<sub>-1, <sub>-2, ...) when above 1; for load tests")
	acr := fs.String("acr", "", `the "acr" claim: how the user logged in, for step-up rules (STEP_UP), e.g. `+devissuer.ACRMultiFactor+` (the development issuer's second step)`)
	amr := fs.String("amr", "", `the "amr" claim: authentication methods, comma-separated, e.g. pwd,otp,mfa`)
	authTime := fs.String("auth-time", "", `the "auth_time" claim: when the user logged in, in Unix seconds (e.g. $(date +%s)) or now`)
	bound := fs.Bool("dpop", false, "bind the token to the development DPoP key ("+devissuer.DPoPKeyFile+" in the dev directory, made on first use): send it as Authorization: DPoP with a proof from api proof")
	certBound := fs.Bool("mtls", false, "bind the token to the development client certificate ("+devissuer.ClientCertFile+" and "+devissuer.ClientKeyFile+
		" in the dev directory, self-signed, made on first use; RFC 8705): send it over HTTPS with curl --cert and --key, to an API with TLS_CLIENT_CERTS=request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: api token [flags]\n\nPrints an access token from the development issuer that `api -dev` trusts,\nsigned with its key on disk; the server need not be running.\n\n")
		fs.PrintDefaults()
	}
	loc, err := parseDevCommand(fs, args, getenv)
	if loc == nil {
		return err
	}
	if fs.NArg() > 0 {
		// "api token bob" would otherwise print the first user's token.
		return fmt.Errorf("token: unexpected argument %q; flags only, e.g. api token -sub %s -scope read:messages", fs.Arg(0), fs.Arg(0))
	}
	subSet := false
	fs.Visit(func(f *flag.Flag) { subSet = subSet || f.Name == "sub" })
	if subSet && strings.TrimSpace(*sub) == "" {
		return errors.New("token: -sub is empty; give a user id from config.json (e.g. alice or bob) or any subject, or leave -sub out for the first user")
	}
	devCfg, _, err := devissuer.LoadConfig(loc.dir)
	if err != nil {
		return err
	}
	keys, err := devissuer.OpenKeys(loc.dir, nil)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(loc.issuerAddr)
	m := &devissuer.Minter{Issuer: devissuer.IssuerURL(port), Audience: devCfg.Audience, Keys: keys}
	subject := *sub
	switch u, ok := devCfg.User(subject); {
	case subject == "":
		subject = devCfg.Users[0].Subject
	case ok:
		subject = u.Subject
	}
	if *count < 1 || *count > 1_000_000 {
		return fmt.Errorf("-count: %d is not between 1 and 1000000", *count)
	}
	var jkt string
	if *bound {
		key, err := devDPoPKey(loc.dir)
		if err != nil {
			return err
		}
		jkt = key.JKT()
	}
	login, err := tokenLogin(*acr, *amr, *authTime, time.Now())
	if err != nil {
		return err
	}
	var x5t string
	if *certBound {
		cert, err := devissuer.OpenClientCertificate(loc.dir)
		if err != nil {
			return err
		}
		x5t = cert.Thumbprint()
	}
	scopes := strings.Fields(*scope)
	out := bufio.NewWriter(stdout)
	for i := range *count {
		sub := subject
		if *count > 1 {
			sub = fmt.Sprintf("%s-%d", subject, i+1)
		}
		tok, _, err := m.AccessToken(devissuer.Grant{Subject: sub, ClientID: *client, Scopes: scopes,
			Permissions: append([]string{}, scopes...), TTL: *ttl, JKT: jkt, CertThumbprint: x5t, Login: login})
		if err != nil {
			return fmt.Errorf("-ttl: %w", err)
		}
		fmt.Fprintln(out, tok)
	}
	return out.Flush()
}

// tokenLogin checks api token's -acr, -amr and -auth-time (Unix seconds,
// or now) and returns the login they describe.
func tokenLogin(acr, amr, authTime string, now time.Time) (devissuer.Login, error) {
	var l devissuer.Login
	if acr != "" {
		if strings.ContainsAny(acr, " \t\r\n") {
			return l, fmt.Errorf("-acr: %q is one value, without spaces", acr)
		}
		l.ACR = acr
	}
	if amr != "" {
		for m := range strings.SplitSeq(amr, ",") {
			if m = strings.TrimSpace(m); m == "" {
				return l, fmt.Errorf("-amr: empty method in %q (comma-separated, e.g. pwd,otp,mfa)", amr)
			}
			l.AMR = append(l.AMR, m)
		}
	}
	switch authTime {
	case "":
	case "now":
		l.Time = now.Truncate(time.Second)
	default:
		secs, err := strconv.ParseInt(authTime, 10, 64)
		if err != nil || secs < 0 || secs > now.Unix()+3600 {
			return l, fmt.Errorf("-auth-time: %q is not a time in Unix seconds (e.g. $(date +%%s)), at most an hour ahead, or now", authTime)
		}
		l.Time = time.Unix(secs, 0)
	}
	return l, nil
}

// devDPoPKey returns a proof signer for the development DPoP key.
func devDPoPKey(dir string) (*dpop.Signer, error) {
	key, err := devissuer.OpenDPoPKey(dir)
	if err != nil {
		return nil, err
	}
	return dpop.NewSigner(key, "ES256")
}

// runProof prints a DPoP proof (RFC 9449) made with the development DPoP
// key, for a request to url with method, carrying token: the value of the
// DPoP header that goes with "Authorization: DPoP <token>".
func runProof(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api proof", flag.ContinueOnError)
	fs.SetOutput(stderr)
	method := fs.String("method", "GET", "the request's method")
	target := fs.String("url", "http://localhost:8080/api/private", "the URL the request goes to (query and fragment are left out of the proof)")
	token := fs.String("token", "", "the access token sent with it (from api token -dpop); empty for a token endpoint")
	nonce := fs.String("nonce", "", "the server's DPoP-Nonce, when it asks for one")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: api proof [flags]\n\nPrints a DPoP proof made with the development DPoP key (%s in the dev\ndirectory, made on first use), for one request; a proof is good for one use:\n\n"+
			"  T=$(go run github.com/example/spaapi/cmd/api token -dpop)\n"+
			"  curl -H \"Authorization: DPoP $T\" -H \"DPoP: $(go run github.com/example/spaapi/cmd/api proof -url http://localhost:8080/api/private -token $T)\" \\\n"+
			"    http://localhost:8080/api/private\n\n", devissuer.DPoPKeyFile)
		fs.PrintDefaults()
	}
	loc, err := parseDevCommand(fs, args, getenv)
	if loc == nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("proof: unexpected argument %q; flags only, e.g. api proof -method GET -url http://localhost:8080/api/private -token $T", fs.Arg(0))
	}
	u, err := url.Parse(*target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url: %q is not an http(s) URL like http://localhost:8080/api/private", *target)
	}
	if *method == "" || strings.ContainsAny(*method, " \t\r\n") {
		return fmt.Errorf("-method: %q is not an HTTP method", *method)
	}
	key, err := devDPoPKey(loc.dir)
	if err != nil {
		return err
	}
	p, err := key.Proof(*method, *target, strings.TrimSpace(*token), *nonce, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, p)
	return err
}

// runRotate gives the development issuer a new signing key.
func runRotate(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("api rotate-dev-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loc, err := parseDevCommand(fs, args, getenv)
	if loc == nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("rotate-dev-keys: unexpected argument %q (see -h)", fs.Arg(0))
	}
	keys, err := devissuer.OpenKeys(loc.dir, nil)
	if err != nil {
		return err
	}
	kid, err := keys.Rotate()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "new signing key %s in %s; older keys stay published for %v so their tokens keep working\n",
		kid, filepath.Join(loc.dir, "keys.json"), devissuer.MaxTokenTTL)
	return nil
}
