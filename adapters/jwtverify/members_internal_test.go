package jwtverify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// uniqueNames is checked against the exact answer for each kind of JSON a
// header or claims object may hold; FuzzMemberNames then compares it with
// encoding/json on any input.
func TestUniqueNames(t *testing.T) {
	many := func(n int, extra string) string { // n distinct names, then extra
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, `"c%d":%d,`, i, i)
		}
		b.WriteString(extra + "}")
		return b.String()
	}
	dup := func(name string) error { return fmt.Errorf("%w: %.40q", errDuplicate, name) }
	for _, tc := range []struct {
		name, json string
		want       error // nil, errNotObject, or dup(the name found twice, as written)
	}{
		{"empty object", `{}`, nil},
		{"empty object, spaced", " \t\r\n{ \n} ", nil},
		{"typical header", `{"alg":"RS256","typ":"at+jwt","kid":"k1"}`, nil},
		{"a name twice", `{"exp":1,"iss":"a","exp":2}`, dup(`exp`)},
		{"a name twice, side by side", `{"alg":"RS256","alg":"none"}`, dup(`alg`)},
		{"a name twice, spaced", "{ \"a\" : 1 ,\n \"a\"\t:\r2 }", dup(`a`)},
		{"the same value twice", `{"a":1,"a":1}`, dup(`a`)},
		{"empty names", `{"":1,"":2}`, dup(``)},
		{"one empty name", `{"":1,"a":2}`, nil},
		{"names differing in case", `{"exp":1,"EXP":2,"Exp":3}`, nil},
		{"a prefix", `{"ex":1,"exp":2,"e":3}`, nil},
		{"a trailing NUL escape is another name", `{"exp":1,"exp\u0000":2}`, nil},
		{"\\u escape of a letter", `{"exp":1,"\u0065xp":2}`, dup(`\u0065xp`)},
		{"\\u escape in upper-case hex", `{"\u0045XP":1,"EXP":2}`, dup(`EXP`)},
		{"every letter escaped", `{"iss":1,"\u0069\u0073\u0073":2}`, dup(`\u0069\u0073\u0073`)},
		{"escaped solidus", `{"a/b":1,"a\/b":2}`, dup(`a\/b`)},
		{"escaped quote and backslash", `{"a\"b\\":1,"a\u0022b\u005c":2}`, dup(`a\u0022b\u005c`)},
		{"short escapes", `{"\n\t\r\b\f":1,"\u000a\u0009\u000d\u0008\u000c":2}`, dup(`\u000a\u0009\u000d\u0008\u000c`)},
		{"UTF-8 and its escape", `{"é":1,"\u00e9":2}`, dup(`\u00e9`)},
		{"a surrogate pair and its UTF-8", `{"😀":1,"\ud83d\ude00":2}`, dup(`\ud83d\ude00`)},
		{"a surrogate pair in lower and upper case", `{"\ud83d\ude00":1,"\uD83D\uDE00":2}`, dup(`\uD83D\uDE00`)},
		{"lone surrogates are both U+FFFD", `{"\ud800":1,"\udfff":2}`, dup(`\udfff`)},
		{"a lone surrogate and U+FFFD", `{"\ud800":1,"\ufffd":2}`, dup(`\ufffd`)},
		{"a high surrogate before a letter", `{"\ud800A":1,"\ufffdA":2}`, dup(`\ufffdA`)},
		{"invalid UTF-8 reads as U+FFFD", "{\"a\xff\":1,\"a\xfe\":2}", dup("a\xfe")},
		{"invalid UTF-8 and U+FFFD", "{\"\xff\":1,\"\uFFFD\":2}", dup("\uFFFD")},
		{"composed and decomposed é differ", "{\"\u00e9\":1,\"e\u0301\":2}", nil},
		{"a quote inside a name", `{"a\"":1,"a":2}`, nil},
		{"a backslash at the end of a name", `{"a\\":1,"a":2}`, nil},
		{"nested objects may repeat names", `{"a":{"x":1,"x":2},"b":{"x":3}}`, nil},
		{"a nested name is not a top-level one", `{"a":{"exp":1},"exp":2}`, nil},
		{"arrays of objects may repeat names", `{"a":[{"x":1},{"x":2}],"x":[[],{}]}`, nil},
		{"deep nesting", `{"a":[[[{"b":[{"c":{"d":[1,{"a":2}]}}]}]]],"a2":0}`, nil},
		{"a name twice after nesting", `{"a":{"b":{"c":[1,2,{"d":"}"}]}},"a":0}`, dup(`a`)},
		{"braces and quotes in strings", `{"x":"}\",\"x\":1,{[","y":"\\\"","x ":"{"}`, nil},
		{"a string that looks like a member", `{"x":"\",\"x\":\"","z":1}`, nil},
		{"a name twice after tricky strings", `{"x":"}\"{","y":"\\","x":1}`, dup(`x`)},
		{"numbers and literals", `{"a":-1.5e+10,"b":true,"c":false,"d":null,"e":0}`, nil},
		{"literals then a name twice", `{"a":true,"b":null,"a":false}`, dup(`a`)},
		{"200 distinct names (the table grows)", many(200, `"last":0`), nil},
		{"200 names and the first again", many(200, `"c0":0`), dup(`c0`)},
		{"200 names and the last again", many(200, `"c199":0`), dup(`c199`)},
		{"2,000 names and an escaped one again", many(2000, `"c\u0031999":0`), dup(`c\u0031999`)},
		{"null", `null`, errNotObject},
		{"an array", `[{"a":1,"a":2}]`, errNotObject},
		{"a string", `"{}"`, errNotObject},
		{"nothing", ``, errNotObject},
		{"cut short", `{"a":1,"b"`, errNotObject},
		{"cut short in a string", `{"a":"x`, errNotObject},
		{"a name that is not a string", `{a:1}`, errNotObject},
		{"no colon", `{"a" 1}`, errNotObject},
		{"a comma at the end", `{"a":1,}`, errNotObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != errNotObject && !json.Valid([]byte(tc.json)) {
				t.Fatalf("the case is not valid JSON: %q", tc.json)
			}
			sentinel := tc.want // errNotObject, errDuplicate or nil
			if u := errors.Unwrap(tc.want); u != nil {
				sentinel = u
			}
			err := uniqueNames([]byte(tc.json))
			if fmt.Sprint(err) != fmt.Sprint(tc.want) || !errors.Is(err, sentinel) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// uniqueNames of an object whose names are all distinct allocates nothing
// up to 96 names (3/4 of the table on the stack), and checkMemberNames
// nothing for segments that fit its buffer.
func TestMemberNamesAllocations(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"iss":"https://issuer.example/","sub":"auth0|alice","aud":["https://api.example","https://issuer.example/userinfo"],` +
		`"iat":1700000000,"exp":1700003600,"scope":"openid read:messages","perm\u0069ssions":["read:messages"],"nested":{"a":1,"a":2}`)
	for i := range 80 {
		fmt.Fprintf(&b, `,"claim-%d":"value %d \"}\""`, i, i)
	}
	b.WriteString("}")
	claims := b.String()
	if n := strings.Count(claims, `":`); n != 90 {
		t.Fatalf("the object has %d members, want 90", n)
	}
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tok := seg(`{"alg":"RS256","typ":"at+jwt","kid":"k"}`) + "." + seg(claims) + ".c2ln"
	if len(claims) > segmentBuffer {
		t.Fatalf("the claims are %d bytes, more than the buffer", len(claims))
	}
	if err := checkMemberNames(tok); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = checkMemberNames(tok) }); n != 0 {
		t.Errorf("checkMemberNames: %v allocations, want 0", n)
	}
	obj := []byte(claims)
	if n := testing.AllocsPerRun(100, func() { _ = uniqueNames(obj) }); n != 0 {
		t.Errorf("uniqueNames: %v allocations, want 0", n)
	}
}

// FuzzMemberNames compares uniqueNames with encoding/json. Property: for
// any valid JSON text, uniqueNames finds a duplicate exactly when two
// top-level members of an object decode, by encoding/json, to the same
// name (and reports the second of the first such pair); it says
// errNotObject exactly when the text is not an object; and for invalid
// JSON it only returns, without panicking.
//
//	go test -run '^$' -fuzz '^FuzzMemberNames$' -fuzztime 1m ./adapters/jwtverify/
func FuzzMemberNames(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1,"a":2}`, `{"exp":1,"\u0065xp":2}`, `{"a/b":1,"a\/b":2}`, `{"\ud800":1,"\udfff":2}`,
		"{\"a\xff\":1,\"a\xfe\":2}", `{"x":"}\",\"x\":1","y":{"x":1,"x":2},"x":[{"x":3}]}`, `{"😀":1,"\ud83d\ude00":2}`,
		`{"a":true,"b":null,"c":-1e5,"d":[1,"2",{"3":4}]}`, `null`, `[]`, `{"a":1,}`, `{"a"`, `{"\u00`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := uniqueNames(b)
		if !json.Valid(b) {
			return
		}
		dup, found, isObject := decodedDuplicate(t, b)
		switch {
		case !isObject:
			if !errors.Is(err, errNotObject) {
				t.Fatalf("%q is not an object: got %v, want errNotObject", b, err)
			}
		case found:
			if want := fmt.Sprintf("%s: %.40q", errDuplicate, dup); err == nil || err.Error() != want {
				t.Fatalf("%q: got %v, want %s", b, err, want)
			}
		case err != nil:
			t.Fatalf("%q has no name twice: got %v", b, err)
		}
	})
}

// decodedDuplicate reads the valid JSON text b with encoding/json: whether
// it is an object and, if so, whether a member's decoded name is an earlier
// member's, and the first such member's name as written.
func decodedDuplicate(t *testing.T, b []byte) (dup string, found, isObject bool) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber() // 1e400 is valid JSON
	tok, err := dec.Token()
	if err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if tok != json.Delim('{') {
		return "", false, false
	}
	seen := map[string]bool{}
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		name := tok.(string)
		written := strings.TrimLeft(string(b[start:dec.InputOffset()]), " \t\r\n,")
		if seen[name] {
			return written[1 : len(written)-1], true, true
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
	}
	return "", false, true
}
