// Package idempotency makes money-moving POSTs safe to retry.
//
// A request carries an Idempotency-Key. The key, scoped to the caller, is
// claimed in the same database transaction as the movement it guards
// (unique primary key), in one row with a hash of the request and the
// response that was sent. So:
//   - same key, same request, after success → the original response, replayed;
//   - same key, different request → idempotency_key_reused (422);
//   - same key while the first request is still running on this instance →
//     the second waits for the first to end (up to MaxInFlightWait), then
//     replays its response, or answers idempotency_key_in_flight (409) if it
//     is still running; on another instance the second request loses the
//     claim inside the transaction and then replays or refuses as above;
//   - a request that failed wrote nothing, so a retry runs again.
//
// Records expire after the retention period and are then swept.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/store"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// Limits.
const (
	MaxKeyLen      = 255     // bytes of a key
	MaxInFlight    = 100_000 // keys tracked in flight on one instance
	sweepBatchSize = 1000    // rows deleted per sweep statement
)

// KeysTable holds the records, for callers that insert them through the
// posting engine.
const KeysTable = "idempotency_keys"

// Stored is a response to replay.
type Stored struct {
	Status     int
	Body       []byte
	ResourceID string
}

// Keeper tracks keys in flight on this instance and reads stored records.
type Keeper struct {
	db        *store.DB
	retention time.Duration
	mu        sync.Mutex
	inflight  map[string]chan struct{} // closed when the request holding the key ends
	wait      time.Duration            // MaxInFlightWait; shorter in tests
}

// New returns a keeper whose records live for retention.
func New(db *store.DB, retention time.Duration) *Keeper {
	return &Keeper{db: db, retention: retention, inflight: make(map[string]chan struct{}), wait: MaxInFlightWait}
}

// Retention is how long records are kept.
func (k *Keeper) Retention() time.Duration { return k.retention }

// ValidateKey checks a client's key: 1 to MaxKeyLen visible ASCII characters.
func ValidateKey(key string) error {
	if key == "" {
		return fault.Invalidf(Header, "required", "an %s header is required for this request", Header)
	}
	if len(key) > MaxKeyLen {
		return fault.Invalidf(Header, "too_long", "must be at most %d characters", MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return fault.Invalidf(Header, "invalid", "must be visible ASCII characters only")
		}
	}
	return nil
}

// Hash fingerprints a request: the route and the decoded body re-encoded
// canonically (so field order and white space do not matter).
func Hash(route string, body any) (string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("hash request: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(route))
	h.Write([]byte{0})
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func flightKey(scope, key string) string { return scope + "\x00" + key }

// Begin starts a request with a key. It returns a stored response to replay,
// or a release function to call when the request is over (whatever its
// outcome), or an error: in flight (409) or reused with another request (422).
func (k *Keeper) Begin(ctx context.Context, scope, key, hash string) (*Stored, func(), error) {
	release, err := k.Acquire(ctx, scope, key)
	if err != nil {
		return nil, nil, err
	}
	stored, err := k.Lookup(ctx, scope, key, hash)
	if err != nil || stored != nil {
		release()
		return stored, nil, err
	}
	return nil, release, nil
}

// MaxInFlightWait is how long a request waits for an earlier request with
// the same key, still running on this instance, before it is answered
// idempotency_key_in_flight.
const MaxInFlightWait = 5 * time.Second

// Acquire marks a key in flight on this instance without reading the
// database, for callers that claim the key optimistically in the movement's
// transaction and Lookup only when the claim (or the movement) fails. If an
// earlier request with the key is still running here, Acquire waits for it
// to end (up to MaxInFlightWait), so that concurrent duplicates get the
// first one's answer replayed rather than an error; after that it answers
// idempotency_key_in_flight (409). It returns the release function to call
// when the request is over.
func (k *Keeper) Acquire(ctx context.Context, scope, key string) (func(), error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	fk := flightKey(scope, key)
	var timeout <-chan time.Time
	for {
		k.mu.Lock()
		busy, ok := k.inflight[fk]
		if !ok {
			break // still locked: take it below
		}
		k.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(k.wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-busy:
		case <-timeout:
			return nil, fault.New(fault.IdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer k.mu.Unlock()
	if len(k.inflight) >= MaxInFlight {
		return nil, fault.New(fault.Unavailable, "Too many requests in flight; retry shortly.")
	}
	done := make(chan struct{})
	k.inflight[fk] = done
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			delete(k.inflight, fk)
			k.mu.Unlock()
			close(done)
		})
	}, nil
}

// Lookup returns the stored response for a key if the request matches, nil
// if there is no record, or idempotency_key_reused if the key was used for a
// different request.
func (k *Keeper) Lookup(ctx context.Context, scope, key, hash string) (*Stored, error) {
	var (
		s        Stored
		stored   string
		body     string
		status   int
		hasReply bool
	)
	err := k.db.Read(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT request_hash, resource_id, status, body
			FROM idempotency_keys WHERE scope = ? AND key = ?`, scope, key).Scan(&stored, &s.ResourceID, &status, &body)
		hasReply = status != 0
		return err
	})
	if store.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idempotency lookup: %w", err)
	}
	if stored != hash {
		return nil, fault.New(fault.IdempotencyReused, "This Idempotency-Key was already used with a different request.")
	}
	if !hasReply {
		return nil, fmt.Errorf("idempotency record %s has no stored response", key)
	}
	s.Status, s.Body = status, []byte(body)
	return &s, nil
}

// Record is a key claim and its response, as one row to insert in the
// transaction of the movement.
type Record struct {
	Scope, Key, Hash, ResourceID string
	Status                       int
	Body                         []byte
	Now                          time.Time
}

// ClaimColumns describe the record's row (insert it so that a conflict
// refuses the movement: ON CONFLICT DO NOTHING and check).
func (k *Keeper) ClaimColumns() []string {
	return []string{"scope", "key", "request_hash", "resource_id", "created_at", "expires_at", "status", "body"}
}

// ClaimValues are the values of the record's row, in ClaimColumns order,
// with r.Body as the response body.
func (k *Keeper) ClaimValues(r Record) []any { return k.ClaimValuesWith(r, string(r.Body)) }

// ClaimValuesWith is ClaimValues with the body given as a value of the
// caller's (the posting engine computes a response from the committed
// outcome: a journal.FromResult).
func (k *Keeper) ClaimValuesWith(r Record, body any) []any {
	return []any{r.Scope, r.Key, r.Hash, r.ResourceID, store.Micros(r.Now), store.Micros(r.Now.Add(k.retention)), r.Status, body}
}

// Sweep deletes records that expired before now and returns how many.
func (k *Keeper) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := k.db.Write(ctx, func(tx *store.Tx) error {
			rows, err := tx.Query(ctx, `SELECT scope, key FROM idempotency_keys WHERE expires_at <= ? LIMIT ?`, store.Micros(now), sweepBatchSize)
			if err != nil {
				return err
			}
			type pk struct{ scope, key string }
			var doomed []pk
			for rows.Next() {
				var p pk
				if err := rows.Scan(&p.scope, &p.key); err != nil {
					rows.Close()
					return err
				}
				doomed = append(doomed, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, p := range doomed {
				if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ?`, p.scope, p.key); err != nil {
					return err
				}
			}
			n = int64(len(doomed))
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("sweep idempotency keys: %w", err)
		}
		total += int(n)
		if n < sweepBatchSize {
			return total, nil
		}
	}
}
