package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fiscus/fiscus/internal/accounts"
)

// runLedger implements "fiscus ledger verify": every ledger invariant,
// checked against the database; a non-zero exit and one line per violation
// when any fails.
func runLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newEnvFlags("ledger", stderr)
	quiet := f.fs.Bool("quiet", false, "no progress lines on stderr")
	f.fs.Usage = func() { fmt.Fprintln(stderr, "usage: fiscus ledger verify [flags]"); f.fs.PrintDefaults() }
	if len(args) == 0 || args[0] != "verify" {
		return usageError{"usage: fiscus ledger verify [flags]"}
	}
	if err := f.fs.Parse(args[1:]); err != nil {
		return err
	}
	if f.fs.NArg() != 0 {
		return usageError{"usage: fiscus ledger verify [flags]"}
	}
	cfg, err := loadConfig(f.getenv(getenv))
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, 2, true)
	if err != nil {
		return err
	}
	defer db.Close()
	progress := stderr
	if *quiet {
		progress = io.Discard
	}
	rep, err := accounts.New(accounts.Deps{DB: db}).Verify(ctx, progress)
	if err != nil {
		return err
	}
	for _, v := range rep.Violations {
		fmt.Fprintln(stdout, "VIOLATION", v.String())
	}
	if rep.Truncated > 0 {
		fmt.Fprintf(stdout, "... and %d more violations\n", rep.Truncated)
	}
	if !rep.OK() {
		return fmt.Errorf("ledger verification failed: %d violation(s)", len(rep.Violations)+rep.Truncated)
	}
	fmt.Fprintf(stdout, "ledger OK: %d accounts, %d balances, %d entries, %d postings, %d holds\n",
		rep.Accounts, rep.Balances, rep.Entries, rep.Postings, rep.Holds)
	return nil
}
