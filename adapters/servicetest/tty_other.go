//go:build !unix

package servicetest

import (
	"errors"
	"os"
)

// openTTY: no controlling terminal to write to; the note goes to stderr.
func openTTY() (*os.File, error) { return nil, errors.New("no /dev/tty") }
