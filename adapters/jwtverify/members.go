package jwtverify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A JSON object may name a member twice, and then JSON parsers differ:
// encoding/json (so golang-jwt) keeps the last, others the first, and
// others, go-jose among them, refuse the text. RFC 7515 §4 and RFC 7519 §4
// let a JWS or JWT parser refuse it or keep the last; keeping one means a
// token whose "exp" or "alg" another component reads differently, so here a
// token whose header or claims name a top-level member twice is malformed.
//
// The check runs once per full verification (never on a cache hit) and
// allocates nothing for tokens whose segments decode to at most
// segmentBuffer bytes and name at most 3/4 of nameSlots members: it decodes
// each segment into a buffer on the stack, walks the object's top level
// and keeps the names in a small hash table, also on the stack.

const (
	segmentBuffer = 4096 // bytes; larger segments are decoded into the heap
	nameSlots     = 128  // a power of two; more names grow the table on the heap
)

// checkMemberNames refuses a compact JWS whose header or payload is not a
// JSON object or names a top-level member twice, names compared as JSON
// decodes them ("\u0065xp" is "exp"). raw has passed checkCompact.
func checkMemberNames(raw string) error {
	header, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	var buf [segmentBuffer]byte
	for _, part := range [2]struct{ seg, name string }{{header, "header"}, {payload, "claims"}} {
		dst := buf[:]
		if n := base64.RawURLEncoding.DecodedLen(len(part.seg)); n > len(dst) {
			dst = make([]byte, n)
		}
		// Decode only reads its source: no copy of the segment is needed.
		n, err := base64.RawURLEncoding.Strict().Decode(dst, unsafe.Slice(unsafe.StringData(part.seg), len(part.seg)))
		if err != nil {
			return fmt.Errorf("%s: %w", part.name, err)
		}
		if err := uniqueNames(dst[:n]); err != nil {
			return fmt.Errorf("%s: %w", part.name, err)
		}
	}
	return nil
}

var (
	errNotObject = errors.New("not a JSON object")
	// errDuplicate wraps the name found twice (as written, escapes and all).
	errDuplicate = errors.New("a member name appears twice")
)

// UniqueMemberNames returns an error if obj, a JSON object already known
// to be valid JSON, names a member twice at its top level, names compared
// as decoded (escapes undone). Tokens are checked so before their JSON is
// decoded; this is the same check for other JOSE objects, such as DPoP
// proofs.
func UniqueMemberNames(obj []byte) error { return uniqueNames(obj) }

// uniqueNames checks that obj, a JSON object, names no member twice at its
// top level; nested objects are not looked into. It expects valid JSON
// (golang-jwt refuses anything else) and only relies on it to find where
// strings and values end: given anything else it returns an error or
// nil, never panics, and reads obj once.
func uniqueNames(obj []byte) error {
	var stack [nameSlots]nameSlot
	names := nameTable{slots: stack[:]}
	s := jsonScanner{b: obj}
	if s.space(); !s.next('{') {
		return errNotObject
	}
	if s.space(); s.next('}') {
		return nil
	}
	for {
		s.space()
		start, end, ok := s.str()
		if !ok {
			return errNotObject
		}
		if names.add(obj, start, end) {
			return fmt.Errorf("%w: %.40q", errDuplicate, string(obj[start:end])) // a copy: obj stays on the stack
		}
		if s.space(); !s.next(':') {
			return errNotObject
		}
		if s.space(); !s.value() {
			return errNotObject
		}
		s.space()
		switch {
		case s.next(','):
		case s.next('}'):
			return nil // what follows is golang-jwt's to refuse
		default:
			return errNotObject
		}
	}
}

// jsonScanner walks JSON text without decoding it.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// next consumes c if it comes next.
func (s *jsonScanner) next(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns where its content is, b[start:end]
// (escapes not undone).
func (s *jsonScanner) str() (start, end int, ok bool) {
	if !s.next('"') {
		return 0, 0, false
	}
	start = s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			return start, s.i - 1, true
		case '\\':
			s.i += 2 // the escaped character; \u's hex digits are plain
		default:
			s.i++
		}
	}
	return 0, 0, false
}

// value consumes one value: a string, an object or array with everything
// in it, or a number or literal (up to the next ',', '}' or ']').
func (s *jsonScanner) value() bool {
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			if _, _, ok := s.str(); !ok {
				return false
			}
			if depth == 0 {
				return true
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true // the end of the object around a number or literal
			}
			if depth--; depth == 0 {
				s.i++
				return true
			}
		case ',':
			if depth == 0 {
				return true
			}
		}
		s.i++
	}
	return depth == 0
}

// nameTable is an open-addressing hash set of member names, each kept as
// where it is in the object. The hash is keyed by a seed chosen at start,
// so no token can be made whose names all collide.
type nameTable struct {
	slots []nameSlot // len a power of two
	n     int
}

// nameSlot is one name: its hash (0 for an empty slot) and b[start:end].
type nameSlot struct {
	hash       uint64
	start, end int32
}

var nameSeed = maphash.MakeSeed()

// add records the name b[start:end] (a string's content, escapes not
// undone) and reports whether an equal name was recorded before.
func (t *nameTable) add(b []byte, start, end int) bool {
	h := nameHash(b[start:end]) | 1 // never 0: 0 marks an empty slot
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		sl := t.slots[i]
		if sl.hash == 0 {
			break
		}
		if sl.hash == h && sameName(b[sl.start:sl.end], b[start:end]) {
			return true
		}
	}
	if (t.n+1)*4 > len(t.slots)*3 { // keep it at most 3/4 full
		old := t.slots
		t.slots = make([]nameSlot, 2*len(old))
		for _, sl := range old {
			if sl.hash != 0 {
				t.put(sl)
			}
		}
	}
	t.put(nameSlot{h, int32(start), int32(end)})
	t.n++
	return false
}

// put stores sl in the first empty slot from its hash on.
func (t *nameTable) put(sl nameSlot) {
	mask := len(t.slots) - 1
	i := int(sl.hash) & mask
	for t.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = sl
}

// nameHash hashes a name as decoded: the UTF-8 of its characters.
func nameHash(name []byte) uint64 {
	if plain(name) { // decoded, it is the same bytes
		return maphash.Bytes(nameSeed, name)
	}
	var h maphash.Hash
	h.SetSeed(nameSeed)
	var enc [utf8.UTFMax]byte
	for i := 0; i < len(name); {
		var r rune
		r, i = nextChar(name, i)
		h.Write(utf8.AppendRune(enc[:0], r))
	}
	return h.Sum64()
}

// plain reports whether a string's content decodes to itself: no escapes
// and valid UTF-8.
func plain(s []byte) bool {
	return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s)
}

// sameName reports whether two strings' contents decode to the same text.
func sameName(a, b []byte) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		var ra, rb rune
		ra, i = nextChar(a, i)
		rb, j = nextChar(b, j)
		if ra != rb {
			return false
		}
	}
	return i == len(a) && j == len(b)
}

// nextChar decodes the character at s[i:] of a string's content as
// encoding/json does — escapes undone; invalid UTF-8, and a \u escape of a
// UTF-16 surrogate not followed by its pair, as U+FFFD — and returns it and
// where the next one starts.
func nextChar(s []byte, i int) (rune, int) {
	if c := s[i]; c != '\\' {
		if c < utf8.RuneSelf {
			return rune(c), i + 1
		}
		r, size := utf8.DecodeRune(s[i:])
		return r, i + size
	}
	if i+1 >= len(s) {
		return unicode.ReplacementChar, len(s)
	}
	switch c := s[i+1]; c {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s, i)
		if r < 0 {
			return unicode.ReplacementChar, i + 2
		}
		if !utf16.IsSurrogate(r) {
			return r, i + 6
		}
		if r2 := hex4(s, i+6); r2 >= 0 {
			if pair := utf16.DecodeRune(r, r2); pair != unicode.ReplacementChar {
				return pair, i + 12
			}
		}
		return unicode.ReplacementChar, i + 6
	default: // '"', '\\', '/'
		return rune(c), i + 2
	}
}

// hex4 returns the code unit of the \uXXXX escape at s[i:], or -1.
func hex4(s []byte, i int) rune {
	if i+6 > len(s) || s[i] != '\\' || s[i+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[i+2 : i+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
