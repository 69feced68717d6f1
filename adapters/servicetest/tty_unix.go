//go:build unix

package servicetest

import (
	"os"
	"syscall"
)

// openTTY opens the controlling terminal for writing. It calls open(2)
// directly: os.OpenFile would record /dev/tty as an input of the test
// result, which it is not.
func openTTY() (*os.File, error) {
	fd, err := syscall.Open("/dev/tty", syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/tty"), nil
}
