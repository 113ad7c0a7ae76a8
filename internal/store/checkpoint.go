package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite WAL checkpointing, off the writer's commit path.
//
// By default SQLite checkpoints inside COMMIT: the connection whose commit
// takes the WAL past wal_autocheckpoint pages copies the WAL into the
// database file and fsyncs both, while every writer waits. Here the writer
// connection's automatic checkpoint is set far out (a backstop, see
// walBackstopFactor) and a goroutine owned by DB checkpoints on a connection
// of its own:
//
//   - After writes commit (each commit nudges it; at most once per
//     CheckpointInterval) it runs a PASSIVE checkpoint, which copies what it
//     can without waiting for readers or the writer and never blocks them.
//   - PASSIVE alone does not bound the WAL under continuous writes: SQLite
//     restarts the WAL from its beginning only when a write transaction
//     begins after every frame was checkpointed, and with a writer that
//     never pauses a concurrent checkpoint never quite catches up. So once
//     the WAL holds WALMaxFrames pages, the checkpointer takes the writer
//     connection out of the pool (so no write of this process can start;
//     they queue for the connection) and runs a RESTART checkpoint, which
//     copies the few frames PASSIVE left, waits up to walRestartWait for
//     readers still using old frames, and makes the next write start the
//     WAL from the beginning. journal_size_limit then keeps the file at
//     walSizeLimit bytes at most once it is reused.
//
// The WAL is thereby bounded by WALMaxFrames plus what is written while one
// RESTART waits, as long as no reader holds a snapshot for longer than that:
// no checkpoint, in any mode, may overwrite pages a reader still needs, so a
// long read transaction lets the WAL grow until it ends (SQLite's own rule,
// the same without this checkpointer). A RESTART blocked by such a reader
// is counted in WALStats.Blocked and retried at the next nudge.
//
// Durability does not depend on checkpoints: a commit is durable once the
// WAL is synced after it (durable.go), whoever checkpoints later; a
// checkpoint (its connection runs with synchronous=FULL) syncs the WAL
// before copying and the database file after.
const (
	// DefaultWALMaxFrames is the default bound on the WAL, in pages
	// (128 MiB at the 4 KiB page size). A transfer dirties about eight
	// pages, so under load a smaller bound resets the WAL several times a
	// second, and each reset holds the writer while it waits for readers.
	DefaultWALMaxFrames = 32768
	// DefaultCheckpointInterval is the default least time between two
	// background checkpoints. Longer intervals copy a page changed many times
	// once; the WAL bound holds whatever the interval.
	DefaultCheckpointInterval = 100 * time.Millisecond
	// walBackstopFactor sets the writer's own wal_autocheckpoint to this many
	// times WALMaxFrames, so that a checkpointer that cannot keep up (or
	// fails) still leaves SQLite's default behaviour as a last resort.
	walBackstopFactor = 4
	// walRestartWait bounds how long a RESTART checkpoint waits for readers
	// (and for writers of other processes) while this process's writes wait
	// for it.
	walRestartWait = 250 * time.Millisecond
	// checkpointTimeout bounds one checkpoint cycle.
	checkpointTimeout = 30 * time.Second
)

// WALStats are the counters of the background checkpointer and of the WAL
// fsyncs that make commits durable (SQLite; zero on PostgreSQL).
type WALStats struct {
	Checkpoints int64 // PASSIVE checkpoints run
	Restarts    int64 // RESTART checkpoints that reset the WAL
	Blocked     int64 // RESTART checkpoints that timed out waiting for readers
	Failures    int64 // checkpoints that failed with an error
	Frames      int64 // WAL size in pages at the last checkpoint
	LastError   string
	Fsyncs      int64         // WAL fsyncs run for commits (durable.go)
	FsyncTime   time.Duration // their total time
}

// checkpointer runs the background checkpoints of a SQLite database.
type checkpointer struct {
	conn      *sql.DB // its own connection
	writer    *sql.DB // the writer pool (one connection), held during a RESTART
	maxFrames int64
	interval  time.Duration

	kick   chan struct{} // buffered(1): commits nudge without blocking
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned

	mu                                     sync.Mutex // one cycle at a time
	checkpoints, restarts, blocked, failed atomic.Int64
	frames                                 atomic.Int64
	lastErr                                atomic.Pointer[string]
	// afterCycle, when set (tests only, before the first commit), gets the
	// outcome of every background cycle.
	afterCycle func(error)
	// duringPassive, when set (tests only), runs before a cycle's PASSIVE
	// checkpoint and returns what to run right after it, to play a writer
	// whose transaction overlaps the checkpoint.
	duringPassive func() (after func())
}

func newCheckpointer(conn, writer *sql.DB, maxFrames int, interval time.Duration) *checkpointer {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{
		conn: conn, writer: writer, maxFrames: int64(maxFrames), interval: interval,
		kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
	go c.loop()
	return c
}

// notify tells the checkpointer that a write committed.
func (c *checkpointer) notify() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		}
		ctx, cancel := context.WithTimeout(c.ctx, checkpointTimeout)
		err := c.cycle(ctx)
		cancel()
		if err != nil && c.ctx.Err() == nil {
			c.failed.Add(1)
			msg := err.Error()
			c.lastErr.Store(&msg)
		}
		if c.afterCycle != nil {
			c.afterCycle(err)
		}
		t := time.NewTimer(c.interval)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// stop ends the goroutine and waits for it; a cycle in progress is
// interrupted.
func (c *checkpointer) stop() {
	c.cancel()
	<-c.done
}

// cycle runs one PASSIVE checkpoint and, if the WAL is over its bound, a
// RESTART with the writer connection held.
func (c *checkpointer) cycle(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var after func()
	if c.duringPassive != nil {
		after = c.duringPassive()
	}
	_, frames, err := c.checkpoint(ctx, c.conn, "PASSIVE")
	if after != nil {
		after()
	}
	if err != nil {
		return err
	}
	c.checkpoints.Add(1)
	if frames < c.maxFrames {
		return nil
	}
	w, err := c.writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("hold writer for checkpoint: %w", err)
	}
	defer w.Close()
	busy, _, err := c.checkpoint(ctx, c.conn, "RESTART")
	if err != nil {
		return err
	}
	if busy {
		c.blocked.Add(1)
		return nil
	}
	c.restarts.Add(1)
	return nil
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on conn. busy reports that it
// could not finish: a blocking mode gave up waiting, or another connection
// (another process, or the writer's backstop) was checkpointing. frames is
// the WAL's size in pages, or -1 when it is unknown.
func (c *checkpointer) checkpoint(ctx context.Context, conn *sql.DB, mode string) (busy bool, frames int64, err error) {
	var b, done int64
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&b, &frames, &done); err != nil {
		return false, -1, fmt.Errorf("wal_checkpoint(%s): %w", mode, err)
	}
	if frames >= 0 {
		c.frames.Store(frames)
	}
	return b != 0, frames, nil
}

func (c *checkpointer) stats() WALStats {
	s := WALStats{
		Checkpoints: c.checkpoints.Load(), Restarts: c.restarts.Load(), Blocked: c.blocked.Load(),
		Failures: c.failed.Load(), Frames: c.frames.Load(),
	}
	if p := c.lastErr.Load(); p != nil {
		s.LastError = *p
	}
	return s
}

// WALStats returns the background checkpointer's and the WAL fsyncs'
// counters.
func (db *DB) WALStats() WALStats {
	var s WALStats
	if db.ckpt != nil {
		s = db.ckpt.stats()
	}
	if db.sync != nil {
		s.Fsyncs, s.FsyncTime = db.sync.fsyncs.Load(), time.Duration(db.sync.fsyncNanos.Load())
	}
	return s
}

// Checkpoint runs one checkpoint cycle now, as the background checkpointer
// would after a commit (SQLite; a no-op on PostgreSQL). Maintenance commands
// and tests use it; the server leaves it to the background.
func (db *DB) Checkpoint(ctx context.Context) error {
	if db.ckpt == nil {
		return nil
	}
	return db.ckpt.cycle(ctx)
}
