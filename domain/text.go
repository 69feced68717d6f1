package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckText checks text a caller wrote into field: 1 to max characters of
// valid UTF-8, not only spaces, without control characters other than
// newline and tab. Its errors are *InputError naming field.
func CheckText(field, text string, max int) error {
	switch {
	case !utf8.ValidString(text):
		return &InputError{Field: field, Problem: "is not valid UTF-8"}
	case strings.TrimSpace(text) == "":
		return &InputError{Field: field, Problem: "is required"}
	case utf8.RuneCountInString(text) > max:
		return &InputError{Field: field, Problem: fmt.Sprintf("is longer than %d characters", max)}
	case strings.ContainsFunc(text, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }):
		return &InputError{Field: field, Problem: "contains control characters"}
	}
	return nil
}
