package password

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/fault"
)

// CodeWeak is the error code of a password that Policy.Check refuses.
const CodeWeak fault.Code = "weak_password"

// Field error codes Check puts on field "password", one per reason.
const (
	ReasonTooShort   = "too_short"
	ReasonTooLong    = "too_long"
	ReasonEncoding   = "invalid_encoding"
	ReasonRepetitive = "repetitive"
	ReasonSequential = "sequential"
	ReasonCommon     = "common"
	ReasonPersonal   = "personal_info"
)

// Policy says which new passwords are acceptable (NIST SP 800-63B §3.1.1.2).
// Lengths count characters (runes), not bytes. MaxLen <= 0 means no limit in
// characters; a password over MaxPasswordSize bytes is always refused.
type Policy struct {
	MinLen, MaxLen int
}

// DefaultPolicy requires 8 to 128 characters.
func DefaultPolicy() Policy { return Policy{MinLen: 8, MaxLen: 128} }

// minContextLen is the shortest context word Check looks for in a password;
// shorter ones ("al", "bob") would refuse too many good passwords.
const minContextLen = 4

// Check returns nil if password is acceptable, or a *fault.Error with code
// CodeWeak and one field error on "password" saying why. context holds words
// the password must not contain, case-insensitively: the user's name, email
// address or its local part. Each context string is also split into words at
// anything that is not a letter or digit, and words of fewer than 4
// characters are ignored. The error never repeats the password or a context
// word.
func (p Policy) Check(password string, context ...string) error {
	weak := func(reason, msg string) error {
		return &fault.Error{
			Code:    CodeWeak,
			Message: "The password is too weak.",
			Fields:  []fault.FieldError{{Field: "password", Code: reason, Message: msg}},
		}
	}
	if !utf8.ValidString(password) {
		return weak(ReasonEncoding, "The password must be valid UTF-8 text.")
	}
	n := utf8.RuneCountInString(password)
	if n < p.MinLen {
		return weak(ReasonTooShort, fmt.Sprintf("Use at least %d characters.", p.MinLen))
	}
	if p.MaxLen > 0 && n > p.MaxLen {
		return weak(ReasonTooLong, fmt.Sprintf("Use at most %d characters.", p.MaxLen))
	}
	if len(password) > MaxPasswordSize {
		return weak(ReasonTooLong, "Use a shorter password.")
	}
	lower := strings.ToLower(password)
	runes := []rune(lower)
	if repetitive(runes) {
		return weak(ReasonRepetitive, "Don't use a single character or a short group of characters repeated.")
	}
	if sequential(runes) {
		return weak(ReasonSequential, "Don't use characters in plain order, like a run of digits or of the alphabet.")
	}
	if isCommon(lower) {
		return weak(ReasonCommon, "This password is on a list of common or breached passwords; choose another.")
	}
	for _, c := range context {
		for _, w := range contextWords(c) {
			if strings.Contains(lower, w) {
				return weak(ReasonPersonal, "Don't use your name or email address in your password.")
			}
		}
	}
	return nil
}

// repetitive reports whether r is one group of at most 4 characters repeated
// ("aaaaaaaa", "abababab", "passpass").
func repetitive(r []rune) bool {
	for unit := 1; unit <= 4 && 2*unit <= len(r); unit++ {
		if len(r)%unit != 0 {
			continue
		}
		rep := true
		for i := unit; i < len(r); i++ {
			if r[i] != r[i-unit] {
				rep = false
				break
			}
		}
		if rep {
			return true
		}
	}
	return false
}

// sequential reports whether every character of r is the one before it plus
// one ("12345678", "abcdefgh") or minus one ("87654321").
func sequential(r []rune) bool {
	if len(r) < 2 {
		return false
	}
	step := r[1] - r[0]
	if step != 1 && step != -1 {
		return false
	}
	for i := 2; i < len(r); i++ {
		if r[i]-r[i-1] != step {
			return false
		}
	}
	return true
}

// contextWords returns the lower-cased words of s worth looking for: s itself,
// the local part if s is an email address, and its letter-and-digit runs, each
// of at least minContextLen characters.
func contextWords(s string) []string {
	s = strings.ToLower(strings.TrimSpace(s))
	cands := []string{s}
	if local, _, ok := strings.Cut(s, "@"); ok {
		cands = append(cands, local)
	}
	cands = append(cands, strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })...)
	words := cands[:0]
	for _, w := range cands {
		if utf8.RuneCountInString(w) >= minContextLen && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	return words
}

// commonText is a sorted, lower-case, de-duplicated list of common and
// breached passwords, one per line; see README.md for where it comes from.
//
//go:embed common-passwords.txt
var commonText string

// commonList splits commonText once, on first use; the result is never
// modified.
var commonList = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonText, "\n"), "\n")
})

// isCommon reports whether the lower-cased password is on the list.
func isCommon(lower string) bool {
	_, found := slices.BinarySearch(commonList(), lower)
	return found
}
