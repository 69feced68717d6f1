//go:build unix

package main

import "syscall"

// openFileLimit returns the process's open-file limit (RLIMIT_NOFILE), or
// 0 if it cannot be read or is unlimited. Go raises the soft limit to the
// hard limit at start-up, so this is what the process may really use.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if n := uint64(rl.Cur); n < 1<<40 { // RLIM_INFINITY is all ones
		return n
	}
	return 0
}
