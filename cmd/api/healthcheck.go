package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// defaultHealthcheckTimeout bounds a healthcheck: connecting, sending and
// reading the answer. /readyz itself asks the database and Redis, each
// with a timeout well below it.
const defaultHealthcheckTimeout = 3 * time.Second

// runHealthcheck asks a running API's /readyz, for a container's
// HEALTHCHECK or a supervisor's probe, where there is neither a shell nor
// curl. It returns nil (exit 0) on 200 and a one-line reason otherwise
// (exit 1). The address is the one the server listens on, from ADDR or
// PORT as the server reads them, or -url; with TLS_CERT_FILE, over HTTPS
// (healthcheckTLS).
func runHealthcheck(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", "", "the URL to ask (default: /readyz on the loopback address of ADDR or PORT)")
	timeout := fs.Duration("timeout", defaultHealthcheckTimeout, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: api healthcheck [flags]\n\n"+
			"Asks a running API's /readyz; exits 0 if it answers 200, 1 with the reason otherwise.\n"+
			"The address comes from ADDR or PORT, as the server reads them (an address on every\n"+
			"interface, such as :8080, is asked on loopback). With TLS_CERT_FILE it asks over\n"+
			"HTTPS, trusting the certificates in that file and the system's, and naming the\n"+
			"server by the certificate's first DNS name when it asks an IP address.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q (see api healthcheck -h)", fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("healthcheck: -timeout: %v is not a positive duration", *timeout)
	}
	u := *target
	if u == "" {
		var err error
		if u, err = readyzURL(getenv); err != nil {
			return fmt.Errorf("healthcheck: %w", err)
		}
	} else if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("healthcheck: -url: %q is not an http or https URL", u)
	}
	tlsConf, err := healthcheckTLS(getenv, u)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	if err := checkReady(u, tlsConf, *timeout); err != nil {
		return fmt.Errorf("healthcheck: %s: %w", u, err)
	}
	fmt.Fprintf(stdout, "%s: ready\n", u)
	return nil
}

// readyzURL is /readyz on the address the server listens on: ADDR or PORT
// read as the server reads them, with an address on every interface (":8080",
// "0.0.0.0:8080", "[::]:8080") asked on loopback.
func readyzURL(getenv func(string) string) (string, error) {
	get := func(name string) (string, string, error) {
		env := strings.ToUpper(name)
		return strings.TrimSpace(getenv(env)), env, nil
	}
	addr, err := listenAddr(get, false)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if strings.TrimSpace(getenv("TLS_CERT_FILE")) != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/readyz", nil
}

// checkReady GETs u once (over TLS with tlsConf, if not nil): nil on 200,
// else why not, in one line.
func checkReady(u string, tlsConf *tls.Config, timeout time.Duration) error {
	client := &http.Client{
		Timeout: timeout,
		// Straight to the server: no proxy from the environment, no
		// connection kept, and a redirect is an answer, not a 200.
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: tlsConf},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(u)
	if err != nil {
		var ue *url.Error
		if !errors.As(err, &ue) {
			return err
		}
		if ue.Timeout() {
			return fmt.Errorf("no answer within %v", timeout)
		}
		return ue.Err // the URL is said once, by the caller
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	// The API's answers say what is missing in error_description
	// ("not available: the DPoP replay store; retry shortly").
	var answer struct {
		Description string `json:"error_description"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(body, &answer) == nil && answer.Description != "" {
		return fmt.Errorf("%s: %s", resp.Status, oneLine(answer.Description))
	}
	return errors.New(resp.Status)
}

// oneLine keeps a reason from another program on one line, and short.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}
