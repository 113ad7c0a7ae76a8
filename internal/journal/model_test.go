package journal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// model is the reference: the pure ledger core applied to an in-memory
// ledger.Book, one operation at a time.
type model struct {
	t          testing.TB
	reg        *money.Registry
	book       *ledger.Book
	holds      map[string]ledger.Hold
	entries    map[string]ledger.Entry
	entryIDs   []string
	reversedBy map[string]string
	counters   map[string]int64
}

func newModel(t testing.TB, reg *money.Registry, accts ...ledger.Account) *model {
	m := &model{t: t, reg: reg, book: ledger.NewBook(), holds: map[string]ledger.Hold{},
		entries: map[string]ledger.Entry{}, reversedBy: map[string]string{}, counters: map[string]int64{}}
	for _, a := range accts {
		if err := m.book.Open(a); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// apply judges op like the engine should and returns the balances it
// changed, or the refusal.
func (m *model) apply(op journal.Op) ([]ledger.Balance, error) {
	var effects []ledger.Effect
	var entry *ledger.Entry
	var hold *ledger.Hold
	switch o := op.(type) {
	case journal.Post:
		if err := o.Entry.Validate(m.reg); err != nil {
			return nil, err
		}
		e := o.Entry
		entry, effects = &e, e.Effects()
	case journal.Reserve:
		out, err := ledger.Reserve(o.Hold, m.reg, o.Now)
		if err != nil {
			return nil, err
		}
		hold, effects = &out.Hold, out.Effects
	case journal.PostHold:
		h, ok := m.holds[o.HoldID]
		if !ok {
			return nil, fault.New(journal.CodeHoldNotFound, "no hold")
		}
		amount := o.Amount
		if amount == 0 {
			amount = h.Amount.Units()
		}
		out, err := h.Post(o.EntryID, money.New(amount, h.Amount.Asset()), o.Now)
		if err != nil {
			return nil, err
		}
		entry, hold, effects = out.Entry, &out.Hold, out.Effects
	case journal.VoidHold:
		if _, ok := m.holds[o.HoldID]; !ok {
			return nil, fault.New(journal.CodeHoldNotFound, "no hold")
		}
		out, err := m.holds[o.HoldID].Void(o.Now)
		if err != nil {
			return nil, err
		}
		hold, effects = &out.Hold, out.Effects
	case journal.ExpireHold:
		if _, ok := m.holds[o.HoldID]; !ok {
			return nil, fault.New(journal.CodeHoldNotFound, "no hold")
		}
		out, err := m.holds[o.HoldID].Expire(o.Now)
		if err != nil {
			return nil, err
		}
		hold, effects = &out.Hold, out.Effects
	case journal.Reverse:
		orig := m.entries[o.EntryID]
		if err := ledger.CanReverse(orig, m.reversedBy[o.EntryID]); err != nil {
			return nil, err
		}
		rev, err := ledger.Reverse(orig, o.ReversalID)
		if err != nil {
			return nil, err
		}
		entry, effects = &rev, rev.Effects()
	default:
		m.t.Fatalf("model: unknown op %T", op)
	}
	bals, err := ledger.Apply(effects, m.book)
	if err != nil {
		return nil, err
	}
	// Counters are judged after the ledger, in order, against the totals
	// so far; a refusal counts nothing.
	next := map[string]int64{}
	for _, c := range countersOf(op) {
		used, ok := next[c.Key]
		if !ok {
			used = m.counters[c.Key]
		}
		after := used + c.Delta
		if c.Delta < 0 {
			after = max(0, after)
		} else if c.Max > 0 && after > c.Max {
			return nil, fault.New(journal.CodeLimitExceeded, "limit")
		}
		next[c.Key] = after
	}
	for k, v := range next {
		m.counters[k] = v
	}
	m.book.Commit(bals)
	if hold != nil {
		m.holds[hold.ID] = *hold
	}
	if entry != nil {
		m.entries[entry.ID] = *entry
		m.entryIDs = append(m.entryIDs, entry.ID)
		if entry.ReversalOf != "" {
			m.reversedBy[entry.ReversalOf] = entry.ID
		}
	}
	return bals, nil
}

// TestEngineMatchesModel feeds the engine and the reference model the same
// seeded random operations — deposits, transfers (some overdrawing, some in
// the wrong currency, all counted against a per-account outgoing limit),
// share purchases, holds reserved (counted too), posted in part or in full
// and voided (releasing what they counted), reversals — in chunks queued together so that many
// land in one batch, and checks every outcome, every balance, every hold
// and the verifier.
func TestEngineMatchesModel(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{MaxBatch: 16})
		ext := e.system(ledger.KindExternal, usd)
		extEUR := e.system(ledger.KindExternal, eur)
		market := e.system(ledger.KindMarket, usd)
		customers := []ledger.Account{
			e.open(ledger.KindChecking, usd, 0),
			e.open(ledger.KindSavings, usd, 0),
			e.open(ledger.KindCredit, usd, 300_00),
			e.open(ledger.KindInvestment, usd, 0),
			e.open(ledger.KindChecking, eur, 0),
		}
		invest := customers[3]
		m := newModel(t, e.reg, append([]ledger.Account{ext, extEUR, market}, customers...)...)
		e.start()

		const (
			steps = 400
			chunk = 25
		)
		rng := rand.New(rand.NewPCG(7, 11))
		now := t0
		var ops []journal.Op
		var want []error
		var wantBals [][]ledger.Balance
		codes := map[fault.Code]int{}
		flush := func() {
			results, errs := e.eng.SubmitAll(context.Background(), ops)
			for i := range ops {
				if (want[i] == nil) != (errs[i] == nil) || (want[i] != nil && fault.CodeOf(want[i]) != fault.CodeOf(errs[i])) {
					t.Fatalf("op %d %T: engine err %v, model err %v", i, ops[i], errs[i], want[i])
				}
				if errs[i] != nil {
					codes[fault.CodeOf(errs[i])]++
					continue
				}
				if fmt.Sprint(results[i].Balances) != fmt.Sprint(wantBals[i]) {
					t.Fatalf("op %d %T: balances %v, model %v", i, ops[i], results[i].Balances, wantBals[i])
				}
			}
			ops, want, wantBals = ops[:0], want[:0], wantBals[:0]
		}
		add := func(op journal.Op) {
			bals, err := m.apply(op)
			ops, want, wantBals = append(ops, op), append(want, err), append(wantBals, bals)
		}
		pick := func() ledger.Account { return customers[rng.IntN(len(customers))] }
		// outgoing counts units against the account's outgoing limit.
		outgoing := func(account string, units int64) []journal.Counter {
			return []journal.Counter{{Key: "out:" + account, Delta: units, Max: 600_00, ExpiresAt: t0.Add(24 * time.Hour)}}
		}
		var holdIDs []string
		for step := range steps {
			now = now.Add(time.Second)
			switch k := rng.IntN(10); {
			case k < 2: // deposit
				to := pick()
				from := ext
				if to.Currency == eur {
					from = extEUR
				}
				add(journal.Post{Entry: withID(transfer(from.ID, to.ID, 1+rng.Int64N(500_00), to.Currency), now), Kind: "deposit", Now: now})
			case k < 5: // transfer, sometimes overdrawn or in the wrong currency
				from, to := pick(), pick()
				if from.ID == to.ID {
					continue
				}
				units := 1 + rng.Int64N(300_00)
				add(journal.Post{Entry: withID(transfer(from.ID, to.ID, units, from.Currency), now), Kind: "transfer", Now: now,
					Counters: outgoing(from.ID, units)})
			case k < 6: // buy shares: cash to the market, shares to the investor
				qty := 1 + rng.Int64N(5)
				add(journal.Post{Entry: ledger.Entry{ID: id.New("ent", now), Postings: []ledger.Posting{
					{Account: invest.ID, Amount: money.New(-qty*10_00, usd)},
					{Account: market.ID, Amount: money.New(qty*10_00, usd)},
					{Account: market.ID, Amount: money.New(-qty, acme)},
					{Account: invest.ID, Amount: money.New(qty, acme)},
				}}, Kind: "trade", Now: now})
			case k < 7: // reserve
				from, to := pick(), pick()
				if from.ID == to.ID {
					continue
				}
				h := ledger.HoldRequest{ID: id.New("hold", now), Account: from.ID, Destination: to.ID,
					Amount: money.New(1+rng.Int64N(200_00), from.Currency)}
				if rng.IntN(2) == 0 {
					h.Deadline = now.Add(time.Duration(1+rng.IntN(60)) * time.Second)
				}
				holdIDs = append(holdIDs, h.ID)
				add(journal.Reserve{Hold: h, Now: now, Counters: outgoing(from.ID, h.Amount.Units())})
			case k < 8 && len(holdIDs) > 0: // post (partial or full) or void
				h := holdIDs[rng.IntN(len(holdIDs))]
				if rng.IntN(3) == 0 {
					var release []journal.Counter // a void gives back what its reserve counted
					if held, ok := m.holds[h]; ok {
						release = outgoing(held.Account, -held.Amount.Units())
					}
					add(journal.VoidHold{HoldID: h, Now: now, Counters: release})
				} else {
					add(journal.PostHold{HoldID: h, Amount: rng.Int64N(150_00), EntryID: id.New("ent", now), Now: now})
				}
			case k < 9 && len(m.entryIDs) > 0: // reverse (some twice, some reversals)
				orig := m.entryIDs[rng.IntN(len(m.entryIDs))]
				add(journal.Reverse{EntryID: orig, ReversalID: id.New("ent", now), Now: now})
			case len(holdIDs) > 0: // expire (often too early)
				add(journal.ExpireHold{HoldID: holdIDs[rng.IntN(len(holdIDs))], Now: now})
			}
			if len(ops) == chunk || step == steps-1 {
				flush()
			}
		}
		t.Logf("refusals by code: %v; engine %+v", codes, e.eng.Stats())
		if codes[ledger.CodeInsufficientFunds] == 0 || codes[journal.CodeLimitExceeded] == 0 || len(codes) < 4 {
			t.Errorf("the run refused too little to be interesting: %v", codes)
		}
		for k, v := range m.counters {
			if got, _ := e.counter(k); got != v {
				t.Errorf("counter %s = %d, model %d", k, got, v)
			}
		}
		if n := e.count(`SELECT count(*) FROM ledger_counters`); n != len(m.counters) {
			t.Errorf("%d counters, model %d", n, len(m.counters))
		}

		// Every balance and hold in the database is the model's.
		for _, b := range m.book.Balances() {
			if got := e.balance(b.Account, b.Asset); got != b {
				t.Errorf("balance %s/%s = %+v, model %+v", b.Account, b.Asset.Code(), got, b)
			}
		}
		if n, want := e.count(`SELECT count(*) FROM balances WHERE posted <> 0 OR held <> 0`), nonZero(m.book.Balances()); n != want {
			t.Errorf("%d non-zero balances, model %d", n, want)
		}
		for hid, h := range m.holds {
			var status string
			var posted int64
			must(t, db.Read(context.Background(), func(tx *store.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT status, posted FROM holds WHERE id = ?`, hid).Scan(&status, &posted)
			}))
			if status != string(h.Status) || posted != h.Posted {
				t.Errorf("hold %s: %s/%d, model %s/%d", hid, status, posted, h.Status, h.Posted)
			}
		}
		if n := e.count(`SELECT count(*) FROM entries`); n != len(m.entries) {
			t.Errorf("%d entries, model %d", n, len(m.entries))
		}
		e.verify()
	})
}

func countersOf(op journal.Op) []journal.Counter {
	switch o := op.(type) {
	case journal.Post:
		return o.Counters
	case journal.Reserve:
		return o.Counters
	case journal.PostHold:
		return o.Counters
	case journal.VoidHold:
		return o.Counters
	case journal.ExpireHold:
		return o.Counters
	case journal.Reverse:
		return o.Counters
	}
	return nil
}

func withID(e ledger.Entry, now time.Time) ledger.Entry {
	e.ID = id.New("ent", now)
	return e
}

func nonZero(bs []ledger.Balance) int {
	n := 0
	for _, b := range bs {
		if b.Posted != 0 || b.Held != 0 {
			n++
		}
	}
	return n
}
