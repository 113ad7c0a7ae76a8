package accounts_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db)
		owner := e.user()
		for _, tc := range []struct {
			name     string
			kind     ledger.Kind
			acctName string
			currency string
			limit    int64
			field    string // expected validation error field; "" for success
		}{
			{"checking", ledger.KindChecking, "  Everyday  ", "USD", 0, ""},
			{"credit with limit", ledger.KindCredit, "Card", "EUR", 500_00, ""},
			{"investment", ledger.KindInvestment, "Broker", "USD", 0, ""},
			{"system kind", ledger.KindExternal, "X", "USD", 0, "type"},
			{"unknown kind", "piggy", "X", "USD", 0, "type"},
			{"unknown currency", ledger.KindChecking, "X", "XXX", 0, "currency"},
			{"security as currency", ledger.KindChecking, "X", "ACME", 0, "currency"},
			{"limit on checking", ledger.KindChecking, "X", "USD", 1, "credit_limit"},
			{"negative limit", ledger.KindCredit, "X", "USD", -1, "credit_limit"},
			{"huge limit", ledger.KindCredit, "X", "USD", accounts.MaxCreditLimit + 1, "credit_limit"},
			{"empty name", ledger.KindChecking, "   ", "USD", 0, "name"},
			{"long name", ledger.KindChecking, strings.Repeat("é", accounts.MaxNameRunes+1), "USD", 0, "name"},
			{"control character", ledger.KindChecking, "a\x00b", "USD", 0, "name"},
		} {
			a, err := e.svc.Open(ctx, owner, tc.kind, tc.acctName, tc.currency, tc.limit)
			if tc.field != "" {
				wantField(t, err, tc.field)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if a.OwnerID != owner || a.Kind != tc.kind || a.Currency != tc.currency || a.CreditLimit != tc.limit ||
				a.Status != ledger.StatusActive || a.Name != strings.TrimSpace(tc.acctName) || a.SystemCode != "" {
				t.Errorf("%s: opened %+v", tc.name, a)
			}
			got, err := e.svc.Get(ctx, owner, a.ID)
			if err != nil || got.ID != a.ID || got.Balance != 0 || got.Currency != tc.currency || !got.CreatedAt.Equal(t0) {
				t.Errorf("%s: get %+v, %v", tc.name, got, err)
			}
		}
		_, err := e.svc.Open(ctx, "usr_nobody", ledger.KindChecking, "X", "USD", 0)
		wantCode(t, err, fault.NotFound)
		if n := e.exec(`UPDATE accounts SET name = name WHERE owner_user_id = ?`, owner); n != 3 {
			t.Errorf("%d accounts stored, want 3", n)
		}
		var events int
		must(t, db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'account.opened' AND actor_id = ?`, owner).Scan(&events)
		}))
		if events != 3 {
			t.Errorf("%d audit events, want 3", events)
		}
	})
}

func TestAccountLimit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db)
		owner := e.user()
		for range accounts.MaxAccountsPerOwner {
			e.open(owner, ledger.KindSavings, 0)
		}
		_, err := e.svc.Open(context.Background(), owner, ledger.KindSavings, "One more", "USD", 0)
		wantCode(t, err, accounts.CodeAccountLimit)
		list, err := e.svc.List(context.Background(), owner)
		if err != nil || len(list) != accounts.MaxAccountsPerOwner {
			t.Fatalf("list: %d accounts, %v", len(list), err)
		}
	})
}

// TestSystemAccountOnce creates the same system account from 16 goroutines
// through two services (two replicas with separate caches).
func TestSystemAccountOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db)
		other := accounts.New(accounts.Deps{DB: db})
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range ids {
			svc := e.svc
			if i%2 == 1 {
				svc = other
			}
			wg.Go(func() {
				a, err := svc.SystemAccount(context.Background(), ledger.KindExternal, "USD")
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = a.ID
			})
		}
		wg.Wait()
		for _, got := range ids {
			if got != ids[0] {
				t.Fatalf("system account IDs differ: %v", ids)
			}
		}
		if n := e.exec(`UPDATE accounts SET name = name WHERE system_code = 'external:USD'`); n != 1 {
			t.Errorf("%d external:USD accounts", n)
		}
		a, err := e.svc.SystemAccount(context.Background(), ledger.KindFees, "EUR")
		if err != nil || a.SystemCode != "fees:EUR" || a.Kind != ledger.KindFees || a.OwnerID != "" {
			t.Errorf("fees account %+v, %v", a, err)
		}
		_, err = e.svc.SystemAccount(context.Background(), ledger.KindChecking, "USD")
		wantField(t, err, "type")
		_, err = e.svc.SystemAccount(context.Background(), ledger.KindMarket, "usd")
		wantField(t, err, "currency")
	})
}

// TestOwnership: someone else's account is not found, everywhere.
func TestOwnership(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db)
		alice, bob := e.user(), e.user()
		a := e.open(alice, ledger.KindChecking, 0)
		b := e.open(bob, ledger.KindChecking, 0)
		_, err := e.svc.Get(ctx, bob, a.ID)
		wantCode(t, err, fault.NotFound)
		_, err = e.svc.Statement(ctx, bob, a.ID, accounts.StatementQuery{})
		wantCode(t, err, fault.NotFound)
		_, err = e.svc.Get(ctx, alice, "acct_garbage")
		wantCode(t, err, fault.NotFound)
		sys := e.system(ledger.KindExternal)
		_, err = e.svc.Get(ctx, alice, sys.ID)
		wantCode(t, err, fault.NotFound)
		list, err := e.svc.List(ctx, alice)
		if err != nil || len(list) != 1 || list[0].ID != a.ID {
			t.Errorf("alice's list %+v, %v", list, err)
		}
		got, err := e.svc.Lookup(ctx, b.ID)
		if err != nil || got.OwnerID != bob {
			t.Errorf("lookup %+v, %v", got, err)
		}
	})
}

// TestBalancesAndHoldings: ledger balance, available balance net of holds,
// and share holdings of an investment account.
func TestBalancesAndHoldings(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db)
		owner := e.user()
		inv := e.open(owner, ledger.KindInvestment, 0)
		ext, market := e.system(ledger.KindExternal), e.system(ledger.KindMarket)
		acme := money.MustSecurity("ACME")
		e.post(ext.ID, inv.ID, 1_000_00, usd, t0)
		e.post(market.ID, inv.ID, 7, acme, t0)
		_, err := e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: inv.ID, Destination: market.ID,
			Amount: money.New(250_00, usd)}, Now: t0})
		must(t, err)
		_, err = e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: inv.ID, Destination: market.ID,
			Amount: money.New(2, acme)}, Now: t0})
		must(t, err)
		got, err := e.svc.Get(ctx, owner, inv.ID)
		must(t, err)
		if got.Balance != 1_000_00 || got.Held != 250_00 || got.AvailableBalance != 750_00 {
			t.Errorf("cash %d held %d available %d", got.Balance, got.Held, got.AvailableBalance)
		}
		want := []accounts.Holding{{Symbol: "ACME", Quantity: 7, Held: 2, AvailableQuantity: 5}}
		if len(got.Holdings) != 1 || got.Holdings[0] != want[0] {
			t.Errorf("holdings %+v, want %+v", got.Holdings, want)
		}
		if rep := e.verify(); !rep.OK() {
			t.Errorf("verify: %v", rep.Violations)
		}
	})
}

func TestStatement(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db)
		owner := e.user()
		a := e.open(owner, ledger.KindChecking, 0)
		other := e.open(e.user(), ledger.KindChecking, 0)
		ext := e.system(ledger.KindExternal)
		// Five lines an hour apart: +100, +50, -30, -20, +5.
		amounts := []int64{100_00, 50_00, -30_00, -20_00, 5_00}
		var entries []string
		post := func(from, to int) {
			for i := from; i < to; i++ {
				at := t0.Add(time.Duration(i) * time.Hour)
				var r journal.Result
				if amt := amounts[i]; amt > 0 {
					r = e.post(ext.ID, a.ID, amt, usd, at)
				} else {
					r = e.post(a.ID, other.ID, -amt, usd, at)
				}
				entries = append(entries, r.EntryID)
			}
		}
		index := store.NewIndexer(db, slog.New(slog.DiscardHandler), accounts.PostingsIndex)
		// On SQLite the lines come from the bulk index posting_accounts up
		// to its mark and from the postings past it: every state must read
		// the same.
		check := func(state string) {
			t.Helper()
			st, err := e.svc.Statement(ctx, owner, a.ID, accounts.StatementQuery{})
			must(t, err)
			if st.Asset != "USD" || len(st.Lines) != 5 || st.NextCursor != "" || st.OpeningBalance != 0 {
				t.Fatalf("%s: statement %+v", state, st)
			}
			running := int64(0)
			for i, l := range st.Lines {
				running += amounts[i]
				if l.Amount != amounts[i] || l.BalanceAfter != running || l.EntryID != entries[i] || l.Kind != "transfer" ||
					l.Memo != "test" || !l.At.Equal(t0.Add(time.Duration(i)*time.Hour)) {
					t.Errorf("%s: line %d: %+v, want amount %d balance %d", state, i, l, amounts[i], running)
				}
			}
			// Pages of two.
			var pages [][]int64
			cursor := ""
			for range 10 {
				p, err := e.svc.Statement(ctx, owner, a.ID, accounts.StatementQuery{Limit: 2, Cursor: cursor})
				must(t, err)
				var bals []int64
				for _, l := range p.Lines {
					bals = append(bals, l.BalanceAfter)
				}
				pages = append(pages, bals)
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if len(pages) != 3 || len(pages[0]) != 2 || len(pages[2]) != 1 || pages[1][0] != 120_00 || pages[2][0] != 105_00 {
				t.Errorf("%s: pages %v", state, pages)
			}
			// A period: hours 1 and 2 only; the opening balance is the one before.
			p, err := e.svc.Statement(ctx, owner, a.ID, accounts.StatementQuery{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)})
			must(t, err)
			if len(p.Lines) != 2 || p.OpeningBalance != 100_00 || p.Lines[1].BalanceAfter != 120_00 {
				t.Errorf("%s: period %+v", state, p)
			}
			// Another asset of the account: none.
			p, err = e.svc.Statement(ctx, owner, a.ID, accounts.StatementQuery{Asset: "ACME"})
			if err != nil || len(p.Lines) != 0 {
				t.Errorf("%s: ACME statement %+v, %v", state, p, err)
			}
		}
		post(0, 3)
		must(t, index.CatchUp(ctx))
		post(3, 5)
		check("the newest past the mark")
		must(t, index.CatchUp(ctx))
		check("all indexed")
		if db.Dialect() == store.SQLite {
			must(t, db.Write(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `DELETE FROM posting_accounts`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `UPDATE index_marks SET upto = 0 WHERE name = 'posting_accounts'`)
				return err
			}))
			check("none indexed")
		}
		for _, q := range []accounts.StatementQuery{
			{Limit: accounts.MaxStatementLimit + 1}, {Limit: -1}, {Cursor: "garbage!"}, {Asset: "not an asset"},
			{From: t0, To: t0},
		} {
			_, err := e.svc.Statement(ctx, owner, a.ID, q)
			wantCode(t, err, fault.Invalid)
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
