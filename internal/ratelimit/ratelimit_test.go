package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	t.Parallel()
	l := New(60, 3, 100) // one a second, bursts of 3
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := l.Allow("ip", now); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("ip", now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th event: ok=%v wait=%s, want refused with wait in (0, 1s]", ok, wait)
	}
	if ok, _ := l.Allow("other", now); !ok {
		t.Fatal("keys are not independent")
	}
	if ok, _ := l.Allow("ip", now.Add(time.Second)); !ok {
		t.Fatal("no refill after a second")
	}
	// A refused attempt does not consume a token.
	if ok, _ := l.Allow("ip", now.Add(time.Second)); ok {
		t.Fatal("more than the rate allowed")
	}
	if ok, _ := l.Allow("ip", now.Add(2*time.Second)); !ok {
		t.Fatal("refused attempts consumed tokens")
	}
}

func TestKeySetIsBounded(t *testing.T) {
	t.Parallel()
	l := New(1, 1, 10)
	now := time.Now()
	for i := range 1000 {
		l.Allow(fmt.Sprint(i), now)
	}
	if n := l.keys.Len(); n != 10 {
		t.Fatalf("%d keys kept, want 10", n)
	}
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	l := New(0, 0, 0)
	for range 100 {
		if ok, _ := l.Allow("k", time.Now()); !ok {
			t.Fatal("disabled limiter refused")
		}
	}
}
