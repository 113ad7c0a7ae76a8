// Package id makes Fiscus's opaque identifiers: a short type prefix and a
// ULID, for example "acct_01JD3V6X4T6ZQ2M8Y7H0K1C9RE". IDs sort by creation
// time (to the millisecond) and carry 80 bits of crypto/rand entropy, so they
// are neither guessable nor colliding.
package id

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// New returns prefix + "_" + a ULID for time t.
func New(prefix string, t time.Time) string {
	u := ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	return prefix + "_" + u.String()
}

// Valid reports whether s is a well-formed ID with the given prefix. Handlers
// use it to turn garbage path parameters into a 404 without a query.
func Valid(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(rest)
	return err == nil
}
