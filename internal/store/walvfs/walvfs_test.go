package walvfs_test

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/fiscus/fiscus/internal/store/walvfs"
)

// open opens path with the VFS the way store's writer does: WAL, commits
// without fsync, no automatic checkpoints (the tests run their own).
func open(t *testing.T, path string, extra string) *sql.DB {
	t.Helper()
	if err := walvfs.Register(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?vfs="+walvfs.Name+
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(0)"+extra)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, k BLOB NOT NULL UNIQUE, v BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// insert adds rows rows of size bytes each (random keys, so the UNIQUE index
// dirties pages all over the tree) in one transaction, committed or rolled
// back.
func insert(t *testing.T, db *sql.DB, rows, size int, commit bool) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range rows {
		if _, err := tx.Exec(`INSERT INTO t (k, v) VALUES (?, ?)`, randomBytes(t, 16), randomBytes(t, size)); err != nil {
			t.Fatal(err)
		}
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
		t.Fatal(err)
	}
	if check != "ok" {
		t.Fatalf("integrity_check: %s", check)
	}
	return n
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// afterCrash is what a process killed at this instant leaves: the database
// and WAL files as they are (the shared-memory index is not kept), opened
// afresh with SQLite's own VFS, which recovers from the WAL and keeps only
// frames whose checksums hold up to a commit.
func afterCrash(t *testing.T, path string) int {
	t.Helper()
	dir := t.TempDir()
	crashed := filepath.Join(dir, "crashed.db")
	copyFile(t, path, crashed)
	copyFile(t, path+"-wal", crashed+"-wal")
	db, err := sql.Open("sqlite", crashed)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return count(t, db)
}

// Every committed transaction is in the files the moment COMMIT returns,
// whatever its shape: small, large enough to be written in pieces, large
// enough to spill to the WAL before it commits (and rewrite frames in
// place), after a rollback, after the WAL starts over or is truncated.
func TestCommittedIsInTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	// A small page cache: big transactions spill dirty pages to the WAL
	// before they commit, and update pages they already spilled.
	db := open(t, path, "&_pragma=cache_size(20)")
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	want := 0
	step := func(name string, f func()) {
		t.Helper()
		f()
		if got := afterCrash(t, path); got != want {
			t.Fatalf("%s: after a crash the database holds %d rows, want %d", name, got, want)
		}
		if got := count(t, other); got != want {
			t.Fatalf("%s: another connection sees %d rows, want %d", name, got, want)
		}
	}
	for i := range 5 {
		step(fmt.Sprintf("small %d", i), func() { insert(t, db, 3, 100, true); want += 3 })
	}
	step("spilling", func() { insert(t, db, 3000, 300, true); want += 3000 })
	step("spilling, rolled back", func() { insert(t, db, 3000, 300, false) })
	step("small after rollback", func() { insert(t, db, 2, 100, true); want += 2 })
	step("pieces", func() { insert(t, db, 400, 30000, true); want += 400 })
	for _, mode := range []string{"PASSIVE", "RESTART", "TRUNCATE"} {
		step("checkpoint "+mode, func() {
			if _, err := other.Exec(`PRAGMA wal_checkpoint(` + mode + `)`); err != nil {
				t.Fatal(err)
			}
			insert(t, db, 5, 100, true)
			want += 5
		})
	}
	step("update in place", func() {
		if _, err := db.Exec(`UPDATE t SET v = randomblob(200)`); err != nil {
			t.Fatal(err)
		}
	})
	step("delete", func() {
		if _, err := db.Exec(`DELETE FROM t WHERE id % 2 = 0`); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM t`).Scan(&want); err != nil {
			t.Fatal(err)
		}
	})
}

// A transaction's frames reach the file in a few writes, not two per page.
func TestGathersTheFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	db := open(t, path, "")
	insert(t, db, 1, 10, true) // the WAL header and first frames
	requested0, made0 := walvfs.Counts()
	insert(t, db, 300, 200, true)
	requested1, made1 := walvfs.Counts()
	asked, wrote := requested1-requested0, made1-made0
	if asked < 40 {
		t.Fatalf("SQLite asked for %d WAL writes; the test needs a transaction of many pages", asked)
	}
	if wrote > 2 {
		t.Fatalf("%d WAL writes asked for became %d writes to the file, want at most 2", asked, wrote)
	}
	if got := afterCrash(t, path); got != 301 {
		t.Fatalf("after a crash the database holds %d rows, want 301", got)
	}
}

// A committed transaction survives its connection: closing flushes nothing
// that was not already written, and reopening reads it all back.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db := open(t, path, "")
	insert(t, db, 50, 100, true)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path, "")
	if got := count(t, db); got != 50 {
		t.Fatalf("reopened: %d rows, want 50", got)
	}
	insert(t, db, 50, 100, true)
	if got := afterCrash(t, path); got != 100 {
		t.Fatalf("after a crash: %d rows, want 100", got)
	}
}
