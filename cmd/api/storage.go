package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/example/spaapi/adapters/memory"
	"github.com/example/spaapi/adapters/postgres"
	"github.com/example/spaapi/adapters/sqlite"
	"github.com/example/spaapi/app"
	"github.com/example/spaapi/ports"
)

// storeConfig is the database the API keeps its data in, from
// DATABASE_URL.
type storeConfig struct {
	engine  string // a key of storeEngines
	target  string // the path or URL the engine opens
	display string // for logs: never a password
}

// storeEngines opens each storage engine DATABASE_URL can name: the
// database once, and from it the store of each resource. The stop
// function closes the database.
var storeEngines = map[string]func(ctx context.Context, target string, log *slog.Logger) (ports.Stores, func(), error){
	"sqlite": func(ctx context.Context, path string, _ *slog.Logger) (ports.Stores, func(), error) {
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return ports.Stores{}, nil, err
		}
		messages, err := db.Messages(ctx)
		if err != nil {
			db.Close()
			return ports.Stores{}, nil, err
		}
		return ports.Stores{Database: db, Messages: messages}, func() { db.Close() }, nil
	},
	"postgres": func(ctx context.Context, url string, log *slog.Logger) (ports.Stores, func(), error) {
		db, err := postgres.Open(ctx, url, log)
		if err != nil {
			return ports.Stores{}, nil, err
		}
		return ports.Stores{Database: db, Messages: db.Messages()}, db.Close, nil
	},
	"memory": func(context.Context, string, *slog.Logger) (ports.Stores, func(), error) {
		db := memory.NewDB()
		return ports.Stores{Database: db, Messages: db.Messages()}, func() {}, nil
	},
}

// databaseURL resolves DATABASE_URL (environment only: it may hold a
// password, and flags show in ps). Unset means an SQLite file: beside the
// development issuer's files with -dev, else in $XDG_DATA_HOME/spaapi.
func databaseURL(get getter, getenv func(string) string, dev *devSettings) (storeConfig, error) {
	v, _, err := get("DATABASE_URL")
	if err != nil {
		return storeConfig{}, err
	}
	if v == "" {
		path, err := defaultDatabase(getenv, dev)
		if err != nil {
			return storeConfig{}, err
		}
		return sqliteConfig(path)
	}
	scheme, rest, ok := strings.Cut(v, ":")
	switch scheme = strings.ToLower(scheme); {
	case !ok:
		return storeConfig{}, errors.New("DATABASE_URL: not a database URL: use " + databaseForms)
	case scheme == "sqlite" || scheme == "file":
		// sqlite:///abs/path and file:///abs/path name /abs/path too.
		if strings.HasPrefix(rest, "//") {
			host, path, _ := strings.Cut(rest[2:], "/")
			if host != "" && host != "localhost" {
				return storeConfig{}, fmt.Errorf("DATABASE_URL: %s: a file URL cannot name another host (%q); use %s:/path/to/messages.db", scheme, host, scheme)
			}
			rest = "/" + path
		}
		if rest == "" || rest == "/" {
			return storeConfig{}, fmt.Errorf("DATABASE_URL: %s: needs a file path, e.g. %s:/var/lib/spaapi/messages.db", scheme, scheme)
		}
		if strings.ContainsAny(rest, "?#") || strings.HasPrefix(rest, ":") {
			hint := ""
			if strings.HasPrefix(rest, ":memory:") {
				hint = "; use memory: for a store in memory"
			}
			return storeConfig{}, fmt.Errorf("DATABASE_URL: %s: %q: a plain file path is needed (no ?, # or leading :)%s", scheme, rest, hint)
		}
		return sqliteConfig(rest)
	case scheme == "postgres" || scheme == "postgresql":
		redacted, err := postgres.ParseURL(v)
		if err != nil {
			return storeConfig{}, fmt.Errorf("DATABASE_URL: %w; expected %s", err, databaseForms)
		}
		return storeConfig{engine: "postgres", target: v, display: redacted}, nil
	case scheme == "memory":
		if rest != "" {
			return storeConfig{}, errors.New("DATABASE_URL: memory: takes nothing after the colon")
		}
		return storeConfig{engine: "memory", display: "memory: (lost on restart)"}, nil
	}
	// Name the scheme only: the rest may hold a password.
	return storeConfig{}, fmt.Errorf("DATABASE_URL: %.20q is not a supported database: use %s", scheme+":", databaseForms)
}

// databaseForms are the forms of DATABASE_URL, for its errors.
const databaseForms = "sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:"

func sqliteConfig(path string) (storeConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return storeConfig{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return storeConfig{engine: "sqlite", target: abs, display: "sqlite:" + abs}, nil
}

// defaultDatabase is the SQLite file used when DATABASE_URL is unset.
func defaultDatabase(getenv func(string) string, dev *devSettings) (string, error) {
	if dev != nil {
		return filepath.Join(dev.dir, "messages.db"), nil
	}
	base := getenv("XDG_DATA_HOME")
	if base == "" {
		if home := getenv("HOME"); home != "" {
			base = filepath.Join(home, ".local", "share")
		}
	}
	if base == "" {
		return "", errors.New("DATABASE_URL is not set, and there is no home directory for the default database ($XDG_DATA_HOME/spaapi/messages.db): set DATABASE_URL, e.g. sqlite:/var/lib/spaapi/messages.db")
	}
	return filepath.Join(base, "spaapi", "messages.db"), nil
}

// messagesPerUser resolves MESSAGES_PER_USER.
func messagesPerUser(get getter) (app.MessageQuota, error) {
	v, name, err := get("messages-per-user")
	if err != nil || v == "" {
		return app.DefaultMessageQuota, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("%s: %q is not a number of messages from 1 to 1000000", name, v)
	}
	return app.MessageQuota(n), nil
}

// openStore opens the configured database and returns the store of
// every resource, and the function that closes them. Its errors name
// DATABASE_URL.
func openStore(ctx context.Context, c storeConfig, log *slog.Logger) (ports.Stores, func(), error) {
	s, stop, err := storeEngines[c.engine](ctx, c.target, log)
	if err != nil {
		return ports.Stores{}, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return s, stop, nil
}
