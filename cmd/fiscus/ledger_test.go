package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// "fiscus ledger verify" passes on a consistent ledger and fails, naming the
// account, once a cached balance is tampered with.
func TestLedgerVerifyCommand(t *testing.T) {
	t.Parallel()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := storetest.URL(t, e)
			getenv := func(k string) string {
				switch k {
				case "DATABASE_URL":
					return url
				case "FISCUS_DATA_DIR":
					return t.TempDir()
				}
				return ""
			}
			var out, errOut bytes.Buffer
			if err := run(ctx, []string{"migrate", "up"}, getenv, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := time.Now()
			// A user to own the account.
			err = db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, roles, password_changed_at, created_at, updated_at)
					VALUES ('usr_01JD0000000000000000000001', 'v@example.com', 'V', 'x', 'customer', 1, 1, 1)`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			accts := accounts.New(accounts.Deps{DB: db})
			acct, err := accts.Open(ctx, "usr_01JD0000000000000000000001", ledger.KindChecking, "Main", "USD", 0)
			if err != nil {
				t.Fatal(err)
			}
			ext, err := accts.SystemAccount(ctx, ledger.KindExternal, "USD")
			if err != nil {
				t.Fatal(err)
			}
			eng := journal.New(db, journal.Options{})
			rctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- eng.Run(rctx) }()
			usd := money.MustCurrency("USD")
			_, err = eng.Submit(ctx, journal.Post{Now: now, Entry: ledger.Entry{Postings: []ledger.Posting{
				{Account: ext.ID, Amount: money.New(-5000, usd)}, {Account: acct.ID, Amount: money.New(5000, usd)},
			}}})
			stop()
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			out.Reset()
			if err := run(ctx, []string{"ledger", "verify", "--quiet"}, getenv, &out, &errOut); err != nil {
				t.Fatalf("clean ledger: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "ledger OK") {
				t.Fatalf("output: %s", out.String())
			}
			err = db.Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE balances SET posted = posted + 1 WHERE account_id = ?`, acct.ID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			out.Reset()
			err = run(ctx, []string{"ledger", "verify", "--quiet"}, getenv, &out, &errOut)
			if err == nil || !strings.Contains(out.String(), acct.ID) {
				t.Fatalf("tampered ledger: err=%v output:\n%s", err, out.String())
			}
		})
	}
}
