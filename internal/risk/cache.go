package risk

import (
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheSize is how many customers' snapshots a Cache keeps.
const DefaultCacheSize = 4096

// Cache keeps customers' history snapshots for a short time, so that a
// customer who sends many transfers is read from the database about once
// per TTL instead of once per transfer.
//
// What it answers is what a fresh read would, except for changes made by
// other processes in the last TTL:
//   - transfers this process commits reach the cache through Observe (new
//     ones, and status changes of known ones) and count at once, also when
//     they commit while a snapshot is being read;
//   - Forget drops a customer whose sign-in or credentials changed here;
//   - a transfer asked for in a session the snapshot does not know (a new
//     sign-in anywhere), or at an earlier Now than the snapshot was read
//     for, reads afresh.
//
// So on a single instance the rules see exactly what they would without
// the cache; with replicas, another replica's transfers and sign-ins are
// seen within the TTL.
type Cache struct {
	ttl     time.Duration
	clock   func() time.Time // monotonic: time.Now
	mu      sync.Mutex
	entries *lru.Cache[string, *cacheEntry]
	stamp   uint64 // source of cacheEntry.stamp
	hits    uint64 // snapshots answered from memory
	reads   uint64 // snapshots read from the database
}

// CacheStats are a Cache's counters since NewCache.
type CacheStats struct {
	Hits  uint64 // assessments answered from memory
	Reads uint64 // assessments that read the database
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Reads: c.reads}
}

// cacheEntry is one customer's cached state.
type cacheEntry struct {
	snap    *snapshot // nil: none, or dropped
	expires time.Time
	// stamp changes whenever the customer is forgotten (and is new for a
	// new entry): a snapshot read before that is not stored.
	stamp uint64
	// recent are the transfers Observe saw since the entry was made, at
	// most MaxScanned, newest first: merged into every snapshot stored, so
	// that a transfer committed while its snapshot was read still counts.
	recent []Outgoing
}

// NewCache returns a cache of at most size customers (DefaultCacheSize when
// size <= 0) whose snapshots live for ttl.
func NewCache(ttl time.Duration, size int) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	entries, err := lru.New[string, *cacheEntry](size)
	if err != nil {
		panic(err) // only for size <= 0, excluded above
	}
	return &Cache{ttl: ttl, clock: time.Now, entries: entries}
}

// lookup returns the customer's snapshot when it is fresh and fits q, or
// else the stamp a snapshot read now must be stored with.
func (c *Cache) lookup(q Query) (*snapshot, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Get(q.UserID)
	if !ok {
		c.stamp++
		e = &cacheEntry{stamp: c.stamp}
		c.entries.Add(q.UserID, e)
	}
	if e.snap != nil && c.clock().Before(e.expires) && e.snap.fits(q) {
		c.hits++
		return e.snap, 0
	}
	c.reads++
	return nil, e.stamp
}

// store keeps snap, read after lookup returned stamp, unless the customer
// was forgotten (or evicted) meanwhile, and returns it with the transfers
// observed since the entry was made.
func (c *Cache) store(userID string, snap *snapshot, stamp uint64) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Peek(userID)
	if !ok {
		return snap
	}
	for _, t := range e.recent {
		snap = snap.with(t)
	}
	if e.stamp == stamp {
		e.snap, e.expires = snap, c.clock().Add(c.ttl)
	}
	return snap
}

// Observe records a transfer from userID's account that this process just
// committed: a new one, or a new status of one.
func (c *Cache) Observe(userID string, t Outgoing) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries.Peek(userID)
	if !ok {
		return // nothing cached and no read under way: the next read sees it
	}
	e.recent = upsert(e.recent, t)
	if e.snap != nil {
		e.snap = e.snap.with(t)
	}
}

// Forget drops what is cached about userID.
func (c *Cache) Forget(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries.Peek(userID); ok {
		c.stamp++
		e.snap, e.stamp = nil, c.stamp
	}
}

// fits reports whether the snapshot can answer q: it knows q's session
// (else a sign-in happened since it was read) and q is not earlier than
// the snapshot.
func (s *snapshot) fits(q Query) bool {
	if q.Now.UnixMicro() < s.at {
		return false
	}
	if q.SessionID == "" {
		return true
	}
	for _, e := range s.sessions {
		if e.id == q.SessionID {
			return true
		}
	}
	return false
}

// with returns a copy of s that knows t (snapshots are shared, never
// changed).
func (s *snapshot) with(t Outgoing) *snapshot {
	out := *s
	out.transfers = upserted(s.transfers, t)
	return &out
}

// upserted is upsert on a copy of ts, which stays as it is (snapshots are
// shared): one allocation, or none when t changes nothing.
func upserted(ts []Outgoing, t Outgoing) []Outgoing {
	i, found := position(ts, t.ID)
	switch {
	case found && statusRank(t.Status) > statusRank(ts[i].Status):
		out := slices.Clone(ts)
		out[i].Status = t.Status
		return out
	case found, i >= MaxScanned:
		return ts
	}
	out := make([]Outgoing, min(len(ts)+1, MaxScanned))
	copy(out, ts[:i])
	out[i] = t
	copy(out[i+1:], ts[i:])
	return out
}

// position is where a transfer with id is, or goes, in ts (by ID, newest
// first).
func position(ts []Outgoing, id string) (int, bool) {
	return slices.BinarySearchFunc(ts, id, func(x Outgoing, id string) int { return strings.Compare(id, x.ID) })
}

// upsert puts t into ts (by ID, newest first, at most MaxScanned): a known
// transfer takes the later of the two statuses, a new one its place, one
// older than MaxScanned newer ones nothing.
func upsert(ts []Outgoing, t Outgoing) []Outgoing {
	i, found := position(ts, t.ID)
	if found {
		if statusRank(t.Status) > statusRank(ts[i].Status) {
			ts[i].Status = t.Status
		}
		return ts
	}
	if i >= MaxScanned {
		return ts
	}
	ts = slices.Insert(ts, i, t)
	if len(ts) > MaxScanned {
		ts = ts[:MaxScanned]
	}
	return ts
}

// statusRank orders a transfer's statuses as they can follow each other:
// waiting, then decided (executed, rejected, expired, failed), then
// reversed.
func statusRank(status string) int {
	switch status {
	case "pending_approval", "under_review":
		return 0
	case "reversed":
		return 2
	default:
		return 1
	}
}
