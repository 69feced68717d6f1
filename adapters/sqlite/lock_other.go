//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package sqlite

import "os"

// tryLock does nothing where there is no flock: one process per file is
// then up to the operator.
func tryLock(*os.File) error { return nil }
