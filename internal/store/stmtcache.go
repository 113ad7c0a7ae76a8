package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// Prepared statements kept on the SQLite writer connection.
//
// modernc.org/sqlite parses and plans a statement anew on every Tx.Exec and
// Tx.Query; for the multi-row statements of a batch writer that is a large
// part of the cost. ExecCached and QueryCached run a statement through a
// *sql.Stmt prepared once per query text on the writer pool, which has
// exactly one connection, so database/sql reuses the SQLite statement
// handle in every later write transaction (Tx.StmtContext finds it prepared
// on the transaction's connection; should the connection be replaced, it is
// prepared again on the new one).
//
// A *sql.Stmt of the pool can only be made while the pool's connection is
// free, never inside a write transaction (which holds that connection), so
// a query text seen for the first time runs unprepared and is prepared right
// after its transaction ends.
//
// maxCachedStmts bounds the cache; texts beyond it simply run unprepared.
// Callers keep their texts few (fixed statements, or multi-row statements
// cut into a few fixed sizes).
const maxCachedStmts = 512

type stmtCache struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // seen inside a transaction, to prepare after it
	closed  bool
}

// get returns the prepared statement for query, or nil after noting it for
// preparation.
func (c *stmtCache) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.stmts[query]; ok {
		return s
	}
	if !c.closed && len(c.stmts)+len(c.pending) < maxCachedStmts {
		if c.pending == nil {
			c.pending = map[string]bool{}
		}
		c.pending[query] = true
	}
	return nil
}

// preparePending prepares the noted texts on pool. It runs outside any
// transaction of pool. A text that fails to prepare is dropped (it failed to
// run as well, or will be noted again).
func (c *stmtCache) preparePending(ctx context.Context, pool *sql.DB) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	texts := make([]string, 0, len(c.pending))
	for q := range c.pending {
		texts = append(texts, q)
	}
	c.pending = nil
	c.mu.Unlock()
	for _, q := range texts {
		s, err := pool.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if _, dup := c.stmts[q]; dup || c.closed {
			c.mu.Unlock()
			_ = s.Close()
			continue
		}
		if c.stmts == nil {
			c.stmts = map[string]*sql.Stmt{}
		}
		c.stmts[q] = s
		c.mu.Unlock()
	}
}

// close finalizes every statement; later texts run unprepared.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, s := range c.stmts {
		_ = s.Close()
	}
	c.stmts, c.pending = nil, nil
}

// len returns how many statements are prepared.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts)
}

// ExecCached is Exec for a statement a hot path runs over and over with the
// same text: in a SQLite write transaction it runs through a statement
// prepared once and kept on the writer connection (see stmtCache). Anywhere
// else it is Exec (pgx already keeps prepared statements per connection).
func (t *Tx) ExecCached(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.cached(query); s != nil {
		return t.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return t.Exec(ctx, query, args...)
}

// QueryCached is Query with the statement cache of ExecCached. In a SQLite
// read transaction it uses the read pool's own cache: statements prepared
// once per reader connection (a text seen for the first time runs
// unprepared and is prepared once its transaction has ended).
func (t *Tx) QueryCached(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := t.cached(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return t.Query(ctx, query, args...)
}

// QueryRowCached is QueryRow with the statement cache of QueryCached.
func (t *Tx) QueryRowCached(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.cached(query); s != nil {
		return t.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return t.QueryRow(ctx, query, args...)
}

func (t *Tx) cached(query string) *sql.Stmt {
	if t.db.dialect != SQLite {
		return nil
	}
	if t.write {
		return t.db.stmts.get(query)
	}
	return t.db.rstmts.get(query)
}

// Query runs one read-only statement on its own, outside any explicit
// transaction: a single statement sees one consistent snapshot on both
// engines, and on PostgreSQL it costs one round trip instead of three
// (BEGIN, the statement, COMMIT). On SQLite it runs on the read pool
// through the readers' statement cache. fn reads the rows; Query closes
// them and returns their error. Like Read, it returns only once what it
// read is durable.
func (db *DB) Query(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	var (
		rows *sql.Rows
		err  error
	)
	switch {
	case db.dialect != SQLite:
		rows, err = db.r.QueryContext(ctx, db.Rebind(query), args...)
	default:
		if s := db.rstmts.get(query); s != nil {
			rows, err = s.QueryContext(ctx, args...)
		} else {
			// Prepared once this statement's connection is back in the pool.
			defer db.rstmts.preparePending(ctx, db.r)
			rows, err = db.r.QueryContext(ctx, query, args...)
		}
	}
	if err != nil {
		return err
	}
	err = fn(rows)
	err = errors.Join(err, rows.Close())
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return err
	}
	return db.readDurable(ctx)
}
