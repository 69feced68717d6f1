package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/example/spaapi/adapters/httpapi"
)

// shutdownConfig is how the API stops on SIGTERM or SIGINT.
type shutdownConfig struct {
	// delay: how long /readyz answers 503 while everything else is still
	// served, before the listener closes (SHUTDOWN_DELAY).
	delay time.Duration
	// timeout: then, how long requests in flight get to finish
	// (SHUTDOWN_TIMEOUT).
	timeout time.Duration
}

const (
	// defaultShutdownTimeout bounds the drain of requests in flight: well
	// above the 30 s a request may take only for a client that sends or
	// reads slowly, which is not worth waiting for.
	defaultShutdownTimeout = 10 * time.Second
	maxShutdownDelay       = 5 * time.Minute
	maxShutdownTimeout     = 10 * time.Minute
)

func shutdownSettings() []*setting {
	return []*setting{
		{flag: "shutdown-delay", envs: []string{"SHUTDOWN_DELAY"}, usage: "on SIGTERM, how long /readyz answers 503 while every other request is still served, before the listener closes: more than the load balancer takes to notice, e.g. 5s (default 0)"},
		{flag: "shutdown-timeout", envs: []string{"SHUTDOWN_TIMEOUT"}, usage: "then, how long requests in flight get to finish (default 10s)"},
	}
}

// loadShutdown resolves SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT.
func loadShutdown(get getter) (shutdownConfig, error) {
	c := shutdownConfig{timeout: defaultShutdownTimeout}
	v, name, err := get("shutdown-delay")
	if err != nil {
		return c, err
	}
	if v != "" {
		if c.delay, err = durationOrSeconds(v, 0, maxShutdownDelay); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	if v, name, err = get("shutdown-timeout"); err != nil {
		return c, err
	}
	if v != "" {
		if c.timeout, err = durationOrSeconds(v, time.Second, maxShutdownTimeout); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	return c, nil
}

// durationOrSeconds parses "5s", "1m30s" or a whole number of seconds
// ("5"), between least and most.
func durationOrSeconds(v string, least, most time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.ParseUint(v, 10, 32)
		if err2 != nil {
			return 0, fmt.Errorf("%q is not a duration like 5s or a number of seconds", v)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < least || d > most {
		return 0, fmt.Errorf("%v is out of range (%v to %v)", d, least, most)
	}
	return d, nil
}

// shutdown stops srv gracefully once run's context has ended: first, for
// c.delay, /readyz answers 503 and every answer closes its connection
// (drain), while every other request is still served, so that a load
// balancer takes the instance out of rotation and lets its connections go;
// a second SIGTERM or SIGINT cuts the delay short. Then the listener closes and requests
// in flight get c.timeout to finish. served is where srv.Serve returns.
func shutdown(srv *http.Server, drain *httpapi.Drain, served <-chan error, c shutdownConfig, log *slog.Logger) error {
	log.Info("shutting down", "shutdown_delay", c.delay.String(), "shutdown_timeout", c.timeout.String())
	if c.delay > 0 {
		drain.Start()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sig)
		t := time.NewTimer(c.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-sig:
			log.Info("shutting down without waiting for the rest of SHUTDOWN_DELAY: a second signal")
		case err := <-served:
			return err
		}
		log.Info("closing the listener: SHUTDOWN_DELAY has passed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: requests still running after SHUTDOWN_TIMEOUT (%v): %w", c.timeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
