package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatabaseURL(t *testing.T) {
	base := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cwd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dev := t.TempDir()
	for _, tc := range []struct {
		name         string
		args         []string
		env          map[string]string
		engine, want string // want: the target opened
	}{
		{"unset: a file in XDG_DATA_HOME", nil, with("DATABASE_URL", "", "XDG_DATA_HOME", "/data", "HOME", "/home/u"), "sqlite", "/data/spaapi/messages.db"},
		{"unset: a file in ~/.local/share", nil, with("DATABASE_URL", "", "HOME", "/home/u"), "sqlite", "/home/u/.local/share/spaapi/messages.db"},
		{"unset with -dev: beside the dev issuer's files", []string{"-dev", "-dev-dir", dev}, map[string]string{"DATABASE_URL": "", "HOME": "/home/u"}, "sqlite", filepath.Join(dev, "messages.db")},
		{"sqlite:PATH", nil, with("DATABASE_URL", "sqlite:/var/lib/spaapi/m.db"), "sqlite", "/var/lib/spaapi/m.db"},
		{"sqlite: relative PATH", nil, with("DATABASE_URL", "sqlite:data/m.db"), "sqlite", filepath.Join(cwd, "data/m.db")},
		{"sqlite:///PATH", nil, with("DATABASE_URL", "sqlite:///var/m.db"), "sqlite", "/var/m.db"},
		{"file:PATH", nil, with("DATABASE_URL", "file:/var/m.db"), "sqlite", "/var/m.db"},
		{"file://localhost/PATH", nil, with("DATABASE_URL", "file://localhost/var/m.db"), "sqlite", "/var/m.db"},
		{"postgres://", nil, with("DATABASE_URL", "postgres://u:pw@db.example:5432/app?sslmode=require"), "postgres", "postgres://u:pw@db.example:5432/app?sslmode=require"},
		{"postgresql://", nil, with("DATABASE_URL", "postgresql://db.example/app"), "postgres", "postgresql://db.example/app"},
		{"memory:", nil, with("DATABASE_URL", "memory:"), "memory", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.store.engine != tc.engine || c.store.target != tc.want {
				t.Errorf("got %s %q, want %s %q", c.store.engine, c.store.target, tc.engine, tc.want)
			}
			if strings.Contains(c.store.display, "pw") {
				t.Errorf("display %q shows the password", c.store.display)
			}
			if _, ok := storeEngines[c.store.engine]; !ok {
				t.Errorf("no engine %q", c.store.engine)
			}
		})
	}

	for _, tc := range []struct {
		name, value, want string
	}{
		{"another engine, password and all", "mysql://root:hunter2@db/app", `DATABASE_URL: "mysql:" is not a supported database: use sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:`},
		{"a bare path", "/var/lib/m.db", "DATABASE_URL: not a database URL: use sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:"},
		{"sqlite without a path", "sqlite:", "DATABASE_URL: sqlite: needs a file path, e.g. sqlite:/var/lib/spaapi/messages.db"},
		{"file URL of another host", "file://nas/share/m.db", `DATABASE_URL: file: a file URL cannot name another host ("nas"); use file:/path/to/messages.db`},
		{"sqlite with options", "sqlite:/tmp/m.db?_pragma=journal_mode(OFF)", `DATABASE_URL: sqlite: "/tmp/m.db?_pragma=journal_mode(OFF)": a plain file path is needed (no ?, # or leading :)`},
		{"sqlite in memory", "sqlite::memory:", `DATABASE_URL: sqlite: ":memory:": a plain file path is needed (no ?, # or leading :); use memory: for a store in memory`},
		{"memory with a name", "memory:x", "DATABASE_URL: memory: takes nothing after the colon"},
		{"postgres with a bad port", "postgres://u:hunter2@db:port/app", `DATABASE_URL: not a valid URL (details not shown, they could repeat the password; percent-encode any @ : / ? # % in USER and PASSWORD); expected sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:`},
		{"postgres with a bad option", "postgres://u:hunter2@db/app?sslmode=sometimes", "DATABASE_URL: postgres://u:xxxxx@db/app?sslmode=sometimes: settings not accepted: sslmode is invalid; expected sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:"},
		{"postgres with a bad port, no password", "postgres://db:port/app", `DATABASE_URL: not a valid URL: invalid port ":port" after host; expected sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:`},
		{"postgres with a password holding a slash", "postgres://u:hunter2/x@db/app", `DATABASE_URL: not a valid URL (details not shown, they could repeat the password; percent-encode any @ : / ? # % in USER and PASSWORD); expected sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:`},
		{"postgres with a password parameter", "postgres://db/app?password=hunter2&sslmode=sometimes", "DATABASE_URL: postgres://db/app?password=xxxxx&sslmode=sometimes: settings not accepted: sslmode is invalid; expected sqlite:PATH, file:PATH, postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=… or memory:"},
		{"unset, no home", "", "DATABASE_URL is not set, and there is no home directory for the default database ($XDG_DATA_HOME/spaapi/messages.db): set DATABASE_URL, e.g. sqlite:/var/lib/spaapi/messages.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(nil, env(with("DATABASE_URL", tc.value)), io.Discard)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error repeats the password")
			}
		})
	}

	t.Run("not a flag", func(t *testing.T) {
		if _, err := loadConfig([]string{"-database-url", "memory:"}, env(base), io.Discard); err == nil {
			t.Errorf("-database-url accepted; it would show a password in ps")
		}
	})
}

func TestMessagesPerUser(t *testing.T) {
	base := map[string]string{"ISSUER_BASE_URL": "https://tenant.auth0.com/", "AUDIENCE": "https://api.example.com"}
	for _, tc := range []struct {
		args  []string
		value string
		want  int
		err   string
	}{
		{nil, "", 1000, ""},
		{nil, "1", 1, ""},
		{nil, "250000", 250000, ""},
		{[]string{"-messages-per-user", "7"}, "9", 7, ""},
		{nil, "0", 0, `MESSAGES_PER_USER: "0" is not a number of messages from 1 to 1000000`},
		{nil, "-5", 0, `MESSAGES_PER_USER: "-5" is not a number of messages from 1 to 1000000`},
		{nil, "1e3", 0, `MESSAGES_PER_USER: "1e3" is not a number of messages from 1 to 1000000`},
		{nil, "1000001", 0, `MESSAGES_PER_USER: "1000001" is not a number of messages from 1 to 1000000`},
		{[]string{"-messages-per-user", "x"}, "", 0, `-messages-per-user: "x" is not a number of messages from 1 to 1000000`},
	} {
		e := map[string]string{"MESSAGES_PER_USER": tc.value}
		for k, v := range base {
			e[k] = v
		}
		c, err := loadConfig(tc.args, env(e), io.Discard)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%v %q: got %v, want %s", tc.args, tc.value, err, tc.err)
		case tc.err == "" && (err != nil || int(c.quota) != tc.want):
			t.Errorf("%v %q: got %d, %v; want %d", tc.args, tc.value, c.quota, err, tc.want)
		}
	}
}
