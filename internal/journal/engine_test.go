package journal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

// TestFailureIsolation queues a good transfer, an overdraft and another
// good transfer into one batch: two commit, the overdraft is refused with
// needed and available, and the balances are exact.
func TestFailureIsolation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 100_00, usd))

		// A second engine, not yet running, so the three operations are
		// queued before its writer takes them all into one batch.
		eng := journal.New(db, journal.Options{})
		var batches []int
		eng.SetBeforeBatch(func(n int) { batches = append(batches, n) })
		done := make(chan struct{})
		var res []journal.Result
		var errs []error
		go func() {
			defer close(done)
			res, errs = eng.SubmitAll(context.Background(), []journal.Op{
				journal.Post{Entry: transfer(a.ID, b.ID, 30_00, usd), Now: t0},
				journal.Post{Entry: transfer(a.ID, b.ID, 80_00, usd), Now: t0}, // only 70.00 left
				journal.Post{Entry: transfer(a.ID, b.ID, 70_00, usd), Now: t0},
			})
		}()
		waitQueued(t, eng, 3)
		startEngine(t, eng)
		<-done
		if len(batches) != 1 || batches[0] != 3 {
			t.Fatalf("batches %v, want one of 3", batches)
		}
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("good transfers failed: %v, %v", errs[0], errs[2])
		}
		fe := wantCode(t, errs[1], ledger.CodeInsufficientFunds)
		if fe.Extra["needed"] != int64(80_00) || fe.Extra["available"] != int64(70_00) {
			t.Errorf("refusal extra = %v, want needed 8000 available 7000", fe.Extra)
		}
		if bal, _ := res[0].Balance(a.ID, usd); bal.Posted != 70_00 {
			t.Errorf("first result balance %+v, want 70.00", bal)
		}
		if bal, _ := res[2].Balance(a.ID, usd); bal.Posted != 0 {
			t.Errorf("third result balance %+v, want 0", bal)
		}
		if got := e.balance(a.ID, usd).Posted; got != 0 {
			t.Errorf("a = %d, want 0", got)
		}
		if got := e.balance(b.ID, usd).Posted; got != 100_00 {
			t.Errorf("b = %d, want 100.00", got)
		}
		if n := e.count(`SELECT count(*) FROM entries`); n != 3 {
			t.Errorf("%d entries, want 3 (funding and two transfers)", n)
		}
		e.verify()
	})
}

// waitQueued blocks until n operations wait in eng's queue (the queue is
// filled by another goroutine; this polls the counter without sleeping
// for a fixed time).
func waitQueued(t testing.TB, eng *journal.Engine, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for eng.Stats().Queued < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d operations queued, want %d", eng.Stats().Queued, n)
		}
		runtimeGosched()
	}
}

// TestExactlyEnoughFunds has 200 concurrent debits of 1.00 race for an
// account holding 50.00: exactly 50 succeed.
func TestExactlyEnoughFunds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		const (
			callers = 200
			covered = 50
		)
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		src, dst := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindSavings, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, src.ID, covered*1_00, usd))

		var ok, short atomic.Int64
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				_, err := e.post(transfer(src.ID, dst.ID, 1_00, usd))
				switch {
				case err == nil:
					ok.Add(1)
				case fault.Is(err, ledger.CodeInsufficientFunds):
					short.Add(1)
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != covered || short.Load() != callers-covered {
			t.Fatalf("%d succeeded, %d insufficient; want %d and %d", ok.Load(), short.Load(), covered, callers-covered)
		}
		if b := e.balance(src.ID, usd); b.Posted != 0 || b.Held != 0 {
			t.Errorf("source %+v, want 0", b)
		}
		if b := e.balance(dst.ID, usd); b.Posted != covered*1_00 {
			t.Errorf("destination %+v, want %d", b, covered*1_00)
		}
		e.verify()
	})
}

// TestTransferStorm runs random transfers among 20 accounts from 32
// goroutines, through two engines on the same database (two replicas):
// money is conserved and the verifier is clean.
func TestTransferStorm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		const (
			accountsN  = 20
			goroutines = 32
			perG       = 40
			funding    = 1_000_00
		)
		e := newEnv(t, db, journal.Options{MaxBatch: 64})
		ext := e.system(ledger.KindExternal, usd)
		var ids []string
		for i := range accountsN {
			kind, limit := ledger.KindChecking, int64(0)
			if i%5 == 0 {
				kind, limit = ledger.KindCredit, 200_00
			}
			ids = append(ids, e.open(kind, usd, limit).ID)
		}
		e.start()
		other := journal.New(db, journal.Options{MaxBatch: 64, Assets: func() *money.Registry { return e.reg }})
		startEngine(t, other)
		for _, a := range ids {
			e.mustPost(transfer(ext.ID, a, funding, usd))
		}
		var committed, refused atomic.Int64
		var wg sync.WaitGroup
		for g := range goroutines {
			eng := e.eng
			if g%2 == 1 {
				eng = other
			}
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 99))
				for range perG {
					from, to := ids[rng.IntN(accountsN)], ids[rng.IntN(accountsN)]
					if from == to {
						continue
					}
					_, err := eng.Submit(context.Background(), journal.Post{Entry: transfer(from, to, 1+rng.Int64N(400_00), usd), Now: t0})
					switch {
					case err == nil:
						committed.Add(1)
					case fault.Is(err, ledger.CodeInsufficientFunds), fault.Is(err, ledger.CodeCreditLimitExceeded):
						refused.Add(1)
					default:
						t.Errorf("unexpected: %v", err)
					}
				}
			})
		}
		wg.Wait()
		t.Logf("%d committed, %d refused; engines %+v / %+v", committed.Load(), refused.Load(), e.eng.Stats(), other.Stats())
		if committed.Load() == 0 || refused.Load() == 0 {
			t.Errorf("storm too tame: %d committed, %d refused", committed.Load(), refused.Load())
		}
		var total int64
		for _, a := range ids {
			total += e.balance(a, usd).Posted
		}
		if total != accountsN*funding {
			t.Errorf("customers hold %d, want %d", total, accountsN*funding)
		}
		if got := e.balance(ext.ID, usd).Posted; got != -accountsN*funding {
			t.Errorf("external %d, want %d", got, -accountsN*funding)
		}
		if n := e.count(`SELECT count(*) FROM entries`); int64(n) != committed.Load()+accountsN {
			t.Errorf("%d entries, want %d", n, committed.Load()+accountsN)
		}
		e.verify()
	})
}

// TestHoldLifecycle walks holds through the state machine: reserve, partial
// post, void, expire (only once due, through ExpireDue), and the refusals
// of every illegal move.
func TestHoldLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		merchant := e.system(ledger.KindSettlement, usd)
		card := e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, card.ID, 100_00, usd))
		reserve := func(units int64, deadline time.Time) (journal.Result, error) {
			return e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: card.ID, Destination: merchant.ID,
				Amount: money.New(units, usd), Deadline: deadline}, Now: t0})
		}

		// Reserve 60: available drops, the ledger balance does not.
		r1, err := reserve(60_00, time.Time{})
		must(t, err)
		if b, _ := r1.Balance(card.ID, usd); b.Posted != 100_00 || b.Held != 60_00 {
			t.Fatalf("after reserve %+v", b)
		}
		// Another 50 does not fit in the 40 left.
		_, err = reserve(50_00, time.Time{})
		fe := wantCode(t, err, ledger.CodeInsufficientFunds)
		if fe.Extra["available"] != int64(40_00) {
			t.Errorf("available %v, want 4000", fe.Extra["available"])
		}
		// Post 45 of the 60: 45 moves, 15 comes back.
		p, err := e.eng.Submit(ctx, journal.PostHold{HoldID: r1.Hold.ID, Amount: 45_00, Now: t0.Add(time.Minute)})
		must(t, err)
		if p.Hold.Status != ledger.HoldPosted || p.Hold.Posted != 45_00 || p.EntryID == "" {
			t.Fatalf("posted hold %+v", p.Hold)
		}
		if b := e.balance(card.ID, usd); b.Posted != 55_00 || b.Held != 0 {
			t.Errorf("card after post %+v, want 55.00 held 0", b)
		}
		if b := e.balance(merchant.ID, usd); b.Posted != 45_00 {
			t.Errorf("merchant after post %+v", b)
		}
		// A posted hold is final.
		_, err = e.eng.Submit(ctx, journal.VoidHold{HoldID: r1.Hold.ID, Now: t0})
		wantCode(t, err, ledger.CodeHoldNotPending)
		_, err = e.eng.Submit(ctx, journal.PostHold{HoldID: r1.Hold.ID, Now: t0})
		wantCode(t, err, ledger.CodeHoldNotPending)

		// Void releases everything.
		r2, err := reserve(20_00, time.Time{})
		must(t, err)
		v, err := e.eng.Submit(ctx, journal.VoidHold{HoldID: r2.Hold.ID, Now: t0})
		must(t, err)
		if v.Hold.Status != ledger.HoldVoided || v.EntryID != "" {
			t.Fatalf("voided %+v", v)
		}
		if b := e.balance(card.ID, usd); b.Held != 0 {
			t.Errorf("held after void %d", b.Held)
		}
		_, err = e.eng.Submit(ctx, journal.PostHold{HoldID: r2.Hold.ID, Now: t0})
		wantCode(t, err, ledger.CodeHoldNotPending)

		// Expiry: not before the deadline, then by the sweeper.
		deadline := t0.Add(time.Hour)
		r3, err := reserve(30_00, deadline)
		must(t, err)
		r4, err := reserve(5_00, deadline.Add(time.Hour))
		must(t, err)
		n, err := e.eng.ExpireDue(ctx, deadline.Add(-time.Microsecond))
		if err != nil || n != 0 {
			t.Fatalf("early sweep expired %d (%v), want 0", n, err)
		}
		_, err = e.eng.Submit(ctx, journal.ExpireHold{HoldID: r3.Hold.ID, Now: deadline.Add(-time.Second)})
		wantCode(t, err, ledger.CodeHoldNotExpired)
		_, err = e.eng.Submit(ctx, journal.PostHold{HoldID: r3.Hold.ID, Now: deadline})
		wantCode(t, err, ledger.CodeHoldExpired)
		n, err = e.eng.ExpireDue(ctx, deadline)
		if err != nil || n != 1 {
			t.Fatalf("sweep expired %d (%v), want 1", n, err)
		}
		if n, _ := e.eng.ExpireDue(ctx, deadline); n != 0 {
			t.Errorf("second sweep expired %d, want 0", n)
		}
		if b := e.balance(card.ID, usd); b.Held != 5_00 {
			t.Errorf("held after expiry %d, want 5.00 (the later hold)", b.Held)
		}
		var status string
		var resolved int64
		must(t, db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT status, resolved_at FROM holds WHERE id = ?`, r3.Hold.ID).Scan(&status, &resolved)
		}))
		if status != "expired" || resolved != store.Micros(deadline) {
			t.Errorf("expired hold row: %s at %d", status, resolved)
		}
		_, err = e.eng.Submit(ctx, journal.VoidHold{HoldID: r4.Hold.ID, Now: t0})
		must(t, err)

		// Unknown holds, and a hold ID used twice.
		_, err = e.eng.Submit(ctx, journal.VoidHold{HoldID: "hold_nope", Now: t0})
		wantCode(t, err, journal.CodeHoldNotFound)
		_, err = e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{ID: r1.Hold.ID, Account: card.ID, Destination: merchant.ID,
			Amount: money.New(1, usd)}, Now: t0})
		wantCode(t, err, journal.CodeHoldExists)
		e.verify()
	})
}

// TestHoldInOneBatch reserves, posts and reverses within one batch: each
// operation sees the ones before it.
func TestHoldInOneBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 50_00, usd))

		eng := journal.New(db, journal.Options{})
		var batches []int
		eng.SetBeforeBatch(func(n int) { batches = append(batches, n) })
		holdID, entryID, voided := id.New("hold", t0), id.New("ent", t0), id.New("hold", t0)
		ops := []journal.Op{
			journal.Reserve{Hold: ledger.HoldRequest{ID: holdID, Account: a.ID, Destination: b.ID, Amount: money.New(30_00, usd)}, Now: t0},
			journal.Reserve{Hold: ledger.HoldRequest{ID: voided, Account: a.ID, Destination: b.ID, Amount: money.New(20_00, usd)}, Now: t0},
			journal.Post{Entry: transfer(a.ID, b.ID, 1, usd), Now: t0}, // everything is held
			journal.PostHold{HoldID: holdID, EntryID: entryID, Amount: 10_00, Now: t0},
			journal.VoidHold{HoldID: voided, Now: t0},
			journal.Reverse{EntryID: entryID, Now: t0},
			journal.Reverse{EntryID: entryID, Now: t0}, // at most once
		}
		done := make(chan struct{})
		var errs []error
		go func() { defer close(done); _, errs = eng.SubmitAll(context.Background(), ops) }()
		waitQueued(t, eng, len(ops))
		startEngine(t, eng)
		<-done
		if len(batches) != 1 {
			t.Fatalf("batches %v, want 1", batches)
		}
		for i, err := range errs {
			switch i {
			case 2:
				wantCode(t, err, ledger.CodeInsufficientFunds)
			case 6:
				wantCode(t, err, ledger.CodeEntryReversed)
			default:
				if err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
			}
		}
		if got := e.balance(a.ID, usd); got.Posted != 50_00 || got.Held != 0 {
			t.Errorf("a = %+v, want 50.00 and nothing held (posted 10, reversed)", got)
		}
		if got := e.balance(b.ID, usd); got.Posted != 0 {
			t.Errorf("b = %+v", got)
		}
		e.verify()
	})
}

// TestReverseOnce asks for the same reversal from 16 goroutines spread over
// two engines (replicas): exactly one succeeds.
func TestReverseOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		e.start()
		other := journal.New(db, journal.Options{})
		startEngine(t, other)
		dep := e.mustPost(transfer(ext.ID, a.ID, 10_00, usd))

		var ok, again atomic.Int64
		var wg sync.WaitGroup
		for g := range 16 {
			eng := e.eng
			if g%2 == 1 {
				eng = other
			}
			wg.Go(func() {
				_, err := eng.Submit(context.Background(), journal.Reverse{EntryID: dep.EntryID, Now: t0})
				switch {
				case err == nil:
					ok.Add(1)
				case fault.Is(err, ledger.CodeEntryReversed):
					again.Add(1)
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || again.Load() != 15 {
			t.Fatalf("%d reversals, %d refused; want 1 and 15", ok.Load(), again.Load())
		}
		if got := e.balance(a.ID, usd).Posted; got != 0 {
			t.Errorf("a = %d after reversal", got)
		}
		if n := e.count(`SELECT count(*) FROM entries WHERE reversal_of = ?`, dep.EntryID); n != 1 {
			t.Errorf("%d reversal entries", n)
		}
		// Reversing the reversal, or something unknown, is refused.
		var rev string
		must(t, db.Read(context.Background(), func(tx *store.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT id FROM entries WHERE reversal_of = ?`, dep.EntryID).Scan(&rev)
		}))
		_, err := e.eng.Submit(context.Background(), journal.Reverse{EntryID: rev, Now: t0})
		wantCode(t, err, ledger.CodeEntryIsReversal)
		_, err = e.eng.Submit(context.Background(), journal.Reverse{EntryID: "ent_missing", Now: t0})
		wantCode(t, err, journal.CodeEntryNotFound)
		e.verify()
	})
}

// TestClaimsAndRows queues operations that carry claims and extra rows in
// one batch: a taken claim (existing row, or claimed twice in the batch)
// refuses its operation alone; an operation refused by planning leaves no
// claim; a conflicting extra row fails its operation alone; accepted
// operations write their rows.
func TestClaimsAndRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		_, err := db.SQL().ExecContext(ctx, `CREATE TABLE test_claims (key TEXT PRIMARY KEY, note TEXT NOT NULL)`)
		must(t, err)
		_, err = db.SQL().ExecContext(ctx, `INSERT INTO test_claims (key, note) VALUES ('taken', 'before')`)
		must(t, err)
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 10_00, usd))

		claim := func(key string) []journal.Row {
			return []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{key, "claim"}}}
		}
		row := func(key string) []journal.Row {
			return []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{key, "row"}}}
		}
		pay := func(units int64, claims, rows []journal.Row) journal.Op {
			return journal.Post{Entry: transfer(a.ID, b.ID, units, usd), Now: t0, Claims: claims, Rows: rows}
		}
		run := func(ops []journal.Op) []error {
			eng := journal.New(db, journal.Options{})
			var batches []int
			eng.SetBeforeBatch(func(n int) { batches = append(batches, n) })
			done := make(chan struct{})
			var errs []error
			go func() { defer close(done); _, errs = eng.SubmitAll(ctx, ops) }()
			waitQueued(t, eng, len(ops))
			startEngine(t, eng)
			<-done
			if len(batches) != 1 {
				t.Fatalf("batches %v, want 1", batches)
			}
			return errs
		}

		errs := run([]journal.Op{
			pay(1_00, claim("k1"), row("r1")), // ok
			pay(1_00, claim("taken"), nil),    // claim taken by an earlier row
			pay(1_00, claim("k2"), row("r2")), // ok
			pay(1_00, claim("k1"), nil),       // k1 claimed earlier in this batch
			pay(99_00, claim("k3"), nil),      // refused by planning: k3 must stay free
			pay(1_00, claim("k4"), row("r1")), // its extra row conflicts: fails alone
			pay(1_00, nil, nil),               // ok
			pay(1_00, claim("k3"), row("r3")), // k3 is free: ok
			pay(1_00, claim("k5"), []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"},
				Values: []any{"r5", nil}}}), // its extra row breaks NOT NULL after others in the statement: fails alone
		})
		for i, err := range errs {
			switch i {
			case 1, 3:
				fe := wantCode(t, err, journal.CodeClaimTaken)
				if fe.Extra["table"] != "test_claims" {
					t.Errorf("op %d extra %v", i, fe.Extra)
				}
			case 4:
				wantCode(t, err, ledger.CodeInsufficientFunds)
			case 5:
				wantCode(t, err, fault.Conflict)
			case 8:
				wantCode(t, err, fault.Internal)
			default:
				if err != nil {
					t.Errorf("op %d: %v", i, err)
				}
			}
		}
		if got := e.balance(a.ID, usd).Posted; got != 6_00 {
			t.Errorf("a = %d, want 6.00 (four payments of 1.00)", got)
		}
		keys := storetest.Column[string](t, db, `SELECT key FROM test_claims ORDER BY key`)
		if got, want := keys, []string{"k1", "k2", "k3", "r1", "r2", "r3", "taken"}; !equal(got, want) {
			t.Errorf("rows %v, want %v", got, want)
		}

		// Without any conflict the batch stays on the fast path. A row
		// value computed from the result records the resulting balance.
		before := e.eng.Stats().Careful
		balanceNote := journal.Row{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{"r9", journal.FromResult(func(r journal.Result) any {
			bal, _ := r.Balance(a.ID, usd)
			return fmt.Sprintf("entry %s left %d", r.EntryID, bal.Posted)
		})}}
		res, err := e.eng.Submit(ctx, pay(1_00, claim("k9"), []journal.Row{balanceNote}))
		must(t, err)
		if e.eng.Stats().Careful != before {
			t.Errorf("a conflict-free batch ran in careful mode")
		}
		var note string
		must(t, db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT note FROM test_claims WHERE key = 'r9'`).Scan(&note)
		}))
		if want := fmt.Sprintf("entry %s left %d", res.EntryID, 5_00); note != want {
			t.Errorf("computed row %q, want %q", note, want)
		}
		e.verify()
	})
}

// TestDuplicateEntryIDFailsAlone: a caller-assigned entry ID that already
// exists fails only its own operation.
func TestDuplicateEntryIDFailsAlone(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		e.start()
		first := e.mustPost(transfer(ext.ID, a.ID, 1_00, usd))
		dup := transfer(ext.ID, a.ID, 2_00, usd)
		dup.ID = first.EntryID
		_, errs := e.eng.SubmitAll(context.Background(), []journal.Op{
			journal.Post{Entry: transfer(ext.ID, a.ID, 4_00, usd), Now: t0},
			journal.Post{Entry: dup, Now: t0},
			journal.Post{Entry: transfer(ext.ID, a.ID, 8_00, usd), Now: t0},
		})
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("good ops failed: %v", errs)
		}
		wantCode(t, errs[1], fault.Conflict)
		if got := e.balance(a.ID, usd).Posted; got != 13_00 {
			t.Errorf("a = %d, want 13.00", got)
		}
		e.verify()
	})
}

// TestCancelWhileQueued: a caller whose context ends while its operation is
// still queued gets ErrWithdrawn, and the operation is never written.
func TestCancelWhileQueued(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		// The engine is not running yet: the operation waits in the queue.
		ctx, cancel := context.WithCancel(context.Background())
		entry := withID(transfer(ext.ID, a.ID, 5_00, usd), t0)
		errc := make(chan error, 1)
		go func() {
			_, err := e.eng.Submit(ctx, journal.Post{Entry: entry, Now: t0})
			errc <- err
		}()
		waitQueued(t, e.eng, 1)
		cancel()
		err := <-errc
		if !errors.Is(err, journal.ErrWithdrawn) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrWithdrawn and context.Canceled", err)
		}
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 1, usd)) // the writer has passed the withdrawn op
		if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, entry.ID); n != 0 {
			t.Errorf("withdrawn entry was written")
		}
		if st := e.eng.Stats(); st.Withdrawn != 1 || st.Committed != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestCancelWhileInBatch: once the writer has taken the operation, a
// cancelled caller still gets the real outcome — here, success — so a
// committed operation is never reported lost and never retried blindly.
func TestCancelWhileInBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		ctx, cancel := context.WithCancel(context.Background())
		// The writer cancels the caller's context after taking the batch,
		// before the transaction.
		e.eng.SetBeforeBatch(func(int) { cancel() })
		e.start()
		res, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 5_00, usd), Now: t0})
		if err != nil {
			t.Fatalf("err = %v, want the committed result", err)
		}
		if ctx.Err() == nil {
			t.Fatal("the context was not cancelled during the batch")
		}
		if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, res.EntryID); n != 1 {
			t.Errorf("entry %s rows: %d", res.EntryID, n)
		}
	})
}

// TestStopDrains stops the engine under load: every acknowledged operation
// is in the database, every failed one is not, and later submissions get
// ErrStopped.
func TestStopDrains(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{MaxBatch: 8})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan error, 1)
		go func() { stopped <- e.eng.Run(ctx) }()

		const callers = 64
		var wg sync.WaitGroup
		var mu sync.Mutex
		acked, failed := map[string]bool{}, map[string]bool{}
		var started sync.WaitGroup
		started.Add(callers)
		for i := range callers {
			wg.Go(func() {
				entry := withID(transfer(ext.ID, a.ID, int64(i+1), usd), t0)
				started.Done()
				_, err := e.eng.Submit(context.Background(), journal.Post{Entry: entry, Now: t0})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					acked[entry.ID] = true
				case errors.Is(err, journal.ErrStopped):
					failed[entry.ID] = true
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		started.Wait()
		cancel()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if len(acked)+len(failed) != callers {
			t.Fatalf("%d acked + %d failed != %d", len(acked), len(failed), callers)
		}
		for id := range acked {
			if e.count(`SELECT count(*) FROM entries WHERE id = ?`, id) != 1 {
				t.Errorf("acknowledged %s missing", id)
			}
		}
		for id := range failed {
			if e.count(`SELECT count(*) FROM entries WHERE id = ?`, id) != 0 {
				t.Errorf("failed %s was written", id)
			}
		}
		_, err := e.post(transfer(ext.ID, a.ID, 1, usd))
		if !errors.Is(err, journal.ErrStopped) {
			t.Errorf("after stop: %v, want ErrStopped", err)
		}
		e.verify()
	})
}

// TestRefusals covers refusals that never reach the database and those that
// need it: unbalanced and malformed operations, unknown and frozen accounts,
// the wrong currency, credit limits.
func TestRefusals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		credit := e.open(ledger.KindCredit, usd, 50_00)
		euro := e.open(ledger.KindChecking, eur, 0)
		frozen := e.open(ledger.KindChecking, usd, 0)
		_, err := db.SQL().ExecContext(ctx, db.Rebind(`UPDATE accounts SET status = 'frozen' WHERE id = ?`), frozen.ID)
		must(t, err)
		e.start()
		unbalanced := ledger.Entry{Postings: []ledger.Posting{
			{Account: ext.ID, Amount: money.New(-5, usd)}, {Account: a.ID, Amount: money.New(4, usd)}}}
		_, err = e.post(unbalanced)
		wantCode(t, err, ledger.CodeUnbalancedEntry)
		_, err = e.post(transfer(ext.ID, "acct_missing", 5, usd))
		wantCode(t, err, ledger.CodeAccountNotFound)
		_, err = e.post(transfer(ext.ID, frozen.ID, 5, usd))
		wantCode(t, err, ledger.CodeAccountFrozen)
		_, err = e.post(transfer(ext.ID, euro.ID, 5, usd))
		wantCode(t, err, money.CodeCurrencyMismatch)
		_, err = e.post(transfer(credit.ID, a.ID, 50_00, usd))
		must(t, err)
		_, err = e.post(transfer(credit.ID, a.ID, 1, usd))
		wantCode(t, err, ledger.CodeCreditLimitExceeded)
		_, err = e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 5, usd)})
		wantCode(t, err, journal.CodeInvalidOp) // no Now
		_, err = e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 5, usd), Now: t0,
			Rows: []journal.Row{{Table: "x; DROP TABLE accounts", Columns: []string{"a"}, Values: []any{1}}}})
		wantCode(t, err, journal.CodeInvalidOp)
		if n := e.count(`SELECT count(*) FROM entries`); n != 1 {
			t.Errorf("%d entries, want only the credit draw", n)
		}
		e.verify()
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
