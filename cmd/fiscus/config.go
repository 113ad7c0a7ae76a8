package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/logging"
	"github.com/fiscus/fiscus/internal/store"
)

// envFlags are the flags every command accepts; each overrides the
// environment variable it names.
type envFlags struct {
	fs   *flag.FlagSet
	vals map[string]*string
}

func newEnvFlags(name string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &envFlags{fs: fs, vals: map[string]*string{}}
	for _, d := range []struct{ flag, env, help string }{
		{"database-url", "DATABASE_URL", "database URL (sqlite:///path.db or postgres://…)"},
		{"data-dir", "FISCUS_DATA_DIR", "data directory for the default SQLite file and dev secret"},
		{"env", "FISCUS_ENV", "dev or production"},
		{"log-level", "LOG_LEVEL", "debug, info, warn or error"},
	} {
		f.vals[d.env] = fs.String(d.flag, "", d.help+" (overrides $"+d.env+")")
	}
	return f
}

// getenv returns the flag value when given, else the environment's.
func (f *envFlags) getenv(getenv func(string) string) func(string) string {
	return func(k string) string {
		if p, ok := f.vals[k]; ok && *p != "" {
			return *p
		}
		return getenv(k)
	}
}

// loadConfig loads and validates the configuration and resolves the secret.
func loadConfig(getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ResolveSecret(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	lvl, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, &config.Error{Problems: []string{"LOG_LEVEL: " + err.Error()}}
	}
	return logging.New(w, lvl), nil
}

// openDB opens the configured database for a maintenance command. With
// requireCurrent, a schema with pending migrations is an error (the command
// would read or write tables that do not match its code).
func openDB(ctx context.Context, cfg config.Config, maxConns int, requireCurrent bool) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: maxConns, TxMaxAttempts: cfg.DBTxMaxAttempts})
	if err != nil {
		return nil, err
	}
	if requireCurrent {
		cur, err := db.MigrationsCurrent(ctx)
		if err == nil && !cur {
			err = errors.New("the database schema is not current: run `fiscus migrate up` first")
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}
