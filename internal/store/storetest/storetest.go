// Package storetest gives tests fresh, migrated databases on both engines.
//
// SQLite databases live in the test's temporary directory. PostgreSQL
// databases are fresh schemas inside the server named by
// FISCUS_TEST_POSTGRES_URL, dropped when the test ends. When that variable is
// missing the test fails (never silently skips); a developer without
// PostgreSQL may set FISCUS_TEST_POSTGRES=skip to run the SQLite half only,
// which is refused when CI=true.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/fiscus/fiscus/internal/store"
)

// Engines lists the engines every storage test runs on.
var Engines = []store.Dialect{store.SQLite, store.Postgres}

// Each runs fn once per engine as a subtest with a fresh, migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, e := range Engines {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

// Open returns a fresh, migrated database of the given engine.
func Open(t testing.TB, e store.Dialect) *store.DB {
	t.Helper()
	db := OpenEmpty(t, e)
	if _, err := db.MigrateUp(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", e, err)
	}
	return db
}

// OpenEmpty returns a fresh database of the given engine with no migrations.
func OpenEmpty(t testing.TB, e store.Dialect) *store.DB {
	t.Helper()
	u := URL(t, e)
	db, err := store.Open(context.Background(), u, store.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s: %v", e, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns a DATABASE_URL for a fresh, empty database of the given engine,
// removed when the test ends.
func URL(t testing.TB, e store.Dialect) string {
	t.Helper()
	switch e {
	case store.SQLite:
		return "sqlite:///" + filepath.ToSlash(filepath.Join(t.TempDir(), "fiscus.db"))
	case store.Postgres:
		return postgresSchema(t)
	}
	t.Fatalf("unknown engine %q", e)
	return ""
}

// PostgresURL returns the server URL for tests, failing or skipping the test
// as the package comment describes when none is configured.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("FISCUS_TEST_POSTGRES_URL")
	if u != "" {
		return u
	}
	if os.Getenv("FISCUS_TEST_POSTGRES") == "skip" && os.Getenv("CI") != "true" {
		t.Skip("PostgreSQL half skipped: FISCUS_TEST_POSTGRES=skip")
	}
	t.Fatal("FISCUS_TEST_POSTGRES_URL is not set: run ./scripts/test (it finds or starts PostgreSQL), " +
		"or set FISCUS_TEST_POSTGRES=skip to run only SQLite locally")
	return ""
}

func postgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "fiscus_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("postgres: create schema (is FISCUS_TEST_POSTGRES_URL reachable?): %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("FISCUS_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Column reads the one column of query's rows, in order, failing t on any
// error.
func Column[T any](t testing.TB, db *store.DB, query string, args ...any) []T {
	t.Helper()
	var out []T
	err := db.Read(context.Background(), func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(context.Background(), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v T
			if err := rows.Scan(&v); err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
