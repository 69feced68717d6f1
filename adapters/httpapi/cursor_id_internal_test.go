package httpapi

import (
	"testing"
	"time"

	"github.com/example/spaapi/domain"
)

// A cursor's ID is lowercase hex and nothing else: every byte value, alone
// as the ID and in the middle of a hex ID, is accepted only when it is one
// of 0-9 a-f. (Loosening the check to a-z, say, let "z" through unseen.)
func TestDecodeCursorIDIsLowercaseHex(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for b := range 256 {
		c := byte(b)
		hex := '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
		for _, id := range []string{string([]byte{c}), "0123456789abcdef" + string([]byte{c}) + "00"} {
			s := encodeCursor(&domain.MessageKey{CreatedAt: at, ID: id})
			k, ok := decodeCursor(s)
			switch {
			case ok != hex:
				t.Errorf("ID %q (byte %#02x): accepted %v, want %v", id, c, ok, hex)
			case ok && (k.ID != id || !k.CreatedAt.Equal(at)):
				t.Errorf("ID %q: decoded as %+v", id, k)
			}
		}
	}
}
