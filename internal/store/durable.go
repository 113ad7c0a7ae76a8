package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// SQLite durability, off the writer's commit path.
//
// With synchronous=FULL SQLite fsyncs the WAL inside every COMMIT, so the
// one writer connection sits idle for the length of an fsync after each
// transaction and the next transaction cannot start until it is over. Here
// the writer connection commits with synchronous=NORMAL (COMMIT appends the
// transaction's frames to the WAL and returns; the WAL stays crash-safe,
// only not yet durable) and DB's syncer fsyncs the WAL file right after,
// on a goroutine of its own: one fsync covers every transaction that
// committed before it began, at most maxSyncsInFlight run at once, and the
// writer runs the next transaction meanwhile.
//
// What is promised is what synchronous=FULL promised:
//
//   - Write returns only once its transaction is durable: an fsync of the
//     WAL that began after its COMMIT returned has succeeded. WriteDeferred
//     returns at COMMIT and hands the caller a Durable to wait on before it
//     tells anyone the write happened (the posting engine answers a batch's
//     callers from it while it runs the next batch).
//   - Nothing read is undone by a crash: Read and Query, before they
//     return, wait until every transaction their snapshot could have seen
//     is durable (every one whose COMMIT had begun when they finished
//     reading), so no answer, balance or stored response is ever built on
//     a write that a power loss could still take back.
//   - A crash keeps a prefix of the commits: the WAL's frames are appended
//     in commit order (walvfs, which gathers a transaction's appends, has
//     written them all before its COMMIT returns) and each frame's checksum
//     covers all frames before it, so recovery stops at the first frame that did not reach the disk
//     and never keeps a later transaction without an earlier one. A
//     transaction that read another's non-durable writes is therefore
//     durable only with them.
//   - A failed fsync is final: the pages it should have made durable may be
//     lost, so every Durable still waiting, every later Write and every
//     later Read fails with ErrNotDurable until the database is reopened.
//
// Checkpoints are unchanged: the checkpointer's connection runs with
// synchronous=FULL, so a checkpoint fsyncs the WAL before it copies frames
// into the database file and the database file after, and the writer's
// synchronous=NORMAL still fsyncs the WAL header when the WAL is reused from
// its beginning. Killing the process (rather than the machine) loses
// nothing at all: the written frames are in the operating system's cache.
//
// Other processes writing the same file (maintenance commands) have their
// own syncer; a reader here may see one of their transactions before it is
// durable.

// ErrNotDurable wraps the error of a failed WAL fsync: what was committed
// since the last good one may not survive a power loss.
var ErrNotDurable = errors.New("store: the write-ahead log could not be made durable; reopen the database")

// Durable waits until a committed write is durable. It never waits on a
// context: the write has committed, and reporting it as failed because a
// caller stopped waiting would be wrong; an fsync takes milliseconds.
type Durable func() error

// durableNow is the Durable of a write that was durable at COMMIT.
func durableNow() error { return nil }

// maxSyncsInFlight is how many fsyncs of the WAL may run at once. A second
// one starts while the first still runs, for the commits that returned
// after the first began, so that their wait is one fsync rather than the
// rest of the first plus one; Linux lets the second flush new pages while
// the first's are still being written, and each waits for every page
// dirtied before it began, including those the other is writing.
const maxSyncsInFlight = 2

// syncer fsyncs a SQLite WAL after commits.
type syncer struct {
	wal string // the WAL file's path
	dir string // its directory, synced once
	// syncFile makes the open file (or directory) durable; tests replace
	// it.
	syncFile func(f *os.File) error

	// begun counts write transactions whose COMMIT has begun (their writes
	// may be visible from then on); written those whose COMMIT returned.
	begun, written atomic.Uint64
	// fsyncs and fsyncNanos count the WAL fsyncs and their time (WALStats).
	fsyncs, fsyncNanos atomic.Int64

	mu       sync.Mutex
	f        *os.File      // the WAL, open while the database is
	old      []*os.File    // WAL files replaced since (see startLocked)
	durable  uint64        // every commit up to this one is durable
	started  uint64        // the highest commit an fsync under way covers
	inFlight int           // fsyncs under way
	err      error         // sticky: a failed fsync
	advanced chan struct{} // closed and replaced whenever durable, err or inFlight changes
	dirDone  bool
	closed   bool
	waiting  int // callers blocked in wait (for tests)
}

func newSyncer(dbPath string) *syncer {
	return &syncer{wal: dbPath + "-wal", dir: filepath.Dir(dbPath), syncFile: (*os.File).Sync,
		advanced: make(chan struct{})}
}

// beginCommit is called right before a write transaction's COMMIT.
func (s *syncer) beginCommit() { s.begun.Add(1) }

// committed is called after the COMMIT of the transaction whose
// beginCommit came last (the writer pool has one connection, so commits
// do not interleave). It returns the Durable for that transaction.
func (s *syncer) committed() Durable {
	seq := s.written.Add(1)
	s.mu.Lock()
	s.startLocked()
	s.mu.Unlock()
	return func() error { return s.wait(context.Background(), seq) }
}

// startLocked starts an fsync for the commits no fsync under way covers,
// unless maxSyncsInFlight already run (the first to end starts it then).
func (s *syncer) startLocked() {
	target := s.written.Load()
	if target <= s.started || s.inFlight >= maxSyncsInFlight || s.err != nil {
		return
	}
	if s.f != nil && !s.sameWAL() {
		// The WAL was replaced (SQLite deletes it when the last connection
		// to the database closes): fsync the file that is there now. The
		// old one is closed with the syncer, since an fsync may still use
		// it.
		s.old, s.f = append(s.old, s.f), nil
	}
	if s.f == nil {
		f, err := os.Open(s.wal)
		if err != nil {
			s.failLocked(err)
			return
		}
		s.f = f
	}
	s.started = target
	s.inFlight++
	go s.fsync(s.f, target, !s.dirDone)
}

// sameWAL reports whether s.f is still the file at the WAL's path.
func (s *syncer) sameWAL() bool {
	at, err := os.Stat(s.wal)
	if err != nil {
		return true // nothing better to sync; an fsync error will tell
	}
	open, err := s.f.Stat()
	return err == nil && os.SameFile(at, open)
}

// fsync makes the commits up to target durable.
func (s *syncer) fsync(f *os.File, target uint64, syncDir bool) {
	began := time.Now()
	err := s.syncFile(f)
	s.fsyncNanos.Add(int64(time.Since(began)))
	s.fsyncs.Add(1)
	if err == nil && syncDir {
		// The WAL's directory entry, once: a WAL created since the last
		// boot must itself survive.
		err = s.syncDir()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	switch {
	case err != nil:
		s.failLocked(err)
	case target > s.durable:
		s.durable, s.dirDone = target, true
	}
	s.broadcastLocked()
	s.startLocked()
}

func (s *syncer) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	return errors.Join(s.syncFile(d), d.Close())
}

func (s *syncer) failLocked(err error) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: fsync %s: %w", ErrNotDurable, s.wal, err)
	}
	s.broadcastLocked()
}

func (s *syncer) broadcastLocked() {
	close(s.advanced)
	s.advanced = make(chan struct{})
}

// wait blocks until commit seq is durable (or the syncer failed), or ctx
// ends.
func (s *syncer) wait(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		if s.durable >= seq {
			s.mu.Unlock()
			return nil
		}
		ch := s.advanced
		s.waiting++
		s.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// waitVisible blocks until every transaction a read that has just finished
// could have seen is durable: every one whose COMMIT had begun.
func (s *syncer) waitVisible(ctx context.Context) error {
	return s.wait(ctx, s.begun.Load())
}

// failed returns the sticky error, if any.
func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// flush makes every commit so far durable now.
func (s *syncer) flush() error {
	seq := s.written.Load()
	s.mu.Lock()
	s.startLocked()
	s.mu.Unlock()
	return s.wait(context.Background(), seq)
}

// close makes every commit durable, waits for the fsyncs under way and
// closes the WAL file.
func (s *syncer) close() error {
	err := s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inFlight > 0 {
		ch := s.advanced
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	if !s.closed {
		s.closed = true
		for _, f := range append(s.old, s.f) {
			if f != nil {
				err = errors.Join(err, f.Close())
			}
		}
	}
	return err
}

// syncWAL makes durable what was committed on the writer connection outside
// Write (migrations run through their own library): it waits for the
// commits Write made, then fsyncs the WAL once more.
func (s *syncer) syncWAL() error {
	if err := s.flush(); err != nil {
		return err
	}
	f, err := os.Open(s.wal)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no WAL: every commit is in the database file
	}
	if err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrNotDurable, s.wal, err)
	}
	defer f.Close()
	if err := s.syncFile(f); err != nil {
		return fmt.Errorf("%w: fsync %s: %w", ErrNotDurable, s.wal, err)
	}
	return nil
}

// SetFsync replaces the WAL fsync of a SQLite database (a no-op on
// PostgreSQL), for tests that must hold an fsync or make one fail. fn is
// called with the WAL file, or with its directory once. Call it before the
// database is used concurrently.
func (db *DB) SetFsync(fn func(f *os.File) error) {
	if db.sync == nil {
		return
	}
	db.sync.mu.Lock()
	defer db.sync.mu.Unlock()
	db.sync.syncFile = fn
}
