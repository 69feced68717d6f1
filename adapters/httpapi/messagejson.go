package httpapi

import (
	"encoding/binary"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/example/spaapi/app"
	"github.com/example/spaapi/domain"
)

// The list of messages is the one large answer (up to 100 messages of up
// to 500 characters), so it is encoded by hand: encoding/json's
// reflection and its re-validation of time.Time's JSON cost three times
// as much (BenchmarkRouterMessages). The output is what encode gives:
// encoding/json's, <, > and & left as they are (answers are
// application/json with nosniff, never HTML). FuzzAppendString checks it.

// What a list answer holds in memory, for the answer budget (AnswerBudget).
// A message's text is at most 500 characters: 2,000 bytes of UTF-8, and
// 3,000 of JSON (U+2028 and U+2029, 3 bytes each, are written as 6-byte
// escapes; quotes, backslashes, newlines and tabs as 2 bytes; other
// control characters and invalid UTF-8 are refused by domain.NewMessage).
// The rest of a message (ID, author, issuer, time, punctuation, and the
// Message value itself) is allowed 1 KiB, raw and in JSON: an OpenID
// Connect subject is at most 255 characters.
const (
	maxTextJSON     = 6 * domain.MaxMessageLength
	maxTextBytes    = 4 * domain.MaxMessageLength
	messageEstimate = maxTextJSON + maxTextBytes + 1<<10
	// MaxListAnswer is what a page of 100 messages may hold while it is
	// built: the messages read from the store and their JSON, about 600
	// KB. Once built, a page holds only its JSON (at most about 320 KB
	// with such subjects; 60 KB for 100 messages of 500 ASCII letters).
	MaxListAnswer = 64 + app.MaxPageSize*messageEstimate
)

// listEstimate is what a page of limit messages is taken to hold while it
// is read and built.
func listEstimate(limit int) int64 { return 64 + int64(limit)*messageEstimate }

// writeMessageList writes {"messages":[…],"next_cursor":"…"} with status
// 200, next_cursor only when there is a next page. The answer is one page,
// built in one buffer; held are the answer bytes taken for it, resized
// to the buffer once it is built (and released by the caller once the
// answer is written).
func writeMessageList(w http.ResponseWriter, r *http.Request, held *answerBytes, msgs []domain.Message, nextCursor string) {
	size := 64 + len(nextCursor) // room for the answer unless much escaping
	for _, m := range msgs {
		size += 100 + len(m.ID) + len(m.Author) + len(m.AuthorIssuer) + len(m.Text)
	}
	bp := listBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			listBuffers.Put(bp)
		}
	}()
	b := slices.Grow((*bp)[:0], size)
	defer func() { *bp = b }()
	b = append(b, `{"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, m)
	}
	b = append(b, ']')
	if nextCursor != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendString(b, nextCursor)
	}
	b = append(b, "}\n"...)
	// From here on only b is held (msgs are not used again, so the
	// collector may take them): the budget keeps its size.
	if err := held.resize(r.Context(), int64(cap(b))); err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = nosniff
	// With a length the answer goes out in one piece, not in chunks.
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// listBuffers are the buffers lists are encoded in, reused to spare the
// garbage collector; larger ones than maxPooledBuffer (a page of 100
// messages of 500 four-byte characters is about 220 KB) are dropped.
var listBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuffer = 256 << 10

// messagePage is the list answer writeMessageList writes, for the OpenAPI
// document: the page's messages, and the cursor of the next page unless
// this is the last.
type messagePage struct {
	Messages   []domain.Message `json:"messages"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// appendMessage appends m as encoding/json would encode domain.Message.
func appendMessage(b []byte, m domain.Message) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, m.ID)
	b = append(b, `,"author":`...)
	b = appendString(b, m.Author)
	b = append(b, `,"author_issuer":`...)
	b = appendString(b, m.AuthorIssuer)
	b = append(b, `,"text":`...)
	b = appendString(b, m.Text)
	b = append(b, `,"created_at":"`...)
	b = m.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encode writes it
// (encoding/json's, <, > and & left as they are).
func appendString(b []byte, s string) []byte { return appendQuoted(b, s, true) }

// appendQuoted appends s as a JSON string: quotes, backslashes and control
// characters escaped (\n, \r, \t, and with shortBF \b and \f, as
// encoding/json writes them; else \u00XX, as slog does), invalid UTF-8
// replaced by U+FFFD and U+2028 and U+2029 escaped (as both do, for
// JavaScript).
func appendQuoted(b []byte, s string, shortBF bool) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is still to be copied
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				if !shortBF {
					b = append(b, `\u0008`...)
					break
				}
				b = append(b, '\\', 'b')
			case '\f':
				if !shortBF {
					b = append(b, `\u000c`...)
					break
				}
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plain8 reports whether the 8 bytes in x are all printable ASCII other
// than '"' and '\\': bytes a JSON string holds as they are. It tests all
// eight at once (the classic "has a zero byte" bit trick), which makes
// typical text four times faster to encode than byte by byte.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) & ^v & highs }
	lessThan0x20 := (x - 0x20*ones) & ^x & highs
	return (x&highs)|lessThan0x20|hasZero(x^('"'*ones))|hasZero(x^('\\'*ones)) == 0
}
