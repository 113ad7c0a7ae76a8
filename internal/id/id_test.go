package id

import (
	"strings"
	"testing"
	"time"
)

func TestNewSortsInCreationOrderWithinAMillisecond(t *testing.T) {
	at := time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)
	prev := New("trf", at)
	for i := range 10_000 {
		next := New("trf", at)
		if next <= prev {
			t.Fatalf("ID %d (%s) does not sort after the previous one (%s)", i, next, prev)
		}
		prev = next
	}
	// A later millisecond sorts after, an earlier one before, whatever the
	// entropy.
	if later := New("trf", at.Add(time.Millisecond)); later <= prev {
		t.Fatalf("a later millisecond sorts first: %s <= %s", later, prev)
	}
	if earlier := New("trf", at.Add(-time.Millisecond)); earlier >= prev {
		t.Fatalf("an earlier millisecond sorts last: %s >= %s", earlier, prev)
	}
}

func TestValid(t *testing.T) {
	good := New("acct", time.Now())
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{good, true},
		{strings.Replace(good, "acct_", "trf_", 1), false},
		{good + "0", false},
		{"acct_" + strings.Repeat("I", 26), false}, // not Crockford base32
		{"", false},
	} {
		if got := Valid("acct", tc.s); got != tc.want {
			t.Errorf("Valid(%q) = %t, want %t", tc.s, got, tc.want)
		}
	}
}
