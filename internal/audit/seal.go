package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/store"
)

// Sealing limits.
const (
	// MaxSealBatch is the most events one seal transaction links. It bounds
	// how long the transaction (on SQLite: the single writer) is held: at
	// 25-40 µs an event on SQLite, a few milliseconds, which is the delay a
	// batch of transfers waiting for the writer meanwhile can see.
	MaxSealBatch = 250
	// MaxSealRounds is the most seal transactions one SealOnce runs, so a
	// call ends even while writers keep adding events faster than it seals.
	MaxSealRounds = 100
	// sealUpdateChunk is how many events one UPDATE statement links
	// (4 parameters each, far below both engines' parameter limits).
	sealUpdateChunk = 250
	// finalSealTimeout bounds the last seal Run does after its context ends.
	finalSealTimeout = 30 * time.Second
	// sealErrorLogEvery spaces out the log lines of a lasting seal failure.
	sealErrorLogEvery = time.Minute
)

// sealLockKey is the PostgreSQL advisory lock key that makes sealers on
// several replicas take turns ("audit" in ASCII).
const sealLockKey int64 = 0x6175646974

// ErrHeadMismatch means the chain head and the sealed events disagree, so
// the sealer refuses to extend the chain; `fiscus audit verify` says where.
var ErrHeadMismatch = errors.New("audit chain head does not match the sealed events")

// Sealer links committed, unsealed events into the hash chain.
type Sealer struct {
	db       *store.DB
	log      *slog.Logger
	interval time.Duration
}

// NewSealer returns a sealer that, once Run, seals every interval.
func NewSealer(db *store.DB, log *slog.Logger, interval time.Duration) *Sealer {
	if interval <= 0 {
		interval = time.Second
	}
	return &Sealer{db: db, log: log, interval: interval}
}

// Run seals every interval until ctx is cancelled, then seals once more (with
// a fresh deadline), so that every event committed before the cancellation
// is sealed when Run returns. A failed round is retried at the next tick; a
// failure is logged when it starts and then about once every
// sealErrorLogEvery while it lasts, and recovery is logged too. Only the
// final seal's error is returned.
func (s *Sealer) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	logEvery := max(1, int(sealErrorLogEvery/s.interval))
	failures := 0
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalSealTimeout)
			defer cancel()
			n, err := s.SealOnce(fctx)
			if err != nil {
				return fmt.Errorf("final audit seal: %w", err)
			}
			if n > 0 {
				s.log.Info("sealed audit events at shutdown", "count", n)
			}
			return nil
		case <-t.C:
			n, err := s.SealOnce(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				// Shutting down: the final seal follows.
			case err != nil:
				if failures%logEvery == 0 {
					s.log.Error("audit seal failed", "err", err, "consecutive_failures", failures+1)
				}
				failures++
			default:
				if failures > 0 {
					s.log.Info("audit sealing recovered", "failed_rounds", failures)
					failures = 0
				}
				if n > 0 {
					s.log.Debug("sealed audit events", "count", n)
				}
			}
		}
	}
}

// SealOnce seals the events that are committed and unsealed, in rounds of at
// most MaxSealBatch events (one transaction each) and at most MaxSealRounds
// rounds, and returns how many it sealed. It is safe to call concurrently,
// from any number of processes.
func (s *Sealer) SealOnce(ctx context.Context) (int, error) {
	total := 0
	for range MaxSealRounds {
		// A cheap read first: an idle sealer never takes the write lock.
		pending, err := s.pending(ctx)
		if err != nil || !pending {
			return total, err
		}
		n, err := s.sealBatch(ctx)
		total += n
		if err != nil || n < MaxSealBatch {
			return total, err
		}
	}
	return total, nil
}

func (s *Sealer) pending(ctx context.Context) (bool, error) {
	var found bool
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var pos int64
		err := tx.QueryRow(ctx, `SELECT pos FROM audit_events WHERE seq IS NULL LIMIT 1`).Scan(&pos)
		if store.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("audit seal: look for unsealed events: %w", err)
	}
	return found, nil
}

// unsealed is one event being sealed.
type unsealed struct {
	pos, at int64
	f       fields[string]
}

// sealBatch links up to MaxSealBatch events in one transaction.
func (s *Sealer) sealBatch(ctx context.Context) (int, error) {
	var sealed int
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		sealed = 0
		if tx.Dialect() == store.Postgres {
			// Held until commit: sealers on other replicas wait here and
			// then see this round's head.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, sealLockKey); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		headSeq, headHash, err := readHead(ctx, tx, true)
		if err != nil {
			return err
		}
		// The head is the sealer's only state; refuse to build on one that
		// the newest sealed event contradicts (a restored or hand-edited
		// head, a truncated or extended table). Verify tells where.
		var tipSeq int64
		var tipHash []byte
		err = tx.QueryRow(ctx, `SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&tipSeq, &tipHash)
		if err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("read the newest sealed event: %w", err)
		}
		if tipSeq != headSeq || (headSeq > 0 && !bytes.Equal(tipHash, headHash[:])) {
			return fmt.Errorf("%w: the head is at seq %d, the newest sealed event at seq %d", ErrHeadMismatch, headSeq, tipSeq)
		}
		batch, err := readUnsealed(ctx, tx)
		if err != nil || len(batch) == 0 {
			return err
		}
		links := make([]link, len(batch))
		prev := headHash
		var buf []byte
		for i := range batch {
			e := &batch[i]
			seq := headSeq + int64(i) + 1
			buf = chainInput(buf[:0], prev[:], seq, e.at, &e.f)
			h := sha256.Sum256(buf)
			links[i] = link{pos: e.pos, seq: seq, prev: prev, hash: h}
			prev = h
		}
		for chunk := range slices.Chunk(links, sealUpdateChunk) {
			if err := writeLinks(ctx, tx, chunk); err != nil {
				return err
			}
		}
		last := links[len(links)-1]
		res, err := tx.Exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?`, last.seq, last.hash[:], headSeq)
		if err != nil {
			return fmt.Errorf("update head: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%w: head moved during the seal (rows=%d, err=%v)", ErrHeadMismatch, n, err)
		}
		sealed = len(links)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit seal: %w", err)
	}
	return sealed, nil
}

// readHead returns the chain head: the last seq (0 for an empty chain) and
// its hash (genesis for an empty chain). With lock, on PostgreSQL, it locks
// the head row until commit.
func readHead(ctx context.Context, tx *store.Tx, lock bool) (int64, [HashSize]byte, error) {
	var seq int64
	var h []byte
	var out [HashSize]byte
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if lock && tx.Dialect() == store.Postgres {
		// Held until commit: a Linker (the posting engine sealing its own
		// events) waits here, and so does this sealer for a Linker.
		q += ` FOR UPDATE`
	}
	err := tx.QueryRow(ctx, q).Scan(&seq, &h)
	if store.IsNotFound(err) {
		return 0, out, fmt.Errorf("%w: the head row is missing", ErrHeadMismatch)
	}
	if err != nil {
		return 0, out, fmt.Errorf("read head: %w", err)
	}
	if len(h) != HashSize || seq < 0 {
		return 0, out, fmt.Errorf("%w: malformed head (seq %d, %d-byte hash)", ErrHeadMismatch, seq, len(h))
	}
	copy(out[:], h)
	return seq, out, nil
}

func readUnsealed(ctx context.Context, tx *store.Tx) ([]unsealed, error) {
	rows, err := tx.Query(ctx, `SELECT pos, id, at, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details
		FROM audit_events WHERE seq IS NULL ORDER BY pos LIMIT ?`, MaxSealBatch)
	if err != nil {
		return nil, fmt.Errorf("read unsealed events: %w", err)
	}
	defer rows.Close()
	var out []unsealed
	for rows.Next() {
		var e unsealed
		if err := rows.Scan(&e.pos, &e.f.ID, &e.at, &e.f.ActorKind, &e.f.ActorID, &e.f.Action,
			&e.f.TargetType, &e.f.TargetID, &e.f.RequestID, &e.f.IP, &e.f.Details); err != nil {
			return nil, fmt.Errorf("read unsealed events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read unsealed events: %w", err)
	}
	return out, nil
}

// link is what sealing writes to one event.
type link struct {
	pos, seq   int64
	prev, hash [HashSize]byte
}

// writeLinks stores seq, prev_hash and hash of several events with one
// statement. The "seq IS NULL" condition and the row count make sure no
// event is sealed twice.
func writeLinks(ctx context.Context, tx *store.Tx, links []link) error {
	var q strings.Builder
	q.WriteString(`WITH v (pos, seq, prev_hash, hash) AS (VALUES `)
	row := `(?, ?, ?, ?)`
	if tx.Dialect() == store.Postgres {
		// PostgreSQL cannot infer parameter types inside VALUES.
		row = `(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BYTEA), CAST(? AS BYTEA))`
	}
	args := make([]any, 0, 4*len(links))
	for i := range links {
		l := &links[i]
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(row)
		args = append(args, l.pos, l.seq, l.prev[:], l.hash[:])
	}
	// The pos range (links are in pos order) lets the planner find the rows
	// by primary key even before it has statistics on a young table.
	q.WriteString(`) UPDATE audit_events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
		FROM v WHERE audit_events.pos = v.pos AND audit_events.pos BETWEEN ? AND ? AND audit_events.seq IS NULL`)
	args = append(args, links[0].pos, links[len(links)-1].pos)
	res, err := tx.Exec(ctx, q.String(), args...)
	if err != nil {
		return fmt.Errorf("link events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("link events: %w", err)
	}
	if n != int64(len(links)) {
		return fmt.Errorf("link events: updated %d rows, want %d", n, len(links))
	}
	return nil
}
