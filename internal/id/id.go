// Package id makes Fiscus's opaque identifiers: a short type prefix and a
// ULID, for example "acct_01JD3V6X4T6ZQ2M8Y7H0K1C9RE". IDs sort by creation
// time (to the millisecond); IDs made one after another for the same
// millisecond sort in the order they were made (monotonic ULIDs: the
// entropy of the previous ID plus a random increment; an ID for another
// millisecond in between starts afresh). They carry 80 bits of crypto/rand
// entropy, so they are neither guessable nor colliding.
package id

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns prefix + "_" + a ULID for time t.
func New(prefix string, t time.Time) string {
	mu.Lock()
	u, err := ulid.New(ulid.Timestamp(t), entropy)
	if err != nil {
		// The monotonic increment overflowed within one millisecond (after
		// billions of IDs): start that millisecond afresh.
		entropy = ulid.Monotonic(rand.Reader, 0)
		u = ulid.MustNew(ulid.Timestamp(t), entropy)
	}
	mu.Unlock()
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
