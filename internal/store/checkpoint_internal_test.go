package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The background checkpointer runs after commits, on its own connection,
// while the writer's own automatic checkpoint is set far out; Close stops it.
func TestCheckpointerRunsAfterCommitsAndCloseStopsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:///"+filepath.ToSlash(filepath.Join(t.TempDir(), "ck.db")), Options{WALMaxFrames: 100, CheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			db.Close()
		}
	})
	var auto int
	if err := db.w.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != walBackstopFactor*100 {
		t.Fatalf("writer wal_autocheckpoint = %d, want the backstop %d", auto, walBackstopFactor*100)
	}
	cycles := make(chan error, 64)
	// Set before the first commit: the commit's nudge orders it before the
	// goroutine reads it.
	db.ckpt.afterCycle = func(err error) {
		select {
		case cycles <- err:
		default:
		}
	}
	for i := range 3 {
		err := db.Write(ctx, func(tx *Tx) error {
			if i == 0 {
				if _, err := tx.Exec(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO t (v) VALUES (?)`, "x")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-cycles:
		if err != nil {
			t.Fatalf("background checkpoint: %v", err)
		}
	case <-time.After(time.Minute): // a bound on a hang, not a timing assertion
		t.Fatal("no background checkpoint after commits")
	}
	if st := db.WALStats(); st.Checkpoints == 0 || st.Failures != 0 {
		t.Fatalf("WALStats = %+v, want checkpoints and no failures", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	select {
	case <-db.ckpt.done:
	default:
		t.Fatal("checkpointer goroutine still running after Close")
	}
}

// A statement run with ExecCached is prepared after its first transaction
// and reused, still correct, by later ones, also after a rollback.
func TestStatementCachePreparesAfterTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:///"+filepath.ToSlash(filepath.Join(t.TempDir(), "st.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const ins = `INSERT INTO t (k, v) VALUES (?, ?)`
	insert := func(k int) error {
		return db.Write(ctx, func(tx *Tx) error {
			_, err := tx.ExecCached(ctx, ins, k, "v")
			return err
		})
	}
	if err := insert(1); err != nil {
		t.Fatal(err)
	}
	if n := db.stmts.len(); n != 1 {
		t.Fatalf("%d statements prepared after the first transaction, want 1", n)
	}
	if err := insert(1); !IsUniqueViolation(err) {
		t.Fatalf("duplicate through the cached statement: %v, want unique violation", err)
	}
	if err := insert(2); err != nil {
		t.Fatal(err)
	}
	if n := db.stmts.len(); n != 1 {
		t.Fatalf("%d statements prepared, want still 1", n)
	}
	var count int
	if err := db.Read(ctx, func(tx *Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&count)
	}); err != nil {
		t.Fatal(err)
	}
	if count != 2 {
		t.Fatalf("%d rows, want 2", count)
	}

	// Reads have a cache of their own, prepared on the reader connections
	// once the first read transaction that used the text has ended.
	const sel = `SELECT v FROM t WHERE k = ?`
	read := func(k int) (string, error) {
		var v string
		err := db.Read(ctx, func(tx *Tx) error { return tx.QueryRowCached(ctx, sel, k).Scan(&v) })
		return v, err
	}
	for i, k := range []int{1, 2, 1, 3} {
		v, err := read(k)
		if k == 3 {
			if !IsNotFound(err) {
				t.Fatalf("read of a missing row through the cache: %v", err)
			}
			continue
		}
		if err != nil || v != "v" {
			t.Fatalf("read %d: %q %v", i, v, err)
		}
		if n := db.rstmts.len(); n != 1 {
			t.Fatalf("after read %d: %d read statements prepared, want 1", i, n)
		}
	}
	if n := db.stmts.len(); n != 1 {
		t.Fatalf("reads prepared on the writer: %d statements there, want 1", n)
	}
}

// walFrameBytes is the size of one WAL frame at the default 4 KiB page.
const walFrameBytes = sqlitePageSize + walFrameHeader

// Under writes that never let a checkpoint catch up (simulated: a write
// transaction overlaps every cycle's PASSIVE checkpoint, as the batch
// writer's do under load), SQLite never starts the WAL over on its own; the checkpointer's RESTART keeps it near WALMaxFrames, well below
// the writer's own backstop. What was written survives closing and
// reopening, intact.
func TestCheckpointerBoundsTheWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	u := "sqlite:///" + filepath.ToSlash(path)
	const maxFrames = 64
	opt := Options{WALMaxFrames: maxFrames}
	db, err := Open(ctx, u, opt)
	if err != nil {
		t.Fatal(err)
	}
	// This test runs the cycles itself: stop the background ones.
	db.ckpt.stop()
	if err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE blobs (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("x", 2000)
	next := 0
	write := func(rows int) {
		t.Helper()
		err := db.Write(ctx, func(tx *Tx) error {
			for range rows {
				if _, err := tx.ExecCached(ctx, `INSERT INTO blobs (k, v) VALUES (?, ?)`, next, value); err != nil {
					return err
				}
				next++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A write transaction of the writer connection is open while PASSIVE
	// runs and commits right after it.
	db.ckpt.duringPassive = func() func() {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (k, v) VALUES (?, ?)`, next, value); err != nil {
			t.Fatal(err)
		}
		next++
		return func() {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each transaction writes about 10 pages; 60 of them are 600 pages, far
	// past both the bound (64) and the backstop (4 × 64).
	const txs, rowsPerTx = 60, 16
	const perTx = 12 // pages one transaction may add, with some slack
	limit := int64(maxFrames+3*perTx)*walFrameBytes + 32
	var largest int64
	for i := range txs {
		write(rowsPerTx)
		if err := db.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, fi.Size())
		if fi.Size() > limit {
			t.Fatalf("after transaction %d the WAL is %d bytes, over the bound of %d (%+v)", i, fi.Size(), limit, db.WALStats())
		}
	}
	st := db.WALStats()
	if st.Restarts == 0 || st.Failures != 0 || st.Blocked != 0 {
		t.Fatalf("WALStats = %+v, want restarts, nothing blocked and no failures", st)
	}
	t.Logf("largest WAL %d bytes (bound %d), %+v", largest, limit, st)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, u, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var n int
	var check string
	err = db.Read(ctx, func(tx *Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM blobs WHERE v = ?`, value).Scan(&n); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `PRAGMA integrity_check`).Scan(&check)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != next || check != "ok" {
		t.Fatalf("after reopening: %d rows (want %d), integrity_check %q", n, next, check)
	}
}
