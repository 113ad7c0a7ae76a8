package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedSync replaces a SQLite database's fsync with one that reports each
// call and waits for the test to let it finish (or fail).
type gatedSync struct {
	calls   chan *gatedCall
	passing atomic.Bool // when set, fsyncs succeed at once
	mu      sync.Mutex
	all     []*gatedCall
}

type gatedCall struct {
	path    string
	release chan error // buffered(1)
	once    sync.Once
}

func gate(t *testing.T, db *DB) *gatedSync {
	t.Helper()
	g := &gatedSync{calls: make(chan *gatedCall, 16)}
	db.sync.mu.Lock()
	db.sync.syncFile = func(f *os.File) error {
		if g.passing.Load() {
			return nil
		}
		c := &gatedCall{path: f.Name(), release: make(chan error, 1)}
		g.mu.Lock()
		g.all = append(g.all, c)
		g.mu.Unlock()
		g.calls <- c
		return <-c.release
	}
	db.sync.mu.Unlock()
	t.Cleanup(g.pass)
	return g
}

// next returns the next fsync that started.
func (g *gatedSync) next(t *testing.T) *gatedCall {
	t.Helper()
	return <-g.calls
}

// release lets the fsync c end with err.
func (g *gatedSync) release(t *testing.T, c *gatedCall, err error) {
	t.Helper()
	c.once.Do(func() { c.release <- err })
}

// pass lets every later fsync through, and every one still held.
func (g *gatedSync) pass() {
	g.passing.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.all {
		c.once.Do(func() { c.release <- nil })
	}
}

func openSQLiteT(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:///"+filepath.ToSlash(filepath.Join(t.TempDir(), "d.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

func insertV(ctx context.Context, v string) func(*Tx) error {
	return func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t (v) VALUES (?)`, v)
		return err
	}
}

func countV(ctx context.Context, db *DB, v string) (int, error) {
	n := 0
	err := db.Query(ctx, `SELECT count(*) FROM t WHERE v = ?`, []any{v}, func(rows *sql.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&n); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// A Write returns only after an fsync that began after its COMMIT has
// succeeded; the writer connection itself does not fsync (NORMAL).
func TestWriteReturnsOnlyOnceTheWALIsSynced(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteT(t)
	var mode int
	if err := db.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil || mode != 1 {
		t.Fatalf("writer synchronous = %d (%v), want 1 (NORMAL)", mode, err)
	}
	g := gate(t, db)
	db.sync.mu.Lock()
	db.sync.dirDone = false // as after a WAL was created: its directory is synced once
	db.sync.mu.Unlock()
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := db.Write(ctx, insertV(ctx, "a"))
		if err == nil && !released.Load() {
			err = errors.New("Write returned before its fsync finished")
		}
		done <- err
	}()
	c := g.next(t)
	if filepath.Base(c.path) != "d.db-wal" {
		t.Fatalf("first fsync of %s, want the WAL", c.path)
	}
	released.Store(true)
	g.release(t, c, nil)
	// The first fsync of the WAL is followed by one of its directory.
	d := g.next(t)
	if d.path != filepath.Dir(c.path) {
		t.Fatalf("second fsync of %s, want the WAL's directory", d.path)
	}
	g.release(t, d, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The Durable of a write, and a Read and a Query that see it, all wait
// for its fsync, so nothing read can be undone by a crash; the writer's
// own later transactions see the write at once.
func TestReadsWaitForTheWritesTheySaw(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteT(t)
	g := gate(t, db)
	wait, err := db.WriteDeferred(ctx, insertV(ctx, "c"))
	if err != nil {
		t.Fatal(err)
	}
	held := g.next(t)
	if _, err := db.WriteDeferred(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM t WHERE v = 'c'`).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return errors.New("the writer does not see its own commit")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	check := func(what string, f func() error) {
		wg.Go(func() {
			err := f()
			if err == nil && !released.Load() {
				err = errors.New(what + " returned before the write it depends on was durable")
			}
			errs <- err
		})
	}
	check("Durable", wait)
	check("Query", func() error {
		n, err := countV(ctx, db, "c")
		if err == nil && n != 1 {
			err = errors.New("Query does not see the committed row")
		}
		return err
	})
	check("Read", func() error {
		return db.Read(ctx, func(tx *Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM t WHERE v = 'c'`).Scan(&n); err != nil {
				return err
			}
			if n != 1 {
				return errors.New("Read does not see the committed row")
			}
			return nil
		})
	})
	// All three must block: none may return while the fsync is held.
	for blocked := 0; blocked < 3; {
		select {
		case err := <-errs:
			t.Fatalf("returned while the fsync was held: %v", err)
		case <-time.After(time.Millisecond):
		}
		db.sync.mu.Lock()
		blocked = db.sync.waiting
		db.sync.mu.Unlock()
	}
	released.Store(true)
	g.release(t, held, nil)
	g.pass()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// While one fsync is held, a second starts for the commits after it, and
// its success makes both durable: it waited for every page dirtied before
// it began. The first one ending later takes nothing back.
func TestASecondFsyncCoversEarlierCommits(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteT(t) // its fsyncs, the directory's too, are done
	g := gate(t, db)
	wait1, err := db.WriteDeferred(ctx, insertV(ctx, "1"))
	if err != nil {
		t.Fatal(err)
	}
	c1 := g.next(t)
	wait2, err := db.WriteDeferred(ctx, insertV(ctx, "2"))
	if err != nil {
		t.Fatal(err)
	}
	c2 := g.next(t) // started while c1 is held
	g.release(t, c2, nil)
	if err := wait2(); err != nil {
		t.Fatal(err)
	}
	if err := wait1(); err != nil { // c1 is still held
		t.Fatal(err)
	}
	wait3, err := db.WriteDeferred(ctx, insertV(ctx, "3"))
	if err != nil {
		t.Fatal(err)
	}
	c3 := g.next(t)
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		err := wait3()
		if err == nil && !released.Load() {
			err = errors.New("commit 3 was durable before its own fsync ended")
		}
		done <- err
	}()
	g.release(t, c1, nil) // ends last, covering only commit 1
	released.Store(true)
	g.release(t, c3, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := db.sync
	s.mu.Lock()
	for s.inFlight > 0 { // c1's goroutine may still be finishing
		ch := s.advanced
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	durable, written := s.durable, s.written.Load()
	s.mu.Unlock()
	if durable != written {
		t.Fatalf("after all fsyncs: durable %d of %d", durable, written)
	}
}

// A failed fsync is final: the Durables waiting get ErrNotDurable, and so
// do later writes and reads, until the database is reopened.
func TestFailedFsyncIsFinal(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteT(t)
	g := gate(t, db)
	wait, err := db.WriteDeferred(ctx, insertV(ctx, "d"))
	if err != nil {
		t.Fatal(err)
	}
	g.release(t, g.next(t), errors.New("EIO"))
	if err := wait(); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Durable after a failed fsync: %v, want ErrNotDurable", err)
	}
	if err := db.Write(ctx, insertV(ctx, "e")); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Write after a failed fsync: %v, want ErrNotDurable", err)
	}
	if _, err := countV(ctx, db, "d"); !errors.Is(err, ErrNotDurable) {
		t.Fatalf("Query after a failed fsync: %v, want ErrNotDurable", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, ErrNotDurable) { // readiness fails
		t.Fatalf("Ping after a failed fsync: %v, want ErrNotDurable", err)
	}
	// Nothing of the refused write was written.
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM t WHERE v = 'e'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the refused write: %d rows (%v)", n, err)
	}
}

// Migrations commit on the writer connection through their own library,
// not through Write: MigrateUp returns only after an fsync of the WAL.
func TestMigrationsAreMadeDurable(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:///"+filepath.ToSlash(filepath.Join(t.TempDir(), "m.db")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g := gate(t, db)
	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		_, err := db.MigrateUp(ctx)
		if err == nil && !released.Load() {
			err = errors.New("MigrateUp returned before the WAL was fsynced")
		}
		done <- err
	}()
	c := g.next(t)
	if filepath.Base(c.path) != "m.db-wal" {
		t.Fatalf("fsync of %s, want the WAL", c.path)
	}
	released.Store(true)
	g.pass()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Should the WAL file be replaced under the syncer, the next fsync is of
// the file now at the WAL's path, not of the old one. (The syncer alone,
// on a file of its own: SQLite would not survive the swap.)
func TestReplacedWALIsReopened(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "x.db")
	wal := dbPath + "-wal"
	if err := os.WriteFile(wal, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSyncer(dbPath)
	t.Cleanup(func() { s.close() })
	var mu sync.Mutex
	var current []bool // per WAL fsync: was it of the file at the path?
	s.syncFile = func(f *os.File) error {
		if f.Name() == dir {
			return nil
		}
		open, err := f.Stat()
		if err != nil {
			return err
		}
		at, err := os.Stat(wal)
		if err != nil {
			return err
		}
		mu.Lock()
		current = append(current, os.SameFile(open, at))
		mu.Unlock()
		return nil
	}
	commit := func() {
		t.Helper()
		s.beginCommit()
		if err := s.committed()(); err != nil {
			t.Fatal(err)
		}
	}
	commit()
	if err := os.Rename(wal, wal+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wal, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	commit()
	mu.Lock()
	defer mu.Unlock()
	if len(current) != 2 || !current[0] || !current[1] {
		t.Fatalf("fsyncs of the file at the WAL's path: %v, want [true true]", current)
	}
}

// WALStats count the WAL fsyncs made for commits and the time they took
// (the directory's one-time fsync is not one of them).
func TestWALStatsCountFsyncs(t *testing.T) {
	ctx := context.Background()
	db := openSQLiteT(t)
	g := gate(t, db)
	db.sync.mu.Lock()
	db.sync.dirDone = false
	db.sync.mu.Unlock()
	before := db.WALStats()
	done := make(chan error, 1)
	go func() { done <- db.Write(ctx, insertV(ctx, "a")) }()
	c := g.next(t)
	const held = 30 * time.Millisecond
	time.Sleep(held)
	g.release(t, c, nil)
	g.release(t, g.next(t), nil) // the directory
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	after := db.WALStats()
	if n := after.Fsyncs - before.Fsyncs; n != 1 {
		t.Errorf("%d WAL fsyncs counted for one write, want 1", n)
	}
	if d := after.FsyncTime - before.FsyncTime; d < held {
		t.Errorf("fsync time %v, want at least the %v it was held", d, held)
	}
}
