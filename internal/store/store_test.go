package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

func TestMigrationsUpDownUp(t *testing.T) {
	t.Parallel()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.OpenEmpty(t, e)
			cur, err := db.MigrationsCurrent(ctx)
			if err != nil || cur {
				t.Fatalf("fresh database current=%v err=%v, want pending migrations", cur, err)
			}
			n, err := db.MigrateUp(ctx)
			if err != nil || n == 0 {
				t.Fatalf("up: n=%d err=%v", n, err)
			}
			if cur, err := db.MigrationsCurrent(ctx); err != nil || !cur {
				t.Fatalf("after up current=%v err=%v", cur, err)
			}
			if n, err := db.MigrateUp(ctx); err != nil || n != 0 {
				t.Fatalf("second up: n=%d err=%v, want 0 and nil", n, err)
			}
			st, err := db.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if !s.Applied {
					t.Errorf("migration %d %s not applied", s.Version, s.Name)
				}
			}
			// Every down must work, leaving no tables of ours behind.
			if err := db.MigrateReset(ctx); err != nil {
				t.Fatalf("reset: %v", err)
			}
			if tables := userTables(t, db); len(tables) != 0 {
				t.Fatalf("tables left after full down: %v", tables)
			}
			if ok, err := db.MigrateDown(ctx); err != nil || ok {
				t.Fatalf("down with nothing applied: ok=%v err=%v", ok, err)
			}
			if _, err := db.MigrateUp(ctx); err != nil {
				t.Fatalf("up after down: %v", err)
			}
			if cur, _ := db.MigrationsCurrent(ctx); !cur {
				t.Fatal("not current after up again")
			}
		})
	}
}

// userTables lists the tables migrations created (excluding the migration
// bookkeeping table).
func userTables(t *testing.T, db *store.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`
	if db.Dialect() == store.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'`
	}
	var names []string
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		rows, err := tx.Query(context.Background(), q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestWriteCommitsOrRollsBack(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, "a", "1", 1)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err = db.Write(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, "b", "2", 2); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		// A duplicate key is classified as a unique violation on both engines.
		err = db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, "a", "3", 3)
			return err
		})
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate insert: %v, want unique violation", err)
		}
		if store.IsRetryable(err) {
			t.Fatal("a unique violation is not retryable")
		}
		var keys []string
		err = db.Read(ctx, func(tx *store.Tx) error {
			rows, err := tx.Query(ctx, `SELECT key FROM settings ORDER BY key`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				if err := rows.Scan(&k); err != nil {
					return err
				}
				keys = append(keys, k)
			}
			return rows.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(keys) != "[a]" {
			t.Fatalf("keys = %v, want [a] (b rolled back, duplicate refused)", keys)
		}
		var missing string
		err = db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = ?`, "nope").Scan(&missing)
		})
		if !store.IsNotFound(err) {
			t.Fatalf("missing row: %v, want not found", err)
		}
	})
}

// WriteDeferred commits like Write and hands back the wait for durability:
// a failed function writes nothing and its Durable returns at once; a
// committed write is visible to later writes, and to reads once durable.
func TestWriteDeferred(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var waits []store.Durable
		for i := range 20 {
			wait, err := db.WriteDeferred(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)`, fmt.Sprint("k", i), "v", i)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			waits = append(waits, wait)
		}
		boom := errors.New("boom")
		wait, err := db.WriteDeferred(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('x', 'v', 0)`); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || wait() != nil {
			t.Fatalf("failed function: %v", err)
		}
		for i, w := range waits {
			if err := w(); err != nil {
				t.Fatalf("durable %d: %v", i, err)
			}
		}
		if err := db.Sync(); err != nil {
			t.Fatal(err)
		}
		var n int
		err = db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key LIKE 'k%' OR key = 'x'`).Scan(&n)
		})
		if err != nil || n != 20 {
			t.Fatalf("rows = %d (%v), want the 20 committed ones", n, err)
		}
	})
}

// Concurrent read-modify-write increments must neither be lost nor fail: on
// SQLite the single writer serializes them, on PostgreSQL row locks and the
// retry loop do.
func TestConcurrentIncrementsAreNotLost(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('counter', '0', 0)`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 16, 25
		var failures atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					err := db.Write(ctx, func(tx *store.Tx) error {
						lock := ""
						if tx.Dialect() == store.Postgres {
							lock = " FOR UPDATE"
						}
						var v int
						if err := tx.QueryRow(ctx, `SELECT CAST(value AS INTEGER) FROM settings WHERE key = 'counter'`+lock).Scan(&v); err != nil {
							return err
						}
						_, err := tx.Exec(ctx, `UPDATE settings SET value = ?, updated_at = updated_at + 1 WHERE key = 'counter'`, fmt.Sprint(v+1))
						return err
					})
					if err != nil {
						failures.Add(1)
						t.Errorf("increment: %v", err)
					}
				}
			})
		}
		wg.Wait()
		var v string
		if err := db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'counter'`).Scan(&v)
		}); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(workers * each); v != want || failures.Load() != 0 {
			t.Fatalf("counter = %s with %d failures, want %s and 0", v, failures.Load(), want)
		}
	})
}

func TestRebind(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Postgres)
	cases := map[string]string{
		`SELECT 1`:     `SELECT 1`,
		`SELECT ? , ?`: `SELECT $1 , $2`,
		`SELECT '?' , ? WHERE x = '??' AND y = ?`: `SELECT '?' , $1 WHERE x = '??' AND y = $2`,
	}
	for in, want := range cases {
		if got := db.Rebind(in); got != want {
			t.Errorf("Rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBulkIndexMigrations (SQLite): migrating a database that holds
// transfers, postings and audit events to the bulk indexes (migrations 12
// to 14) keeps every transfer in its order, gives it its parties (one row
// for a transfer between a customer's own accounts), indexes every posting
// and event and sets the marks to the last row; migrating back keeps them
// too.
func TestBulkIndexMigrations(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t, store.SQLite)
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Write(ctx, func(tx *store.Tx) error { _, err := tx.Exec(ctx, q, args...); return err }); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	insert := func(id string, from, to any) {
		t.Helper()
		exec(`INSERT INTO transfers (id, kind, status, maker_user_id, from_account_id, to_account_id, from_owner_id,
			to_owner_id, asset, amount, created_at, updated_at) VALUES (?, 'cash', 'failed', 'usr_m', 'acct_1', 'acct_2', ?, ?, 'USD', 1, 1, 1)`,
			id, from, to)
	}
	ids := func() []string {
		t.Helper()
		return storetest.Column[string](t, db, `SELECT id FROM transfers ORDER BY rowid`)
	}
	down := func() {
		t.Helper()
		for range 3 {
			if ok, err := db.MigrateDown(ctx); err != nil || !ok {
				t.Fatalf("down: %v %v", ok, err)
			}
		}
	}
	down()
	for i, p := range []struct {
		account string
		amount  int64
	}{{"acct_2", 5}, {"acct_1", -5}, {"acct_1", 7}, {"acct_3", -7}} {
		exec(`INSERT INTO postings (entry_id, idx, account_id, asset, amount, balance_after, created_at)
			VALUES (?, ?, ?, 'USD', ?, 0, 1)`, fmt.Sprint("ent_", i/2), i%2, p.account, p.amount)
	}
	for i, actor := range []string{"usr_b", "usr_a", "usr_b"} {
		exec(`INSERT INTO audit_events (id, at, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details)
			VALUES (?, 1, 'user', ?, 'auth.login', 'user', ?, '', '', '{}')`, fmt.Sprint("aud_", i), actor, actor)
	}
	// Inserted out of ID order: the order of insertion is what is kept.
	insert("trf_3", "usr_a", "usr_b")
	insert("trf_1", nil, "usr_a")     // funding
	insert("trf_2", "usr_a", "usr_a") // between alice's own accounts
	insert("trf_4", "usr_b", nil)     // a debit adjustment
	before := ids()
	if _, err := db.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ids(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after up: %v, want %v", got, before)
	}
	var parties, postings string
	var mark, last, pmark int64
	err := db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT group_concat(owner_id || ':' || sent || ':' || transfer_id || ':' || seq, ' ')
				FROM (SELECT * FROM transfer_parties ORDER BY 1, 2, 3)),
			`+store.BulkMark("transfer_parties")+`, (SELECT max(seq) FROM transfers),
			(SELECT group_concat(account_id || ':' || asset || ':' || seq, ' ') FROM (SELECT * FROM posting_accounts ORDER BY 1, 2, 3)),
			`+store.BulkMark("posting_accounts")).Scan(&parties, &mark, &last, &postings, &pmark)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "usr_a:0:trf_1:2 usr_a:1:trf_2:3 usr_a:1:trf_3:1 usr_b:0:trf_3:1 usr_b:1:trf_4:4"; parties != want || mark != 4 || last != 4 {
		t.Fatalf("parties %q up to %d of %d, want %q up to 4", parties, mark, last, want)
	}
	if want := "acct_1:USD:2 acct_1:USD:3 acct_2:USD:1 acct_3:USD:4"; postings != want || pmark != 4 {
		t.Fatalf("posting accounts %q up to %d, want %q up to 4", postings, pmark, want)
	}
	var actors string
	var amark int64
	err = db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT group_concat(actor || ':' || event_pos, ' ') FROM (SELECT * FROM audit_actors ORDER BY 1, 2)),
			`+store.BulkMark("audit_actors")).Scan(&actors, &amark)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "usr_a:2 usr_b:1 usr_b:3"; actors != want || amark != 3 {
		t.Fatalf("audit actors %q up to %d, want %q up to 3", actors, amark, want)
	}
	insert("trf_5", "usr_b", "usr_a")
	down()
	if got, want := ids(), append(before, "trf_5"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after down: %v, want %v", got, want)
	}
}
