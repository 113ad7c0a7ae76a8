// Package store is Fiscus's storage layer: SQLite (embedded, the default) and
// PostgreSQL behind one small API that domain code uses the same way on both.
//
// Guarantees:
//   - Write runs a function in one read-write transaction and commits once.
//     Serialization failures, deadlocks and SQLITE_BUSY are retried (the
//     function runs again from scratch) up to a configured number of attempts.
//   - SQLite runs in WAL mode, foreign keys on and a busy timeout. A Write
//     returns once its commit is durable, as with synchronous=FULL, but the
//     fsync runs beside the writer, not inside its COMMIT (durable.go), and
//     reads wait for the writes they saw to be durable. All writes go through
//     one connection that opens transactions with BEGIN IMMEDIATE, so writers
//     queue in the pool instead of failing on lock upgrades; reads use a
//     separate pool of read-only connections that never block the writer.
//     The WAL is checkpointed by a goroutine of DB on its own connection,
//     not inside the writers' commits, and kept to a bound (see
//     checkpoint.go); Close stops it.
//   - Tx.ExecCached and Tx.QueryCached reuse statements prepared once on the
//     SQLite writer connection (see stmtcache.go).
//   - Queries are written once with "?" placeholders; they are rewritten to
//     PostgreSQL's "$n" form once per distinct query text.
//   - Times are stored as integer Unix microseconds (UTC) on both engines so
//     comparisons and ordering behave identically.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"        // registers the "sqlite" database/sql driver

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/store/walvfs"
)

// Dialect names a database engine.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = config.EngineSQLite
	Postgres Dialect = config.EnginePostgres
)

// sqliteBusyTimeout bounds how long a SQLite connection waits for a lock held
// by another process (the writer pool already serializes this process).
const sqliteBusyTimeout = 10 * time.Second

// Options tune Open. Zero values take defaults.
type Options struct {
	MaxConns      int // PostgreSQL pool size; SQLite reader pool size
	TxMaxAttempts int // attempts for a retryable transaction failure
	// WALMaxFrames bounds the SQLite WAL, in pages (DefaultWALMaxFrames):
	// past it the background checkpointer resets the WAL, holding writes
	// briefly. See checkpoint.go.
	WALMaxFrames int
	// CheckpointInterval is the least time between two background
	// checkpoints (SQLite; DefaultCheckpointInterval).
	CheckpointInterval time.Duration
}

// DB is an open database.
type DB struct {
	dialect     Dialect
	w           *sql.DB // read-write; for SQLite exactly one connection
	r           *sql.DB // read-only pool (SQLite); same as w for PostgreSQL
	maxAttempts int
	rebound     sync.Map      // query text → PostgreSQL form
	ckpt        *checkpointer // SQLite: background WAL checkpoints
	ckConn      *sql.DB       // SQLite: the checkpointer's connection
	sync        *syncer       // SQLite: fsyncs the WAL after commits
	stmts       stmtCache     // SQLite: statements prepared on the writer
	rstmts      stmtCache     // SQLite: statements prepared on the readers

	migrOnce sync.Once
	migr     *goose.Provider
	migrErr  error
}

// Open connects to the database named by a DATABASE_URL. It does not migrate.
func Open(ctx context.Context, databaseURL string, opt Options) (*DB, error) {
	engine, dsn, err := config.ParseDatabaseURL(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	if opt.TxMaxAttempts <= 0 {
		opt.TxMaxAttempts = 8
	}
	if opt.WALMaxFrames <= 0 {
		opt.WALMaxFrames = DefaultWALMaxFrames
	}
	if opt.CheckpointInterval <= 0 {
		opt.CheckpointInterval = DefaultCheckpointInterval
	}
	db := &DB{dialect: Dialect(engine), maxAttempts: opt.TxMaxAttempts}
	switch db.dialect {
	case SQLite:
		err = db.openSQLite(dsn, opt)
	case Postgres:
		err = db.openPostgres(dsn, opt)
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", config.RedactURL(databaseURL), err)
	}
	return db, nil
}

func (db *DB) openSQLite(path string, opt Options) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
	}
	// Pragmas run on every new connection, in this order: busy_timeout first
	// so that switching to WAL itself waits for locks.
	common := path + "?_pragma=busy_timeout(" + fmt.Sprint(sqliteBusyTimeout.Milliseconds()) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	base := common + "&_pragma=synchronous(FULL)"
	// The writer does not checkpoint in its commits (the checkpointer does),
	// except as a backstop far past the bound; journal_size_limit truncates
	// a WAL that grew past the bound (a long reader) once it is reset. It
	// does not fsync in its commits either: the syncer does (durable.go).
	// Its WAL appends go through walvfs, which writes a transaction's frames
	// with a few calls instead of two per page.
	walBytes := int64(opt.WALMaxFrames) * (sqlitePageSize + walFrameHeader)
	if err := walvfs.Register(); err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	w, err := sql.Open("sqlite", common+"&vfs="+walvfs.Name+"&_pragma=synchronous(NORMAL)&_txlock=immediate"+
		"&_pragma=wal_autocheckpoint("+fmt.Sprint(walBackstopFactor*opt.WALMaxFrames)+")"+
		"&_pragma=journal_size_limit("+fmt.Sprint(walBytes)+")")
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer must exist (and have created the file in WAL mode) before
	// read-only connections open it.
	if err := w.Ping(); err != nil {
		w.Close()
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("open sqlite readers: %w", err)
	}
	readers := max(2, opt.MaxConns/4)
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	// The checkpointer's connection waits at most walRestartWait for a lock.
	ck, err := sql.Open("sqlite", base+"&_pragma=busy_timeout("+fmt.Sprint(walRestartWait.Milliseconds())+")")
	if err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	ck.SetMaxOpenConns(1)
	ck.SetMaxIdleConns(1)
	ck.SetConnMaxLifetime(0)
	ck.SetConnMaxIdleTime(0)
	db.w, db.r, db.ckConn = w, r, ck
	db.ckpt = newCheckpointer(ck, w, opt.WALMaxFrames, opt.CheckpointInterval)
	db.sync = newSyncer(path)
	return nil
}

// SQLite page and WAL frame header sizes, for turning WALMaxFrames into
// bytes. Fiscus databases use the default page size.
const (
	sqlitePageSize = 4096
	walFrameHeader = 24
)

func (db *DB) openPostgres(dsn string, opt Options) error {
	w, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	w.SetMaxOpenConns(opt.MaxConns)
	w.SetMaxIdleConns(opt.MaxConns)
	w.SetConnMaxLifetime(30 * time.Minute)
	w.SetConnMaxIdleTime(5 * time.Minute)
	db.w, db.r = w, w
	return nil
}

// Dialect returns the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL exposes the read-write pool for tools that need raw access (migrations,
// metrics, tests). Domain code uses Write and Read.
func (db *DB) SQL() *sql.DB { return db.w }

// ReadSQL exposes the read pool (the same pool on PostgreSQL).
func (db *DB) ReadSQL() *sql.DB { return db.r }

// Ping checks both pools, and on SQLite that no WAL fsync has failed.
func (db *DB) Ping(ctx context.Context) error {
	if db.sync != nil {
		if err := db.sync.failed(); err != nil {
			return err
		}
	}
	if err := db.w.PingContext(ctx); err != nil {
		return err
	}
	if db.r != db.w {
		return db.r.PingContext(ctx)
	}
	return nil
}

// Close makes every commit durable, stops the checkpointer and closes the
// pools.
func (db *DB) Close() error {
	var err error
	if db.sync != nil {
		err = db.sync.close()
	}
	if db.ckpt != nil {
		db.ckpt.stop()
	}
	db.stmts.close()
	db.rstmts.close()
	err = errors.Join(err, db.w.Close())
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	if db.ckConn != nil {
		err = errors.Join(err, db.ckConn.Close())
	}
	return err
}

// Tx is a transaction. Its methods take "?" placeholders on both engines.
type Tx struct {
	tx    *sql.Tx
	db    *DB
	write bool // a transaction of Write
}

// Dialect returns the engine, for the rare statement that must differ.
func (t *Tx) Dialect() Dialect { return t.db.dialect }

// Exec runs a statement.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.db.Rebind(query), args...)
}

// Query runs a query returning rows.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.db.Rebind(query), args...)
}

// QueryRow runs a query returning at most one row.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.db.Rebind(query), args...)
}

// Write runs fn in a read-write transaction and commits if fn returns nil;
// it returns once the commit is durable. On a retryable failure
// (serialization, deadlock, busy) the whole function is run again, so fn
// must not have effects outside the transaction.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	wait, err := db.run(ctx, db.w, nil, fn)
	if err != nil {
		return err
	}
	return wait()
}

// WriteDeferred is Write returning at COMMIT: the write is visible to this
// process's later writes, but nobody may be told of it until the returned
// Durable has returned nil (see durable.go). On PostgreSQL, and after an
// error, the Durable returns at once. A Durable error means the outcome is
// unknown: the write committed but may not survive a power loss.
func (db *DB) WriteDeferred(ctx context.Context, fn func(*Tx) error) (Durable, error) {
	return db.run(ctx, db.w, nil, fn)
}

// Sync makes every write committed so far durable, those of migrations
// too (SQLite; a no-op on PostgreSQL, whose commits are durable when they
// return).
func (db *DB) Sync() error {
	if db.sync == nil {
		return nil
	}
	return db.sync.syncWAL()
}

// Read runs fn in a read-only transaction (a consistent snapshot on both
// engines). It returns only once everything fn could have read is durable.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	if _, err := db.run(ctx, db.r, opts, fn); err != nil {
		return err
	}
	return db.readDurable(ctx)
}

// readDurable waits, after a read on SQLite, until every write it could
// have seen is durable.
func (db *DB) readDurable(ctx context.Context) error {
	if db.sync == nil {
		return nil
	}
	return db.sync.waitVisible(ctx)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*Tx) error) (Durable, error) {
	if pool == db.w && db.sync != nil {
		if err := db.sync.failed(); err != nil {
			return durableNow, err
		}
	}
	if db.dialect == SQLite {
		// Statements first seen in this transaction are prepared once its
		// connection is free again.
		if pool == db.w {
			defer db.stmts.preparePending(ctx, db.w)
		} else {
			defer db.rstmts.preparePending(ctx, db.r)
		}
	}
	var err error
	for attempt := 1; attempt <= db.maxAttempts; attempt++ {
		var wait Durable
		wait, err = db.once(ctx, pool, opts, fn)
		if err == nil {
			return wait, nil
		}
		if !IsRetryable(err) {
			return durableNow, err
		}
		if attempt == db.maxAttempts {
			break
		}
		// Back off a little, with jitter, so contending transactions spread out.
		d := time.Duration(attempt*attempt)*time.Millisecond + rand.N(2*time.Millisecond)
		select {
		case <-ctx.Done():
			return durableNow, errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
	return durableNow, fmt.Errorf("transaction failed after %d attempts: %w", db.maxAttempts, err)
}

func (db *DB) once(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(*Tx) error) (wait Durable, err error) {
	wait = durableNow
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return wait, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = sqlTx.Rollback()
		}
	}()
	if err = fn(&Tx{tx: sqlTx, db: db, write: pool == db.w}); err != nil {
		return wait, err
	}
	if pool != db.w || db.sync == nil {
		if err = sqlTx.Commit(); err != nil {
			return wait, fmt.Errorf("commit: %w", err)
		}
		return wait, nil
	}
	// SQLite's writer: the commit may be visible once COMMIT begins, and
	// becomes durable when the syncer's next fsync has run.
	db.sync.beginCommit()
	err = sqlTx.Commit()
	durable := db.sync.committed()
	if err != nil {
		return wait, fmt.Errorf("commit: %w", err)
	}
	db.ckpt.notify()
	return durable, nil
}

// Rebind rewrites "?" placeholders to "$1", "$2", … for PostgreSQL. Question
// marks inside single-quoted literals are left alone.
func (db *DB) Rebind(query string) string {
	if db.dialect != Postgres || !strings.Contains(query, "?") {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	q := b.String()
	db.rebound.Store(query, q)
	return q
}

// Micros converts a time to the stored form: Unix microseconds, UTC.
func Micros(t time.Time) int64 { return t.UnixMicro() }

// FromMicros converts the stored form back to a UTC time.
func FromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
