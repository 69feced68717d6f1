// Package postgrestest gives tests a real PostgreSQL database: the one
// TEST_DATABASE_URL names, with a fresh schema per test. Without it the
// tests skip and say once how to run them (servicetest) — except under
// CI=true, where a missing database is a failure.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/example/spaapi/adapters/servicetest"
)

// How reports how to run the PostgreSQL tests.
const How = "set TEST_DATABASE_URL=postgres://USER:PASSWORD@127.0.0.1:PORT/DB?sslmode=disable " +
	"(eval \"$(.ci/postgres start /tmp/spaapi-pg)\" starts a throwaway server and sets it)"

// Base returns TEST_DATABASE_URL, skipping t without it (failing it under
// CI=true).
func Base(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u != "" {
		return u
	}
	servicetest.Skip(t, "PostgreSQL", "TEST_DATABASE_URL is not set", How)
	return ""
}

// URL returns a URL of the test database whose search_path is a new,
// empty schema, dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	base := Base(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	exec(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { exec(t, base, `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal("TEST_DATABASE_URL is not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql on the database at dbURL.
func Exec(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	exec(t, dbURL, sql, args...)
}

func exec(t testing.TB, dbURL, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connecting to TEST_DATABASE_URL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Proxy forwards TCP connections from Addr to a database while up, to
// show a database going away and coming back. It starts down.
type Proxy struct {
	Addr   string // where clients connect: 127.0.0.1:port
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// NewProxy returns a Proxy to target (host:port) on a free loopback
// port, down until Up; it is brought down when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target}
	ln.Close()
	t.Cleanup(p.Down)
	return p
}

// Up starts forwarding.
func (p *Proxy) Up(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, d)
			p.mu.Unlock()
			go func() { io.Copy(d, c); d.Close() }()
			go func() { io.Copy(c, d); c.Close() }()
		}
	}()
}

// Down stops listening and cuts every forwarded connection.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
