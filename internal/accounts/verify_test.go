package accounts_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// ledgerFixture is a small ledger with every kind of row: deposits,
// transfers, a reversal, a posted hold and a pending one, a credit draw.
type ledgerFixture struct {
	a, b, credit, ext, settle accounts.Account
	transferEntry             string
	reversal                  string
	postedHold                string
}

func newFixture(t *testing.T, e *env) ledgerFixture {
	t.Helper()
	ctx := context.Background()
	var f ledgerFixture
	f.a = e.open(e.user(), ledger.KindChecking, 0)
	f.b = e.open(e.user(), ledger.KindSavings, 0)
	f.credit = e.open(e.user(), ledger.KindCredit, 50_00)
	f.ext, f.settle = e.system(ledger.KindExternal), e.system(ledger.KindSettlement)
	e.post(f.ext.ID, f.a.ID, 100_00, usd, t0)
	f.transferEntry = e.post(f.a.ID, f.b.ID, 30_00, usd, t0).EntryID
	dep := e.post(f.ext.ID, f.b.ID, 7_00, usd, t0)
	rev, err := e.eng.Submit(ctx, journal.Reverse{EntryID: dep.EntryID, Now: t0})
	must(t, err)
	f.reversal = rev.EntryID
	e.post(f.credit.ID, f.a.ID, 40_00, usd, t0)
	h, err := e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: f.a.ID, Destination: f.settle.ID, Amount: money.New(20_00, usd)}, Now: t0})
	must(t, err)
	_, err = e.eng.Submit(ctx, journal.PostHold{HoldID: h.Hold.ID, Amount: 15_00, Now: t0})
	must(t, err)
	f.postedHold = h.Hold.ID
	_, err = e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: f.b.ID, Destination: f.settle.ID, Amount: money.New(5_00, usd)}, Now: t0})
	must(t, err)
	return f
}

// TestVerifyDetectsCorruption corrupts a clean ledger in one way at a time
// and checks that Verify names the broken invariant with the numbers.
func TestVerifyDetectsCorruption(t *testing.T) {
	t.Parallel()
	type want struct {
		rule             string
		account, entry   string
		expected, actual int64
		values           bool
	}
	for _, tc := range []struct {
		name    string
		corrupt func(e *env, f ledgerFixture) []want
	}{
		{"cached balance edited", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE balances SET posted = posted + 1 WHERE account_id = ?`, f.b.ID)
			return []want{
				{rule: accounts.RuleBalanceMismatch, account: f.b.ID, expected: 30_00, actual: 30_01, values: true},
				{rule: accounts.RuleLastBalanceAfter, account: f.b.ID, expected: 30_01, actual: 30_00, values: true},
				{rule: ledger.RuleConservation, expected: 0, actual: 1, values: true},
			}
		}},
		{"posting deleted", func(e *env, f ledgerFixture) []want {
			e.exec(`DELETE FROM postings WHERE entry_id = ? AND account_id = ?`, f.transferEntry, f.b.ID)
			return []want{
				{rule: accounts.RuleUnbalancedEntry, entry: f.transferEntry, expected: 0, actual: -30_00, values: true},
				{rule: accounts.RuleTooFewPostings, entry: f.transferEntry, expected: 2, actual: 1, values: true},
				{rule: accounts.RulePostingsConservation, expected: 0, actual: -30_00, values: true},
				{rule: accounts.RuleBalanceMismatch, account: f.b.ID, expected: 0, actual: 30_00, values: true},
			}
		}},
		{"balance_after changed", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE postings SET balance_after = balance_after + 99 WHERE entry_id = ? AND account_id = ?`, f.transferEntry, f.b.ID)
			return []want{
				{rule: accounts.RuleBalanceAfter, account: f.b.ID, entry: f.transferEntry, expected: 30_00, actual: 30_99, values: true},
			}
		}},
		{"entry deleted", func(e *env, f ledgerFixture) []want {
			e.exec(`DELETE FROM entries WHERE id = ?`, f.transferEntry)
			return []want{{rule: accounts.RuleOrphanPosting, entry: f.transferEntry}}
		}},
		{"held edited", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE balances SET held = held + 3 WHERE account_id = ?`, f.b.ID)
			return []want{{rule: ledger.RuleHeldMismatch, account: f.b.ID, expected: 5_00, actual: 5_03, values: true}}
		}},
		{"credit limit lowered under the balance", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE accounts SET credit_limit = ? WHERE id = ?`, 10_00, f.credit.ID)
			return []want{{rule: ledger.RuleBelowFloor, account: f.credit.ID, expected: -10_00, actual: -40_00, values: true}}
		}},
		{"reversal relinked", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE entries SET reversal_of = ? WHERE id = ?`, f.transferEntry, f.reversal)
			return []want{{rule: accounts.RuleInvalidReversal, entry: f.reversal}}
		}},
		{"posted hold edited", func(e *env, f ledgerFixture) []want {
			e.exec(`UPDATE holds SET posted = ? WHERE id = ?`, 14_00, f.postedHold)
			return []want{{rule: accounts.RuleInvalidHold, account: f.a.ID, expected: -14_00, actual: -15_00, values: true}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				t.Parallel()
				e := newEnv(t, db)
				f := newFixture(t, e)
				if rep := e.verify(); !rep.OK() {
					t.Fatalf("clean ledger: %v", rep.Violations)
				}
				wants := tc.corrupt(e, f)
				var out bytes.Buffer
				rep, err := e.svc.Verify(context.Background(), &out)
				must(t, err)
				if rep.OK() {
					t.Fatal("corruption not detected")
				}
				for _, w := range wants {
					found := false
					for _, v := range rep.Violations {
						if v.Rule == w.rule && (w.account == "" || v.Account == w.account) && (w.entry == "" || v.Entry == w.entry) &&
							(!w.values || (v.HasValues && v.Expected == w.expected && v.Actual == w.actual)) {
							found = true
						}
					}
					if !found {
						t.Errorf("no %+v among %v", w, rep.Violations)
					}
				}
				if !strings.Contains(out.String(), "violations") {
					t.Errorf("progress output %q", out.String())
				}
			})
		})
	}
}

func TestVerifyCounts(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db)
		newFixture(t, e)
		rep := e.verify()
		if !rep.OK() {
			t.Fatalf("violations: %v", rep.Violations)
		}
		// 3 customer + 2 system accounts; 6 entries of 2 postings; 2 holds.
		if rep.Accounts != 5 || rep.Entries != 6 || rep.Postings != 12 || rep.Holds != 2 {
			t.Errorf("report %+v", rep)
		}
	})
}
