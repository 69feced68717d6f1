package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// BackupResult describes a finished backup.
type BackupResult struct {
	Dest  string // the new file, absolute
	Bytes int64  // its size
}

// Backup writes a consistent copy of the database at path into the new
// file dest while another process (the API) keeps writing to it, with
// SQLite's VACUUM INTO through a read-only connection: it reads one
// snapshot, as of the moment it starts, and under WAL neither it nor the
// writer waits for the other. It takes no lock file (lock.go): that lock
// keeps a second writer away, and a backup only reads, so it neither
// takes the lock nor is refused by it.
//
// dest must not exist: a backup never overwrites a file. The copy is
// written beside it under a temporary name, synced, checked with PRAGMA
// integrity_check and only then linked into place, so that dest is either
// complete or absent.
func Backup(ctx context.Context, path, dest string) (BackupResult, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":") {
		return BackupResult{}, fmt.Errorf("sqlite: %q is not a file path (no ?, # or leading :)", path)
	}
	src, err := filepath.Abs(path)
	if err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: %w", err)
	}
	if fi, err := os.Stat(src); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: %w", err)
	} else if !fi.Mode().IsRegular() {
		return BackupResult{}, fmt.Errorf("sqlite: %s is not a file", src)
	}
	if dest == "" {
		return BackupResult{}, errors.New("sqlite: backup: no destination file")
	}
	if dest, err = filepath.Abs(dest); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: %w", err)
	}
	if dest == src {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %s is the database itself", dest)
	}
	if _, err := os.Lstat(dest); err == nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %s: %w (a backup never overwrites a file; name a new one)", dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}

	// The copy goes to a new, empty, private file beside dest (VACUUM INTO
	// writes into an empty file, keeping its mode), linked to dest once it
	// is whole.
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)

	if err := vacuumInto(ctx, src, tmpName); err != nil {
		return BackupResult{}, err
	}
	if err := syncFile(tmpName); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := IntegrityCheck(ctx, tmpName); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: the copy: %w", err)
	}
	// A link, not a rename: it fails if dest appeared meanwhile, where a
	// rename would replace it.
	if err := os.Link(tmpName, dest); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return BackupResult{}, fmt.Errorf("sqlite: backup: %w", err)
	}
	return BackupResult{Dest: dest, Bytes: fi.Size()}, nil
}

// vacuumInto copies the database at src into the empty file dest through a
// read-only connection.
func vacuumInto(ctx context.Context, src, dest string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(src))
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Reading the schema first tells a file that is not a database (or
	// cannot be opened) apart from a failed copy.
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return fmt.Errorf("sqlite: %s: %w", src, err)
	}
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return fmt.Errorf("sqlite: backup of %s: %w", src, err)
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check on the database file at path,
// read-only, and returns nil when SQLite answers "ok", else an error
// listing what it found.
func IntegrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity_check: %w", err)
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return fmt.Errorf("integrity_check: %s", strings.Join(found, "; "))
}

// readOnlyDSN opens the file at the absolute path read-only (an SQLite URI
// filename with mode=ro), waiting out locks as the API's own connections do.
func readOnlyDSN(path string) string {
	u := url.URL{Scheme: "file", Path: path}
	return u.String() + fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", busyTimeout.Milliseconds())
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
