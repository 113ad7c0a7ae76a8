package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// ChainHash is what the sealer stores as the hash of e at seq after prev: an
// attacker who knows the algorithm can compute it, and the tamper tests do.
func ChainHash(prev []byte, seq int64, e Entry) []byte {
	f := fields[string]{
		ID: e.ID, ActorKind: string(e.ActorKind), ActorID: e.ActorID, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID, IP: e.IP, Details: string(e.Details),
	}
	h := sha256.Sum256(chainInput(nil, prev, seq, store.Micros(e.At), &f))
	return h[:]
}

// SplitShortChains makes Verify split even a short chain into ranges of n
// events, so tests exercise the stitching of ranges read in parallel.
func SplitShortChains(o Options, n int64) Options {
	o.minRange = n
	return o
}

// seedBatch is how many events one INSERT statement of SeedSealed carries
// (13 parameters each), and seedTx how many one transaction commits.
const (
	seedBatch = 200
	seedTx    = 50_000
)

// SeedSealed appends n sealed events to the chain quickly, for benchmarks
// that need millions of them: hashes are computed here, the same way the
// sealer does, and rows are inserted with multi-row statements in large
// transactions. It must not run concurrently with a sealer.
func SeedSealed(ctx context.Context, db *store.DB, n int) error {
	var headSeq int64
	var headHash [HashSize]byte
	err := db.Read(ctx, func(tx *store.Tx) error {
		var err error
		headSeq, headHash, err = readHead(ctx, tx, false)
		return err
	})
	if err != nil {
		return err
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	details := `{"after":{"amount":125000,"currency":"USD","status":"executed"},"before":{"status":"pending_approval"}}`
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	var buf []byte
	for done := 0; done < n; {
		inTx := min(seedTx, n-done)
		var endSeq int64
		var endHash [HashSize]byte
		err := db.Write(ctx, func(tx *store.Tx) error {
			seq, prev := headSeq, headHash
			for k := 0; k < inTx; k += seedBatch {
				m := min(seedBatch, inTx-k)
				args := make([]any, 0, 13*m)
				for range m {
					seq++
					ts := at.Add(time.Duration(seq) * time.Millisecond)
					f := fields[string]{
						ID: id.New(IDPrefix, ts), ActorKind: string(ActorUser), ActorID: fmt.Sprintf("usr_%08d", seq%1000),
						Action: "transfer.approved", TargetType: "transfer", TargetID: fmt.Sprintf("trf_%010d", seq),
						RequestID: fmt.Sprintf("req_%012d", seq), IP: "203.0.113.7", Details: details,
					}
					buf = chainInput(buf[:0], prev[:], seq, store.Micros(ts), &f)
					h := sha256.Sum256(buf)
					args = append(args, f.ID, store.Micros(ts), f.ActorKind, f.ActorID, f.Action, f.TargetType, f.TargetID,
						f.RequestID, f.IP, f.Details, seq, append([]byte(nil), prev[:]...), h[:])
					prev = h
				}
				q := `INSERT INTO audit_events (id, at, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details, seq, prev_hash, hash) VALUES ` +
					strings.TrimSuffix(strings.Repeat(row+", ", m), ", ")
				if _, err := tx.Exec(ctx, q, args...); err != nil {
					return fmt.Errorf("seed: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, prev[:]); err != nil {
				return err
			}
			endSeq, endHash = seq, prev
			return nil
		})
		if err != nil {
			return err
		}
		headSeq, headHash = endSeq, endHash
		done += inTx
	}
	if db.Dialect() == store.SQLite {
		// A running server's WAL is checkpointed continually; leave the
		// database in that state rather than with a WAL of the whole seed.
		if _, err := db.SQL().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			return fmt.Errorf("seed: checkpoint: %w", err)
		}
	}
	return nil
}
