package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/example/spaapi/adapters/sqlite"
)

// runBackup copies the SQLite database DATABASE_URL names into a new file,
// consistently, while the API keeps serving from it (sqlite.Backup: VACUUM
// INTO through a read-only connection, which neither takes the database's
// lock file nor is refused by it).
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("api backup", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: api backup DEST\n\n"+
			"Writes a consistent copy of the SQLite database DATABASE_URL names (as the server\n"+
			"reads it) into the new file DEST, while the API keeps running; DEST must not exist.\n"+
			"Restore: stop the API and start it with DATABASE_URL=sqlite:DEST (or put DEST in\n"+
			"the database's place, after moving the database and its -wal and -shm files away).\n")
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if flags.NArg() != 1 || strings.TrimSpace(flags.Arg(0)) == "" {
		return errors.New("backup: name one destination file, e.g. api backup /var/backups/messages-$(date +%F).db")
	}
	dest := flags.Arg(0)

	get := func(name string) (string, string, error) { return strings.TrimSpace(getenv(name)), name, nil }
	store, err := databaseURL(get, getenv, nil)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	switch store.engine {
	case "sqlite":
	case "postgres":
		return errors.New("backup: DATABASE_URL names a PostgreSQL database: back it up with PostgreSQL's own tools, e.g. pg_dump --format=custom --file=spaapi.dump \"$DATABASE_URL\"; api backup copies SQLite files")
	case "memory":
		return errors.New("backup: DATABASE_URL is memory:: the messages are in the server's memory only, there is no file to back up")
	default:
		return fmt.Errorf("backup: DATABASE_URL: %s has no backup here", store.display)
	}
	if _, err := os.Stat(store.target); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: DATABASE_URL: %s: no database file there; set DATABASE_URL as the server has it", store.display)
	}
	res, err := sqlite.Backup(ctx, store.target, dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, integrity_check ok)\n", store.display, res.Dest, res.Bytes)
	return nil
}
