// Package ratelimit bounds how often a key (an IP address, an account) may
// do something. Each key has a token bucket; the set of keys is bounded (least
// recently used keys are forgotten first), so a flood of distinct keys cannot
// exhaust memory. Limits are per process; with several replicas each enforces
// its own share.
package ratelimit

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Limiter limits events per key.
type Limiter struct {
	every time.Duration
	burst int
	mu    sync.Mutex
	keys  *lru.Cache[string, *rate.Limiter]
}

// New allows perMinute events a minute per key with bursts of burst, keeping
// at most maxKeys keys. perMinute <= 0 disables limiting.
func New(perMinute, burst, maxKeys int) *Limiter {
	l := &Limiter{burst: max(1, burst)}
	if perMinute > 0 {
		l.every = time.Minute / time.Duration(perMinute)
		l.keys, _ = lru.New[string, *rate.Limiter](max(1, maxKeys))
	}
	return l
}

// Allow takes one token for key at now. When none is left it reports false
// and how long until one will be.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	if l.keys == nil {
		return true, 0
	}
	l.mu.Lock()
	lim, ok := l.keys.Get(key)
	if !ok {
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.keys.Add(key, lim)
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, l.every
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
