package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds one numbered set of SQL migrations per dialect. Each file
// has an Up and a Down section; both are tested on both engines.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrationTable records applied versions.
const migrationTable = "schema_migrations"

// MigrationStatus describes one known migration.
type MigrationStatus struct {
	Version int64
	Name    string
	Applied bool
}

// migrator returns the goose provider for this database, built once.
func (db *DB) migrator() (*goose.Provider, error) {
	db.migrOnce.Do(func() { db.migr, db.migrErr = db.newMigrator() })
	return db.migr, db.migrErr
}

func (db *DB) newMigrator() (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName(migrationTable)}
	var dialect goose.Dialect
	switch db.dialect {
	case SQLite:
		dialect = goose.DialectSQLite3
	case Postgres:
		dialect = goose.DialectPostgres
		// Several replicas may start at once: one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.w, fsys, opts...)
}

// MigrateUp applies every pending migration and returns how many ran.
func (db *DB) MigrateUp(ctx context.Context) (int, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), errors.Join(fmt.Errorf("migrate up: %w", err), db.Sync())
	}
	return len(res), db.Sync()
}

// MigrateDown rolls back the latest migration. It reports false when nothing
// was applied.
func (db *DB) MigrateDown(ctx context.Context) (bool, error) {
	p, err := db.migrator()
	if err != nil {
		return false, fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Down(ctx); err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return false, nil
		}
		return false, errors.Join(fmt.Errorf("migrate down: %w", err), db.Sync())
	}
	return true, db.Sync()
}

// MigrateReset rolls back every migration.
func (db *DB) MigrateReset(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return errors.Join(fmt.Errorf("migrate down to 0: %w", err), db.Sync())
	}
	return db.Sync()
}

// MigrationStatus lists every known migration and whether it is applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	p, err := db.migrator()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		out = append(out, MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied})
	}
	return out, nil
}

// MigrationsCurrent reports whether every known migration is applied.
func (db *DB) MigrationsCurrent(ctx context.Context) (bool, error) {
	p, err := db.migrator()
	if err != nil {
		return false, err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, err
	}
	return !pending, nil
}
