package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newEnvFlags("migrate", stderr)
	f.fs.Usage = func() { fmt.Fprintln(stderr, "usage: fiscus migrate up|down|status [flags]"); f.fs.PrintDefaults() }
	// The subcommand comes first; flags may follow it.
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"usage: fiscus migrate up|down|status [flags]"}
	}
	sub := args[0]
	if err := f.fs.Parse(args[1:]); err != nil {
		return err
	}
	if f.fs.NArg() != 0 {
		return usageError{"usage: fiscus migrate up|down|status [flags]"}
	}
	cfg, err := loadConfig(f.getenv(getenv))
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, 2, false)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "up":
		n, err := db.MigrateUp(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", n)
	case "down":
		ok, err := db.MigrateDown(ctx)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(stdout, "nothing to roll back")
		} else {
			fmt.Fprintln(stdout, "rolled back 1 migration")
		}
	case "status":
		st, err := db.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		pending := 0
		for _, s := range st {
			state := "applied"
			if !s.Applied {
				state, pending = "pending", pending+1
			}
			fmt.Fprintf(stdout, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
		fmt.Fprintf(stdout, "%d migration(s), %d pending (%s)\n", len(st), pending, db.Dialect())
	default:
		return usageError{fmt.Sprintf("unknown migrate command %q (want up, down or status)", sub)}
	}
	return nil
}
