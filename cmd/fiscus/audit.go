package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
)

const auditUsage = "usage: fiscus audit verify [--no-seal] [--checkpoint seq:hash] [flags]"

// runAudit runs `fiscus audit verify`: seal what is pending (unless
// --no-seal), verify the whole chain with progress on stderr, print a summary
// on stdout, and fail naming the first bad event when the chain is broken.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageError{auditUsage}
	}
	f := newEnvFlags("audit verify", stderr)
	noSeal := f.fs.Bool("no-seal", false, "verify without sealing pending events first (writes nothing to the audit tables)")
	checkpointFlag := f.fs.String("checkpoint", "", "seq:hash printed by an earlier run; the chain must still contain it")
	f.fs.Usage = func() { fmt.Fprintln(stderr, auditUsage); f.fs.PrintDefaults() }
	if err := f.fs.Parse(args[1:]); err != nil {
		return err
	}
	if f.fs.NArg() != 0 {
		return usageError{auditUsage}
	}
	var opt audit.Options
	if *checkpointFlag != "" {
		cp, err := audit.ParseCheckpoint(*checkpointFlag)
		if err != nil {
			return usageError{"--checkpoint: " + err.Error()}
		}
		opt.Checkpoint = &cp
	}
	cfg, err := loadConfig(f.getenv(getenv))
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	// Verify reads the chain on one connection per core (SQLite sizes its
	// reader pool at a quarter of MaxConns; pools open connections lazily).
	maxConns := min(64, max(8, 4*runtime.GOMAXPROCS(0)))
	db, err := openDB(ctx, cfg, maxConns, true)
	if err != nil {
		return err
	}
	defer db.Close()

	if !*noSeal {
		n, err := audit.NewSealer(db, log, cfg.AuditSealInterval).SealOnce(ctx)
		switch {
		case errors.Is(err, audit.ErrHeadMismatch):
			// Verification says exactly what is wrong.
			fmt.Fprintf(stderr, "not sealing: %v\n", err)
		case err != nil:
			return err
		case n > 0:
			fmt.Fprintf(stdout, "sealed %d pending event(s)\n", n)
		}
	}

	opt.Progress = stderr
	rep, err := audit.Verify(ctx, db, opt)
	var broken *audit.BrokenError
	if err != nil && !errors.As(err, &broken) {
		return err
	}
	if broken != nil {
		fmt.Fprintf(stdout, "audit chain BROKEN (%s, %s): %d event(s) verified before the first bad one\n",
			db.Dialect(), rep.Elapsed.Round(time.Millisecond), rep.Verified)
		fmt.Fprintln(stdout, broken.Problem.String())
		return err
	}
	fmt.Fprintf(stdout, "audit chain intact (%s, %s): %d sealed event(s) verified\n", db.Dialect(), rep.Elapsed.Round(time.Millisecond), rep.Verified)
	if rep.Unsealed > 0 {
		fmt.Fprintf(stdout, "%d event(s) not sealed yet, so not verified\n", rep.Unsealed)
	}
	if rep.Head.Seq > 0 {
		fmt.Fprintf(stdout, "checkpoint %s (keep it outside the database; pass it to --checkpoint later)\n", rep.Head)
	}
	return nil
}
