// Package postgrestest gives tests a real PostgreSQL database: the one
// TEST_DATABASE_URL names, with a fresh schema per test. Without it the
// tests skip and say how to run them — except under CI=true, where a
// missing database is a failure.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	if os.Getenv("CI") == "true" {
		t.Fatal("TEST_DATABASE_URL is not set, and under CI=true the PostgreSQL tests must run: " + How)
	}
	t.Skip("no PostgreSQL to test against: " + How)
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
