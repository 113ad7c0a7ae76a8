package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/fiscus/fiscus/internal/store"
)

// Sequencing limits.
const (
	// MaxSequenceBatch is the most events one sequencer transaction numbers.
	// It bounds how long that transaction (on SQLite: the single writer) is
	// held, and so the delay it adds to the transfers waiting for it.
	MaxSequenceBatch = 250
	// MaxSequenceRounds is the most sequencer transactions one SequenceOnce
	// runs, so a call ends even while writers add events faster than it
	// numbers them.
	MaxSequenceRounds = 100
)

// sequenceLockKey is the PostgreSQL advisory lock key that makes sequencers
// on several replicas take turns ("outbox" in ASCII).
const sequenceLockKey int64 = 0x6f7574626f78

// ErrSequence means the stored sequence contradicts itself (the head and the
// numbered events disagree), so the sequencer refuses to extend it. It
// points at a bug or a hand-edited table, never at a transient failure.
var ErrSequence = errors.New("outbox sequence is inconsistent")

// SequenceOnce numbers the events that are committed and unsequenced, in
// rounds of at most MaxSequenceBatch events (one transaction each) and at
// most MaxSequenceRounds rounds, and returns how many it numbered. It is
// safe to call concurrently, from any number of processes. Run calls it;
// tests and tools may call it directly.
func (d *Dispatcher) SequenceOnce(ctx context.Context) (int, error) {
	total := 0
	for range MaxSequenceRounds {
		// A cheap read first: an idle sequencer never takes the write lock.
		pending, err := d.pending(ctx)
		if err != nil || !pending {
			return total, err
		}
		n, err := d.sequenceBatch(ctx)
		total += n
		if err != nil || n < MaxSequenceBatch {
			return total, err
		}
	}
	return total, nil
}

func (d *Dispatcher) pending(ctx context.Context) (bool, error) {
	var found bool
	err := d.db.Read(ctx, func(tx *store.Tx) error {
		var pos int64
		err := tx.QueryRow(ctx, `SELECT pos FROM outbox_events WHERE seq IS NULL LIMIT 1`).Scan(&pos)
		if store.IsNotFound(err) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("outbox sequence: look for unsequenced events: %w", err)
	}
	return found, nil
}

// sequenceBatch numbers up to MaxSequenceBatch events, oldest insertion
// first, in one transaction.
func (d *Dispatcher) sequenceBatch(ctx context.Context) (int, error) {
	var numbered int
	err := d.db.Write(ctx, func(tx *store.Tx) error {
		numbered = 0
		if tx.Dialect() == store.Postgres {
			// Held until commit, and released only once the commit is
			// visible: the next sequencer, on any replica, waits here and
			// then sees every event this one numbered. This is what keeps a
			// reader's view of seq a gapless prefix.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(?)`, sequenceLockKey); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		var head int64
		q := `SELECT seq FROM outbox_head WHERE id = 1`
		if tx.Dialect() == store.Postgres {
			// Held until commit, like the advisory lock: a Linker (the
			// posting engine numbering its own events) takes turns with
			// this sequencer on the head row.
			q += ` FOR UPDATE`
		}
		err := tx.QueryRow(ctx, q).Scan(&head)
		if store.IsNotFound(err) {
			return fmt.Errorf("%w: the head row is missing", ErrSequence)
		}
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		// Number the visible unsequenced events head+1, head+2, … in
		// insertion order, with one statement.
		res, err := tx.Exec(ctx, `UPDATE outbox_events SET seq = CAST(? AS BIGINT) + b.rn
			FROM (SELECT pos, ROW_NUMBER() OVER (ORDER BY pos) AS rn
			      FROM (SELECT pos FROM outbox_events WHERE seq IS NULL ORDER BY pos LIMIT ?) AS u) AS b
			WHERE outbox_events.pos = b.pos AND outbox_events.seq IS NULL`, head, MaxSequenceBatch)
		if err != nil {
			return fmt.Errorf("number events: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("number events: %w", err)
		}
		if n == 0 {
			return nil
		}
		// Invariant: the events past the head are now exactly head+1 …
		// head+n (seq is unique, so count and maximum pin them down).
		var count, top int64
		err = tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM outbox_events WHERE seq > ?`, head).Scan(&count, &top)
		if err != nil {
			return fmt.Errorf("check numbering: %w", err)
		}
		if count != n || top != head+n {
			return fmt.Errorf("%w: numbered %d events after head %d, but %d events up to seq %d follow it", ErrSequence, n, head, count, top)
		}
		res, err = tx.Exec(ctx, `UPDATE outbox_head SET seq = ? WHERE id = 1 AND seq = ?`, head+n, head)
		if err != nil {
			return fmt.Errorf("update head: %w", err)
		}
		if rows, err := res.RowsAffected(); err != nil || rows != 1 {
			return fmt.Errorf("%w: head moved during sequencing (rows=%d, err=%v)", ErrSequence, rows, err)
		}
		numbered = int(n)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox sequence: %w", err)
	}
	return numbered, nil
}

// Head returns the last seq given out (0 before the first).
func Head(ctx context.Context, db *store.DB) (int64, error) {
	var head int64
	err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT seq FROM outbox_head WHERE id = 1`).Scan(&head)
	})
	if err != nil {
		return 0, fmt.Errorf("outbox head: %w", err)
	}
	return head, nil
}
