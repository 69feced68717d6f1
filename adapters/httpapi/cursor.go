package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// A cursor is where the next page of a list (GET /api/messages, and any
// other resource listed newest first) begins: the domain.PageKey (time and
// ID) of the last item of the page before, encoded as
// unpadded base64url of
//
//	version (1 byte, 1) | created_at in Unix microseconds (8 bytes, big-endian) | ID (ASCII)
//
// Clients treat it as opaque. It carries no MAC on purpose: it names only
// a position in a list the caller may read from any position anyway, and
// a forged one can do no more than a real one — it is parsed strictly
// (one encoding per cursor, bounded time, IDs of lowercase hex only) and
// reaches the store only as query parameters, never as SQL text.
const (
	cursorVersion = 1
	maxCursorID   = 64
	maxCursorLen  = 4 * (1 + 8 + maxCursorID + 2) / 3
	// maxCursorMicros is the end of year 9999, within every store's range.
	maxCursorMicros = 253402300799999999
)

var cursorEncoding = base64.RawURLEncoding.Strict()

// encodeCursor returns the cursor for k, "" for nil (no next page).
func encodeCursor(k *domain.PageKey) string {
	if k == nil {
		return ""
	}
	b := make([]byte, 0, 1+8+len(k.ID))
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(k.CreatedAt.UnixMicro()))
	b = append(b, k.ID...)
	return cursorEncoding.EncodeToString(b)
}

// decodeCursor parses a cursor encodeCursor made, refusing anything else.
func decodeCursor(s string) (domain.PageKey, bool) {
	// encoding/base64 skips \r and \n even in strict mode: refuse them, or
	// one position would have many encodings.
	if len(s) > maxCursorLen || strings.ContainsAny(s, "\r\n") {
		return domain.PageKey{}, false
	}
	b, err := cursorEncoding.DecodeString(s)
	if err != nil || len(b) < 1+8+1 || len(b) > 1+8+maxCursorID || b[0] != cursorVersion {
		return domain.PageKey{}, false
	}
	micros := binary.BigEndian.Uint64(b[1:9])
	if micros > maxCursorMicros {
		return domain.PageKey{}, false
	}
	id := b[9:]
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return domain.PageKey{}, false
		}
	}
	return domain.PageKey{CreatedAt: time.UnixMicro(int64(micros)).UTC(), ID: string(id)}, true
}

// pageParams reads limit and cursor from the query string. Each may be
// given at most once; empty means absent.
func pageParams(r *http.Request) (*domain.PageKey, int, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, 0, &paramError{"the query string", "is malformed"}
	}
	one := func(name string) (string, error) {
		if vs := q[name]; len(vs) > 1 {
			return "", &paramError{name, "is given more than once"}
		} else if len(vs) == 1 {
			return vs[0], nil
		}
		return "", nil
	}
	limit := app.DefaultPageSize
	v, err := one("limit")
	if err != nil {
		return nil, 0, err
	}
	if v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || len(v) > 3 || v[0] < '0' || v[0] > '9' || n < 1 || n > app.MaxPageSize {
			return nil, 0, &paramError{"limit", "must be a whole number from 1 to " + strconv.Itoa(app.MaxPageSize)}
		}
		limit = n
	}
	v, err = one("cursor")
	if err != nil || v == "" {
		return nil, limit, err
	}
	k, ok := decodeCursor(v)
	if !ok {
		return nil, 0, &paramError{"cursor", "is not valid: pass the next_cursor of an earlier answer, unchanged"}
	}
	return &k, limit, nil
}
