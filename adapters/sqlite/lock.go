package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// InUseError is a database file that another process has open. One
// process owns an SQLite file: the newest-page cache and the quota are
// kept consistent within a process, so a second instance must use
// PostgreSQL instead. The text is one line, ready for a start-up error.
type InUseError struct {
	Path string
	PID  int // the other process, 0 when unknown
}

func (e *InUseError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = fmt.Sprintf("another process (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s; one process per SQLite file, use PostgreSQL for several instances", e.Path, who)
}

// errLocked is what tryLock returns when another process holds the lock.
var errLocked = errors.New("locked by another process")

// fileLock is this process's exclusive lock on a database file: a lock
// file beside it (the database's name plus ".lock") locked with flock
// (lock_unix.go) while any DB of this process has the file open. The
// operating system releases it when the process ends, however it ends, so
// a restart after a crash finds it free. The lock file is never removed:
// removing it would let two processes lock two different files.
type fileLock struct {
	key  string // the database's absolute path
	f    *os.File
	refs int // DBs of this process on the file
}

// locks are the files this process holds, by absolute path: a second Open
// of a file in the same process shares the lock (tests do it; the API
// opens its file once).
var locks = struct {
	sync.Mutex
	held map[string]*fileLock
}{held: map[string]*fileLock{}}

// lockDatabase takes the lock of the database at path, or returns an
// *InUseError naming the process that holds it.
func lockDatabase(path string) (*fileLock, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	locks.Lock()
	defer locks.Unlock()
	if l := locks.held[abs]; l != nil {
		l.refs++
		return l, nil
	}
	f, err := os.OpenFile(abs+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := tryLock(f); err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	// Say who holds it, for the error another process shows.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	l := &fileLock{key: abs, f: f, refs: 1}
	locks.held[abs] = l
	return l, nil
}

// release gives up this DB's share of the lock; the last one unlocks.
func (l *fileLock) release() error {
	locks.Lock()
	defer locks.Unlock()
	if l.refs--; l.refs > 0 {
		return nil
	}
	delete(locks.held, l.key)
	return l.f.Close() // closing the only descriptor releases the lock
}

// readPID reads the process ID the holder wrote into the lock file, 0 if
// there is none.
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
