package journal_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// chained returns engine options that seal audit events and number outbox
// events as the engine inserts them, as the server runs it.
func chained() journal.Options {
	return journal.Options{Chains: []journal.Chain{audit.NewLinker(), outbox.NewLinker()}}
}

// eventRows returns an audit and an outbox row describing operation name.
func eventRows(t testing.TB, name string) []journal.Row {
	t.Helper()
	_, av, err := audit.Row(audit.Event{At: t0, ActorKind: audit.ActorSystem, Action: "test.posted",
		TargetType: "test", TargetID: name, Details: map[string]any{"op": name}})
	must(t, err)
	_, ov, err := outbox.Row(outbox.Event{Aggregate: "test", AggregateID: name, Type: "test.posted", At: t0,
		Data: map[string]any{"op": name}})
	must(t, err)
	return []journal.Row{
		{Table: audit.Table, Columns: audit.Columns(), Values: av},
		{Table: outbox.Table, Columns: outbox.Columns(), Values: ov},
	}
}

// recordElsewhere records an audit and an outbox event the way code outside
// the engine does: unsealed and unsequenced, in a transaction of its own.
func recordElsewhere(ctx context.Context, db *store.DB, name string) error {
	return db.Write(ctx, func(tx *store.Tx) error {
		if _, err := audit.Record(ctx, tx, audit.Event{At: t0, ActorKind: audit.ActorSystem, Action: "test.elsewhere",
			TargetType: "test", TargetID: name}); err != nil {
			return err
		}
		_, err := outbox.Record(ctx, tx, outbox.Event{Aggregate: "test", AggregateID: name, Type: "test.elsewhere", At: t0})
		return err
	})
}

// chainState is what the chains hold: the test events' audit target IDs by
// seq (sealed) and unsealed, outbox aggregate IDs by seq and unsequenced,
// and the heads.
type chainState struct {
	sealed, unsealed       []string
	sequenced, unsequenced []string
	auditHead, outboxHead  int64
	outboxGaps             bool // the sequenced events are not exactly 1..n
}

func readChains(t testing.TB, db *store.DB) chainState {
	t.Helper()
	ctx := context.Background()
	var s chainState
	col := func(tx *store.Tx, q string, into *[]string) error {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return err
			}
			*into = append(*into, v)
		}
		return rows.Err()
	}
	must(t, db.Read(ctx, func(tx *store.Tx) error {
		for _, c := range []struct {
			q    string
			into *[]string
		}{
			{`SELECT target_id FROM audit_events WHERE seq IS NOT NULL AND target_type = 'test' ORDER BY seq`, &s.sealed},
			{`SELECT target_id FROM audit_events WHERE seq IS NULL AND target_type = 'test' ORDER BY pos`, &s.unsealed},
			{`SELECT aggregate_id FROM outbox_events WHERE seq IS NOT NULL ORDER BY seq`, &s.sequenced},
			{`SELECT aggregate_id FROM outbox_events WHERE seq IS NULL ORDER BY pos`, &s.unsequenced},
		} {
			if err := col(tx, c.q, c.into); err != nil {
				return err
			}
		}
		var n, top int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM outbox_events WHERE seq IS NOT NULL`).Scan(&n, &top); err != nil {
			return err
		}
		s.outboxGaps = n != top
		if err := tx.QueryRow(ctx, `SELECT seq FROM audit_head WHERE id = 1`).Scan(&s.auditHead); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT seq FROM outbox_head WHERE id = 1`).Scan(&s.outboxHead)
	}))
	return s
}

// sealSetup seals the audit events of the test's setup (opening accounts),
// so that the test's own events are all the workers find.
func sealSetup(t testing.TB, db *store.DB) {
	t.Helper()
	if _, err := audit.NewSealer(db, nil, time.Second).SealOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// chainedEnv starts a chained engine with two checking accounts, the first
// funded with units, and seals the setup's events.
func chainedEnv(t testing.TB, db *store.DB, units int64) (e *env, a, b ledger.Account) {
	t.Helper()
	e = newEnv(t, db, chained())
	ext := e.system(ledger.KindExternal, usd)
	a, b = e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
	e.start()
	e.mustPost(transfer(ext.ID, a.ID, units, usd))
	sealSetup(t, db)
	return e, a, b
}

// verifyAudit checks the audit chain and returns its report.
func verifyAudit(t testing.TB, db *store.DB) audit.Report {
	t.Helper()
	rep, err := audit.Verify(context.Background(), db, audit.Options{})
	if err != nil {
		t.Fatalf("audit verify: %v (report %+v)", err, rep)
	}
	return rep
}

// wantAllChained checks that the test's total events are all sealed, after
// the base seals of the setup, in an intact chain, and all numbered 1 …
// total in the outbox; it returns what the chains hold.
func wantAllChained(t testing.TB, db *store.DB, base int64, total int) chainState {
	t.Helper()
	n := int64(total)
	s := readChains(t, db)
	if len(s.sealed) != total || len(s.unsealed) != 0 || s.auditHead != base+n {
		t.Errorf("audit: %d sealed, %d unsealed, head %d; want %d, 0, %d", len(s.sealed), len(s.unsealed), s.auditHead, total, base+n)
	}
	if len(s.sequenced) != total || len(s.unsequenced) != 0 || s.outboxHead != n || s.outboxGaps {
		t.Errorf("outbox: %d sequenced, %d unsequenced, head %d, gaps %v; want %d, 0, %d, none",
			len(s.sequenced), len(s.unsequenced), s.outboxHead, s.outboxGaps, total, total)
	}
	if rep := verifyAudit(t, db); rep.Verified != base+n || rep.Unsealed != 0 {
		t.Errorf("verify: %+v, want %d verified", rep, base+n)
	}
	return s
}

// TestChainsNumberEventsAsInserted runs one batch that goes to careful mode
// (a taken claim) and one that does not, with events recorded elsewhere
// and sealed by the workers before: the engine's events are sealed and
// numbered in queue order, right after what the workers did, and a refused
// operation's events take no place in either sequence, even when they were
// linked before its own write failed.
func TestChainsNumberEventsAsInserted(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		_, err := db.SQL().ExecContext(ctx, `CREATE TABLE test_claims (key TEXT PRIMARY KEY, note TEXT NOT NULL)`)
		must(t, err)
		e := newEnv(t, db, chained())
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		sealSetup(t, db)
		base := readChains(t, db).auditHead

		for _, name := range []string{"w1", "w2"} {
			must(t, recordElsewhere(ctx, db, name))
		}
		sealer := audit.NewSealer(db, nil, time.Second)
		events := outbox.NewDispatcher(db, nil, outbox.Options{})
		if n, err := sealer.SealOnce(ctx); err != nil || n != 2 {
			t.Fatalf("seal: %d, %v", n, err)
		}
		if n, err := events.SequenceOnce(ctx); err != nil || n != 2 {
			t.Fatalf("sequence: %d, %v", n, err)
		}
		must(t, recordElsewhere(ctx, db, "w3")) // left for the workers

		claim := func(key string) []journal.Row {
			return []journal.Row{{Table: "test_claims", Columns: []string{"key", "note"}, Values: []any{key, "claim"}}}
		}
		pay := func(name string, units int64, claims []journal.Row, extra ...journal.Row) journal.Op {
			return journal.Post{Entry: transfer(a.ID, b.ID, units, usd), Now: t0, Claims: claims,
				Rows: append(eventRows(t, name), extra...)}
		}
		run := func(ops []journal.Op) []error {
			eng := journal.New(db, chained())
			done := make(chan struct{})
			var errs []error
			go func() { defer close(done); _, errs = eng.SubmitAll(ctx, ops) }()
			waitQueued(t, eng, len(ops))
			startEngine(t, eng)
			<-done
			return errs
		}
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 10_00, usd))

		errs := run([]journal.Op{
			pay("o1", 1_00, claim("k1")),
			pay("o2", 1_00, claim("k1")),  // claim taken in this batch: careful mode, refused
			pay("o3", 99_00, claim("k3")), // refused by planning
			pay("o4", 1_00, claim("k4"), journal.Row{Table: "test_claims", Columns: []string{"key", "note"},
				Values: []any{"k1", "row"}}), // its events are linked, then its own row conflicts
			pay("o5", 1_00, nil),
		})
		for i, err := range errs {
			switch i {
			case 1:
				wantCode(t, err, journal.CodeClaimTaken)
			case 2:
				wantCode(t, err, ledger.CodeInsufficientFunds)
			case 3:
				wantCode(t, err, fault.Conflict)
			default:
				if err != nil {
					t.Errorf("op %d: %v", i, err)
				}
			}
		}
		// A batch without a refusal: the fast path (one pipeline on
		// PostgreSQL).
		for i, err := range run([]journal.Op{pay("o6", 1_00, nil), pay("o7", 1_00, nil), pay("o8", 1_00, nil)}) {
			if err != nil {
				t.Errorf("second batch op %d: %v", i, err)
			}
		}

		s := readChains(t, db)
		if s.outboxGaps {
			t.Error("outbox sequence has gaps")
		}
		want := []string{"w1", "w2", "o1", "o5", "o6", "o7", "o8"}
		if !slices.Equal(s.sealed, want) || !slices.Equal(s.unsealed, []string{"w3"}) || s.auditHead != base+int64(len(want)) {
			t.Errorf("audit: sealed %v, unsealed %v, head %d; want %v, [w3], %d", s.sealed, s.unsealed, s.auditHead, want, base+int64(len(want)))
		}
		if !slices.Equal(s.sequenced, want) || !slices.Equal(s.unsequenced, []string{"w3"}) || s.outboxHead != int64(len(want)) {
			t.Errorf("outbox: sequenced %v, unsequenced %v, head %d; want %v, [w3], %d", s.sequenced, s.unsequenced, s.outboxHead, want, len(want))
		}
		if rep := verifyAudit(t, db); rep.Verified != base+int64(len(want)) || rep.Unsealed != 1 {
			t.Errorf("verify: %+v", rep)
		}
		// The workers carry on from the engine's heads.
		if n, err := sealer.SealOnce(ctx); err != nil || n != 1 {
			t.Fatalf("seal after the engine: %d, %v", n, err)
		}
		if n, err := events.SequenceOnce(ctx); err != nil || n != 1 {
			t.Fatalf("sequence after the engine: %d, %v", n, err)
		}
		if rep := verifyAudit(t, db); rep.Verified != base+int64(len(want))+1 || rep.Unsealed != 0 {
			t.Errorf("verify after the sealer: %+v", rep)
		}
		if s := readChains(t, db); s.outboxHead != int64(len(want))+1 || len(s.unsequenced) != 0 || s.outboxGaps {
			t.Errorf("outbox after the sequencer: %+v", s)
		}
	})
}

// TestChainsTakeTurnsWithTheWorkers runs the engine's chained batches while
// other transactions record events and the sealer and the sequencer work
// all the time: every event ends up in one intact chain and one gapless
// sequence, and neither worker ever finds a head it cannot extend.
func TestChainsTakeTurnsWithTheWorkers(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e, a, b := chainedEnv(t, db, 1_000_00)
		base := readChains(t, db).auditHead

		const submitters, perSubmitter, elsewhere = 8, 25, 60
		sealer := audit.NewSealer(db, nil, time.Second)
		events := outbox.NewDispatcher(db, nil, outbox.Options{})
		stop := make(chan struct{})
		var workers sync.WaitGroup
		var workErr error
		var mu sync.Mutex
		fail := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			workErr = errors.Join(workErr, err)
		}
		workers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := sealer.SealOnce(ctx); err != nil {
					fail(err)
				}
				if _, err := events.SequenceOnce(ctx); err != nil {
					fail(err)
				}
			}
		})
		workers.Go(func() {
			for i := range elsewhere {
				if err := recordElsewhere(ctx, db, fmt.Sprintf("w%d", i)); err != nil {
					fail(err)
				}
			}
		})
		var subs sync.WaitGroup
		for s := range submitters {
			subs.Go(func() {
				for i := range perSubmitter {
					name := fmt.Sprintf("s%d-%d", s, i)
					_, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(a.ID, b.ID, 1, usd), Now: t0, Rows: eventRows(t, name)})
					if err != nil {
						fail(fmt.Errorf("%s: %w", name, err))
					}
				}
			})
		}
		subs.Wait()
		close(stop)
		workers.Wait()
		if workErr != nil {
			t.Fatal(workErr)
		}
		if _, err := sealer.SealOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := events.SequenceOnce(ctx); err != nil {
			t.Fatal(err)
		}
		s := wantAllChained(t, db, base, submitters*perSubmitter+elsewhere)
		// The engine gives an operation's two events the same place among
		// the engine's events in both orders (the workers, each in its own
		// transactions, may interleave the others differently).
		engineOnly := func(names []string) []string {
			return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n[0] != 's' })
		}
		if !slices.Equal(engineOnly(s.sealed), engineOnly(s.sequenced)) {
			t.Error("the audit chain and the outbox sequence order the engine's events differently")
		}
		if got := e.balance(b.ID, usd).Posted; got != submitters*perSubmitter {
			t.Errorf("b = %d, want %d", got, submitters*perSubmitter)
		}
	})
}

// TestChainsAcrossTwoEngines runs two chained engines on one database, as
// two replicas would, each moving money both ways between accounts of its
// own (where only the heads' locks make them take turns) and between
// accounts they share: every operation commits (the heads are locked after
// the balances, so the engines queue instead of deadlocking, and a retried
// batch numbers its events afresh), and the events form one intact chain
// and one gapless sequence.
func TestChainsAcrossTwoEngines(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e, a, b := chainedEnv(t, db, 1_000_00)
		ext := e.system(ledger.KindExternal, usd)
		own := [2][2]ledger.Account{}
		for k := range own {
			own[k] = [2]ledger.Account{e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)}
			for _, acct := range own[k] {
				e.mustPost(transfer(ext.ID, acct.ID, 1_000_00, usd))
			}
		}
		e.mustPost(transfer(ext.ID, b.ID, 1_000_00, usd))
		sealSetup(t, db)
		base := readChains(t, db).auditHead
		other := journal.New(db, chained())
		startEngine(t, other)

		const perEngine, submitters = 60, 4
		var wg sync.WaitGroup
		errs := make(chan error, 2*perEngine)
		for k, eng := range []*journal.Engine{e.eng, other} {
			for s := range submitters {
				wg.Go(func() {
					for i := range perEngine / submitters {
						name := fmt.Sprintf("e%d-%d-%d", k, s, i)
						from, to := a.ID, b.ID
						if s%2 == 1 {
							from, to = own[k][0].ID, own[k][1].ID
						}
						if i%2 == 1 {
							from, to = to, from
						}
						if _, err := eng.Submit(ctx, journal.Post{Entry: transfer(from, to, 1, usd), Now: t0, Rows: eventRows(t, name)}); err != nil {
							errs <- fmt.Errorf("%s: %w", name, err)
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		wantAllChained(t, db, base, 2*perEngine)
		for _, pair := range [][2]ledger.Account{{a, b}, own[0], own[1]} {
			if got := e.balance(pair[0].ID, usd).Posted + e.balance(pair[1].ID, usd).Posted; got != 2_000_00 {
				t.Errorf("%s + %s = %d, want 2,000.00", pair[0].ID, pair[1].ID, got)
			}
		}
		e.verify()
	})
}

// TestChainsLeaveEventsToTheWorkersOnABadHead tampers with both heads: the
// engine still commits its operations, leaving their events unsealed and
// unsequenced, and the workers refuse to build on the heads and say so.
func TestChainsLeaveEventsToTheWorkersOnABadHead(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e, a, b := chainedEnv(t, db, 10_00)
		post := func(name string) {
			t.Helper()
			if _, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(a.ID, b.ID, 1, usd), Now: t0, Rows: eventRows(t, name)}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		post("o1")
		must(t, db.Write(ctx, func(tx *store.Tx) error {
			// The audit head claims one more event than the chain has; an
			// outbox event past the head appears.
			if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE outbox_events SET seq = seq + 5`)
			return err
		}))
		post("o2")
		s := readChains(t, db)
		if !slices.Equal(s.unsealed, []string{"o2"}) || !slices.Equal(s.unsequenced, []string{"o2"}) {
			t.Errorf("unsealed %v, unsequenced %v; want [o2] each", s.unsealed, s.unsequenced)
		}
		if _, err := audit.NewSealer(db, nil, time.Second).SealOnce(ctx); !errors.Is(err, audit.ErrHeadMismatch) {
			t.Errorf("seal: %v, want ErrHeadMismatch", err)
		}
		if _, err := outbox.NewDispatcher(db, nil, outbox.Options{}).SequenceOnce(ctx); !errors.Is(err, outbox.ErrSequence) {
			t.Errorf("sequence: %v, want ErrSequence", err)
		}
		if got := e.balance(b.ID, usd).Posted; got != 2 {
			t.Errorf("b = %d, want 2: both operations committed", got)
		}
	})
}
