package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"pgregory.net/rapid"
)

// genBook draws a book of customer and system accounts whose balances are
// funded from the external account, so every invariant holds at the start.
func genBook(t *rapid.T) (*ledger.Book, []ledger.Account) {
	b := ledger.NewBook()
	accts := []ledger.Account{external, market, fees}
	kinds := []ledger.Kind{ledger.KindChecking, ledger.KindSavings, ledger.KindCredit, ledger.KindInvestment}
	n := rapid.IntRange(2, 8).Draw(t, "customers")
	for i := range n {
		a := ledger.Account{
			ID:       fmt.Sprintf("acct_%d", i),
			Kind:     rapid.SampledFrom(kinds).Draw(t, "kind"),
			Status:   ledger.StatusActive,
			Currency: usd,
		}
		if a.Kind == ledger.KindCredit {
			a.CreditLimit = rapid.Int64Range(0, 10_000).Draw(t, "limit")
		}
		accts = append(accts, a)
	}
	for _, a := range accts {
		if err := b.Open(a); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range accts[3:] {
		fund := rapid.Int64Range(0, 100_000).Draw(t, "fund")
		for _, asset := range []money.Asset{usd, acme} {
			if a.Accepts(asset) != nil || fund == 0 {
				continue
			}
			mustApply(t, b, entry("fund_"+a.ID+"_"+asset.Code(), leg(external.ID, -fund, asset), leg(a.ID, fund, asset)))
		}
	}
	return b, accts
}

func mustApply(t interface{ Fatalf(string, ...any) }, b *ledger.Book, e ledger.Entry) {
	reg, _ := money.NewRegistry("ACME", "GLOBEX")
	bs, err := ledger.ApplyEntry(e, reg, b)
	if err != nil {
		t.Fatalf("apply %s: %v", e.ID, err)
	}
	b.Commit(bs)
}

// genEntry draws a structurally valid entry over accounts: one or two
// asset groups, each with credit and debit legs that sum to zero.
func genEntry(t *rapid.T, accts []ledger.Account, id string) ledger.Entry {
	e := ledger.Entry{ID: id}
	groups := rapid.IntRange(1, 2).Draw(t, "groups")
	for g := range groups {
		asset := []money.Asset{usd, acme}[g]
		if groups == 1 {
			asset = rapid.SampledFrom([]money.Asset{usd, acme}).Draw(t, "asset")
		}
		var ok []ledger.Account
		for _, a := range accts {
			if a.Accepts(asset) == nil {
				ok = append(ok, a)
			}
		}
		picked := rapid.Permutation(ok).Draw(t, "accounts")
		k := rapid.IntRange(2, min(len(picked), 6)).Draw(t, "legs")
		c := rapid.IntRange(1, k-1).Draw(t, "credit legs")
		var total int64
		for _, a := range picked[:c] {
			x := rapid.Int64Range(1, 50_000).Draw(t, "credit")
			total += x
			e.Postings = append(e.Postings, ledger.Posting{Account: a.ID, Amount: money.New(x, asset)})
		}
		d := min(k-c, int(total))
		parts, err := money.New(-total, asset).Split(d)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range picked[c : c+d] {
			e.Postings = append(e.Postings, ledger.Posting{Account: a.ID, Amount: parts[i]})
		}
	}
	return e
}

func TestPropEntryConservesEachAsset(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	rapid.Check(t, func(t *rapid.T) {
		b, accts := genBook(t)
		for i := range rapid.IntRange(1, 20).Draw(t, "entries") {
			e := genEntry(t, accts, fmt.Sprintf("e%d", i))
			if err := e.Validate(reg); err != nil {
				t.Fatalf("generated entry invalid: %v", err)
			}
			before := sums(b)
			bs, err := ledger.ApplyEntry(e, reg, b)
			if err != nil {
				code := fault.CodeOf(err)
				if code != ledger.CodeInsufficientFunds && code != ledger.CodeCreditLimitExceeded {
					t.Fatalf("unexpected refusal %v", err)
				}
				continue
			}
			b.Commit(bs)
			if after := sums(b); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("sums changed: %v → %v", before, after)
			}
			if v := ledger.Verify(b.Accounts(), b.Balances(), nil); len(v) > 0 {
				t.Fatalf("invariants broken after %+v: %v", e, v)
			}
		}
	})
}

func TestPropReversalRestoresBalances(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	rapid.Check(t, func(t *rapid.T) {
		b, accts := genBook(t)
		e := genEntry(t, accts, "e1")
		snapshot := b.Balances()
		bs, err := ledger.ApplyEntry(e, reg, b)
		if err != nil {
			return // refused: nothing to reverse
		}
		b.Commit(bs)
		rev, err := ledger.Reverse(e, "e2")
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.CheckReversal(rev, e); err != nil {
			t.Fatal(err)
		}
		// Reversing at once always succeeds: every account it debits was
		// just credited by as much.
		bs, err = ledger.ApplyEntry(rev, reg, b)
		if err != nil {
			t.Fatalf("reversal refused: %v", err)
		}
		b.Commit(bs)
		for _, want := range snapshot {
			if got := b.Balance(want.Account, want.Asset); got != want {
				t.Fatalf("after reversal %+v, want %+v", got, want)
			}
		}
		for _, p := range e.Postings {
			if got := b.Balance(p.Account, p.Amount.Asset()); got.Posted != 0 && !hasBalance(snapshot, p.Account, p.Amount.Asset()) {
				t.Fatalf("new balance %+v not restored to zero", got)
			}
		}
	})
}

func hasBalance(bs []ledger.Balance, account string, asset money.Asset) bool {
	for _, b := range bs {
		if b.Account == account && b.Asset == asset {
			return true
		}
	}
	return false
}

// TestPropHoldSequences runs random reserve/post/void/expire/clock steps
// and checks after each that floors hold, held amounts match the pending
// holds, and final holds refuse every transition.
func TestPropHoldSequences(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	rapid.Check(t, func(t *rapid.T) {
		b, accts := genBook(t)
		customers := accts[3:]
		var holds []ledger.Hold
		now := t0
		for i := range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch rapid.IntRange(0, 4).Draw(t, "op") {
			case 0: // reserve
				src := rapid.SampledFrom(customers).Draw(t, "source")
				dst := rapid.SampledFrom(accts).Draw(t, "destination")
				if src.ID == dst.ID {
					continue
				}
				req := ledger.HoldRequest{
					ID: fmt.Sprintf("h%d", i), Account: src.ID, Destination: dst.ID,
					Amount: money.New(rapid.Int64Range(1, 60_000).Draw(t, "amount"), usd),
				}
				if rapid.Bool().Draw(t, "deadline") {
					req.Deadline = now.Add(time.Duration(rapid.IntRange(1, 100).Draw(t, "ttl")) * time.Minute)
				}
				out, err := ledger.Reserve(req, reg, now)
				if err != nil {
					t.Fatal(err)
				}
				if bs, err := ledger.Apply(out.Effects, b); err == nil {
					b.Commit(bs)
					holds = append(holds, out.Hold)
				}
			case 1, 2, 3: // post, void or expire a random hold
				if len(holds) == 0 {
					continue
				}
				j := rapid.IntRange(0, len(holds)-1).Draw(t, "hold")
				h := holds[j]
				var out ledger.Outcome
				var err error
				switch rapid.IntRange(1, 3).Draw(t, "transition") {
				case 1:
					amt := rapid.Int64Range(1, h.Amount.Units()).Draw(t, "post")
					out, err = h.Post(fmt.Sprintf("p%d", i), money.New(amt, usd), now)
				case 2:
					out, err = h.Void(now)
				case 3:
					out, err = h.Expire(now)
				}
				if h.Status != ledger.HoldPending {
					if fault.CodeOf(err) != ledger.CodeHoldNotPending {
						t.Fatalf("%s hold %s moved: %v", h.Status, h.ID, err)
					}
					continue
				}
				if err != nil {
					continue
				}
				if out.Hold.Status == ledger.HoldPosted && h.Expired(now) {
					t.Fatalf("hold %s posted after its deadline", h.ID)
				}
				bs, err := ledger.Apply(out.Effects, b)
				if err != nil {
					t.Fatalf("transition of %s refused by Apply: %v", h.ID, err)
				}
				b.Commit(bs)
				holds[j] = out.Hold
			case 4:
				now = now.Add(time.Duration(rapid.IntRange(1, 30).Draw(t, "tick")) * time.Minute)
			}
			if v := ledger.Verify(b.Accounts(), b.Balances(), holds); len(v) > 0 {
				t.Fatalf("step %d: %v", i, v)
			}
		}
	})
}
