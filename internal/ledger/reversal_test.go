package ledger_test

import (
	"math"
	"testing"

	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func TestReverse(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	b := newBook(t)
	orig := entry("e1", leg(alice.ID, -40_00, usd), leg(bob.ID, 39_00, usd), leg(fees.ID, 1_00, usd))
	before := b.Balances()
	bs, err := ledger.ApplyEntry(orig, reg, b)
	wantCode(t, err, "")
	b.Commit(bs)

	rev, err := ledger.Reverse(orig, "e2")
	wantCode(t, err, "")
	if rev.ID != "e2" || rev.ReversalOf != "e1" || len(rev.Postings) != 3 || rev.Postings[0].Amount.Units() != 40_00 {
		t.Fatalf("reversal = %+v", rev)
	}
	wantCode(t, ledger.CheckReversal(rev, orig), "")
	bs, err = ledger.ApplyEntry(rev, reg, b)
	wantCode(t, err, "")
	b.Commit(bs)
	for _, want := range before {
		if got := b.Balance(want.Account, want.Asset); got != want {
			t.Errorf("after reversal %+v, want %+v", got, want)
		}
	}
	if got := b.Balance(bob.ID, usd); got.Posted != 0 {
		t.Errorf("bob after reversal %+v", got)
	}

	_, err = ledger.Reverse(rev, "e3")
	wantCode(t, err, ledger.CodeEntryIsReversal)
	wantCode(t, ledger.CanReverse(orig, ""), "")
	wantCode(t, ledger.CanReverse(orig, "e2"), ledger.CodeEntryReversed)
	wantCode(t, ledger.CanReverse(rev, ""), ledger.CodeEntryIsReversal)
}

func TestReversalNeedsFunds(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	b := newBook(t)
	orig := entry("e1", leg(alice.ID, -40_00, usd), leg(bob.ID, 40_00, usd))
	bs, _ := ledger.ApplyEntry(orig, reg, b)
	b.Commit(bs)
	spend := entry("e2", leg(bob.ID, -40_00, usd), leg(external.ID, 40_00, usd))
	bs, err := ledger.ApplyEntry(spend, reg, b)
	wantCode(t, err, "")
	b.Commit(bs)
	rev, _ := ledger.Reverse(orig, "e3")
	_, err = ledger.ApplyEntry(rev, reg, b)
	wantCode(t, err, ledger.CodeInsufficientFunds)
}

func TestCheckReversal(t *testing.T) {
	t.Parallel()
	orig := entry("e1", leg(alice.ID, -40_00, usd), leg(bob.ID, 40_00, usd))
	good, err := ledger.Reverse(orig, "e2")
	wantCode(t, err, "")
	bad := []func(e *ledger.Entry){
		func(e *ledger.Entry) { e.ReversalOf = "" },
		func(e *ledger.Entry) { e.ReversalOf = "e9" },
		func(e *ledger.Entry) { e.Postings = e.Postings[:1] },
		func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(bob.ID, -40_00, usd), leg(alice.ID, 40_00, usd)}
		},
		func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(alice.ID, 40_00, usd), leg(bob.ID, -39_00, usd)}
		},
		func(e *ledger.Entry) {
			e.Postings = []ledger.Posting{leg(alice.ID, 40_00, eur), leg(bob.ID, -40_00, eur)}
		},
	}
	for i, edit := range bad {
		e := good
		e.Postings = append([]ledger.Posting(nil), good.Postings...)
		edit(&e)
		wantCode(t, ledger.CheckReversal(e, orig), ledger.CodeInvalidReversal)
		_ = i
	}
	wantCode(t, ledger.CheckReversal(good, good), ledger.CodeInvalidReversal)
	// An amount that cannot be negated cannot be reversed.
	_, err = ledger.Reverse(ledger.Entry{ID: "e1", Postings: []ledger.Posting{{Account: alice.ID, Amount: money.New(math.MinInt64, usd)}}}, "e2")
	wantCode(t, err, money.CodeAmountOverflow)
}
