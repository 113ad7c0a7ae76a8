package journal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

var day = t0.Add(24 * time.Hour) // the counters' default expiry

func ctr(key string, delta, max int64) journal.Counter {
	return journal.Counter{Key: key, Delta: delta, Max: max, ExpiresAt: day}
}

// counter reads a stored counter; ok is false when it has no row.
func (e *env) counter(key string) (value int64, ok bool) {
	e.t.Helper()
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT value FROM ledger_counters WHERE key = ?`, key).Scan(&value)
		if store.IsNotFound(err) {
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return value, ok
}

func (e *env) wantCounter(key string, want int64) {
	e.t.Helper()
	if got, ok := e.counter(key); !ok || got != want {
		e.t.Errorf("counter %s = %d (row: %v), want %d", key, got, ok, want)
	}
}

// TestCounters: a ceiling exactly reached is allowed and one unit over is
// refused with the counter's figures; a release lowers the total but never
// below zero; an operation refused (by its counter or by the ledger) counts
// nothing and writes nothing, not even a row for a new counter; counters
// ride on hold operations too.
func TestCounters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 1000_00, usd))
		pay := func(units int64, counters ...journal.Counter) (journal.Result, error) {
			return e.eng.Submit(ctx, journal.Post{Entry: transfer(a.ID, b.ID, units, usd), Now: t0, Counters: counters})
		}

		_, err := pay(1, ctr("day", 60, 100))
		must(t, err)
		_, err = pay(1, ctr("day", 40, 100)) // exactly at the ceiling
		must(t, err)
		e.wantCounter("day", 100)
		over := withID(transfer(a.ID, b.ID, 1, usd), t0)
		_, err = e.eng.Submit(ctx, journal.Post{Entry: over, Now: t0, Counters: []journal.Counter{ctr("day", 1, 100)}})
		fe := wantCode(t, err, journal.CodeLimitExceeded)
		if fe.Extra["counter"] != "day" || fe.Extra["limit"] != int64(100) || fe.Extra["used"] != int64(100) || fe.Extra["requested"] != int64(1) {
			t.Errorf("refusal extra %v", fe.Extra)
		}
		if n := e.count(`SELECT count(*) FROM entries WHERE id = ?`, over.ID); n != 0 {
			t.Errorf("the refused operation's entry was written")
		}
		if got := e.balance(a.ID, usd).Posted; got != 1000_00-2 {
			t.Errorf("a = %d, want 2 units paid", got)
		}
		e.wantCounter("day", 100)

		// Releases: down by the delta, but never below zero.
		_, err = pay(1, ctr("day", -30, 100))
		must(t, err)
		e.wantCounter("day", 70)
		_, err = pay(1, ctr("day", 30, 100))
		must(t, err)
		e.wantCounter("day", 100)
		_, err = pay(1, ctr("day", -500, 100))
		must(t, err)
		e.wantCounter("day", 0)
		_, err = pay(1, ctr("unseen", -5, 100)) // a release of a counter without a row
		must(t, err)
		e.wantCounter("unseen", 0)
		_, err = pay(1, ctr("open", 1<<40, 0)) // no ceiling
		must(t, err)
		e.wantCounter("open", 1<<40)

		// A refusal by the ledger, or by a later counter of the same
		// operation, counts nothing, and leaves no row for a new counter.
		_, err = pay(5000_00, ctr("fresh", 1, 100), ctr("day", 1, 100))
		wantCode(t, err, ledger.CodeInsufficientFunds)
		_, err = pay(1, ctr("fresh", 1, 100), ctr("day", 101, 100))
		wantCode(t, err, journal.CodeLimitExceeded)
		if v, ok := e.counter("fresh"); ok {
			t.Errorf("a refused operation left counter fresh = %d", v)
		}
		e.wantCounter("day", 0)

		// Holds count when reserved and release when voided.
		r, err := e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: a.ID, Destination: b.ID, Amount: money.New(80, usd)},
			Now: t0, Counters: []journal.Counter{ctr("holds", 80, 100)}})
		must(t, err)
		_, err = e.eng.Submit(ctx, journal.Reserve{Hold: ledger.HoldRequest{Account: a.ID, Destination: b.ID, Amount: money.New(30, usd)},
			Now: t0, Counters: []journal.Counter{ctr("holds", 30, 100)}})
		wantCode(t, err, journal.CodeLimitExceeded)
		_, err = e.eng.Submit(ctx, journal.VoidHold{HoldID: r.Hold.ID, Now: t0, Counters: []journal.Counter{ctr("holds", -80, 0)}})
		must(t, err)
		e.wantCounter("holds", 0)
		if got := e.balance(a.ID, usd).Held; got != 0 {
			t.Errorf("held %d after the void", got)
		}
		e.verify()
	})
}

// TestCountersInOneBatch: within one batch the operations see each other's
// totals in queue order, including releases and a refusal that counted
// nothing; a counter named twice by one operation adds up.
func TestCountersInOneBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
		e.start()
		e.mustPost(transfer(ext.ID, a.ID, 100_00, usd))
		pay := func(units int64, counters ...journal.Counter) journal.Op {
			return journal.Post{Entry: transfer(a.ID, b.ID, units, usd), Now: t0, Counters: counters}
		}
		_, errs, _ := oneBatch(t, db, e.reg, []journal.Op{
			pay(1, ctr("k", 50, 100)),                      // 0: 50
			pay(1, ctr("k", 60, 100)),                      // 1: refused, used 50
			pay(1, ctr("k", 50, 100)),                      // 2: 100
			pay(1, ctr("k", 1, 100)),                       // 3: refused, used 100
			pay(1, ctr("k", -30, 100)),                     // 4: 70
			pay(200_00, ctr("k", 1, 100)),                  // 5: refused by the ledger, counts nothing
			pay(1, ctr("other", 7, 0), ctr("k", 31, 100)),  // 6: refused, used 70; other not counted
			pay(1, ctr("k", 30, 100)),                      // 7: 100
			pay(1, ctr("twice", 5, 8), ctr("twice", 5, 8)), // 8: refused, used 5 on the second
			pay(1, ctr("twice", 4, 8), ctr("twice", 4, 8)), // 9: 8
		})
		used := map[int]int64{1: 50, 3: 100, 6: 70, 8: 5}
		for i, err := range errs {
			switch i {
			case 1, 3, 6, 8:
				fe := wantCode(t, err, journal.CodeLimitExceeded)
				if fe.Extra["used"] != used[i] {
					t.Errorf("op %d: used %v, want %d", i, fe.Extra["used"], used[i])
				}
			case 5:
				wantCode(t, err, ledger.CodeInsufficientFunds)
			default:
				if err != nil {
					t.Errorf("op %d: %v", i, err)
				}
			}
		}
		e.wantCounter("k", 100)
		e.wantCounter("twice", 8)
		if v, ok := e.counter("other"); ok {
			t.Errorf("counter other = %d, written by a refused operation", v)
		}
		if got := e.balance(a.ID, usd).Posted; got != 100_00-5 {
			t.Errorf("a = %d, want 5 units paid (ops 0, 2, 4, 7 and 9)", got)
		}
		e.verify()
	})
}

// replicas opens n handles on one fresh, migrated database of the engine:
// on PostgreSQL separate connection pools on the same schema (replicas),
// on SQLite the one handle (one writer connection per database file).
func replicas(t *testing.T, engine store.Dialect, n int) []*store.DB {
	t.Helper()
	if engine == store.SQLite {
		db := storetest.Open(t, engine)
		out := make([]*store.DB, n)
		for i := range out {
			out[i] = db
		}
		return out
	}
	u := storetest.URL(t, engine)
	out := make([]*store.DB, n)
	for i := range out {
		db, err := store.Open(context.Background(), u, store.Options{MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if _, err := db.MigrateUp(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = db
	}
	return out
}

// TestCounterCeilingConcurrent: 100 concurrent operations of 10 against a
// ceiling of 100, spread over two engines (on PostgreSQL on two connection
// pools, as two replicas): exactly 10 succeed and the total is 100. Each
// round uses a new counter, so that the two replicas also race to create
// its row; each engine moves money between accounts of its own, so that
// its batches and the other's meet on the counter alone.
func TestCounterCeilingConcurrent(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			dbs := replicas(t, engine, 2)
			e := newEnv(t, dbs[0], journal.Options{})
			ext := e.system(ledger.KindExternal, usd)
			var from, to [2]string
			for i := range 2 {
				from[i], to[i] = e.open(ledger.KindChecking, usd, 0).ID, e.open(ledger.KindChecking, usd, 0).ID
			}
			e.start()
			other := journal.New(dbs[1], journal.Options{Assets: func() *money.Registry { return e.reg }})
			startEngine(t, other)
			for i := range 2 {
				e.mustPost(transfer(ext.ID, from[i], 1_000, usd))
				e.mustPost(transfer(ext.ID, to[i], 1, usd)) // the balance rows exist
			}
			const (
				rounds  = 4
				callers = 100
			)
			for round := range rounds {
				key := fmt.Sprintf("round%d", round)
				var ok, over atomic.Int64
				var wg sync.WaitGroup
				for g := range callers {
					eng := e.eng
					if g%2 == 1 {
						eng = other
					}
					wg.Go(func() {
						_, err := eng.Submit(context.Background(), journal.Post{Entry: transfer(from[g%2], to[g%2], 1, usd), Now: t0,
							Counters: []journal.Counter{ctr(key, 10, 100)}})
						switch {
						case err == nil:
							ok.Add(1)
						case fault.Is(err, journal.CodeLimitExceeded):
							over.Add(1)
						default:
							t.Errorf("unexpected: %v", err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != 10 || over.Load() != callers-10 {
					t.Errorf("round %d: %d succeeded, %d over the limit; want 10 and %d", round, ok.Load(), over.Load(), callers-10)
				}
				e.wantCounter(key, 100)
			}
			if got := e.balance(to[0], usd).Posted + e.balance(to[1], usd).Posted; got != 2+rounds*10 {
				t.Errorf("received %d, want %d", got, 2+rounds*10)
			}
		})
	}
}

// TestCountersTwoReplicas runs operations that each count up four to eight
// of twelve shared counters, named in random order, from 24 goroutines over
// two engines (on PostgreSQL two replicas on separate pools): every counter
// ends at exactly the sum of the accepted operations' deltas, never above
// its ceiling, and no batch deadlocked (none was retried, no operation
// failed). Each engine moves money among accounts of its own, so that its
// batches and the other's meet on the counters alone.
func TestCountersTwoReplicas(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			const (
				goroutines = 24
				perG       = 40
				keys       = 12
				ceiling    = 6_000
			)
			dbs := replicas(t, engine, 2)
			e := newEnv(t, dbs[0], journal.Options{MaxBatch: 16})
			ext := e.system(ledger.KindExternal, usd)
			var ids []string
			for range 6 {
				ids = append(ids, e.open(ledger.KindChecking, usd, 0).ID)
			}
			e.start()
			other := journal.New(dbs[1], journal.Options{MaxBatch: 16, Assets: func() *money.Registry { return e.reg }})
			startEngine(t, other)
			for _, id := range ids { // every balance row exists: no batch creates one
				e.mustPost(transfer(ext.ID, id, 1_000_00, usd))
			}
			var mu sync.Mutex
			var sums [keys]int64
			var committed, refused atomic.Int64
			var wg sync.WaitGroup
			for g := range goroutines {
				eng := e.eng
				if g%2 == 1 {
					eng = other
				}
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(g), 5))
					for range perG {
						mine := ids[g%2*3 : g%2*3+3]
						from := rng.IntN(len(mine))
						to := (from + 1 + rng.IntN(len(mine)-1)) % len(mine)
						perm := rng.Perm(keys)[:4+rng.IntN(journal.MaxCountersPerOp-3)]
						deltas := make([]int64, len(perm))
						var cs []journal.Counter
						for i, k := range perm {
							deltas[i] = 1 + rng.Int64N(40)
							cs = append(cs, ctr(fmt.Sprintf("shared%d", k), deltas[i], ceiling))
						}
						_, err := eng.Submit(context.Background(), journal.Post{Entry: transfer(mine[from], mine[to], 1, usd), Now: t0, Counters: cs})
						switch {
						case err == nil:
							committed.Add(1)
							mu.Lock()
							for i, k := range perm {
								sums[k] += deltas[i]
							}
							mu.Unlock()
						case fault.Is(err, journal.CodeLimitExceeded):
							refused.Add(1)
						default:
							t.Errorf("unexpected: %v", err)
						}
					}
				})
			}
			wg.Wait()
			t.Logf("%d committed, %d refused; engines %+v / %+v", committed.Load(), refused.Load(), e.eng.Stats(), other.Stats())
			if refused.Load() == 0 {
				t.Errorf("no operation reached a ceiling: the test is too tame")
			}
			for k, sum := range sums {
				key := fmt.Sprintf("shared%d", k)
				got, _ := e.counter(key)
				if got != sum || got > ceiling {
					t.Errorf("counter %s = %d, accepted deltas sum to %d, ceiling %d", key, got, sum, ceiling)
				}
			}
			for _, st := range []journal.Stats{e.eng.Stats(), other.Stats()} {
				if st.Retried != 0 || st.Careful != 0 || st.Failed != 0 {
					t.Errorf("engine %+v: batches retried, run op by op or failed", st)
				}
			}
			e.verify()
		})
	}
}

// TestSweepCounters: SweepCounters deletes exactly the counters whose
// expiry has come; a row keeps the latest expiry any operation gave it.
func TestSweepCounters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		ctx := context.Background()
		e := newEnv(t, db, journal.Options{})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		e.start()
		count := func(key string, expires time.Time) {
			t.Helper()
			_, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 1, usd), Now: t0,
				Counters: []journal.Counter{{Key: key, Delta: 1, ExpiresAt: expires}}})
			must(t, err)
		}
		h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
		count("a", h(1))
		count("b", h(2))
		count("c", h(1))
		count("c", h(3)) // extended
		count("d", h(3))
		count("d", h(1)) // not shortened
		sweep := func(now time.Time, want int, left ...string) {
			t.Helper()
			n, err := e.eng.SweepCounters(ctx, now)
			must(t, err)
			if n != want {
				t.Errorf("sweep at %v: %d deleted, want %d", now, n, want)
			}
			if got := e.count(`SELECT count(*) FROM ledger_counters`); got != len(left) {
				t.Errorf("sweep at %v: %d counters left, want %v", now, got, left)
			}
			for _, k := range left {
				if _, ok := e.counter(k); !ok {
					t.Errorf("sweep at %v deleted %s", now, k)
				}
			}
		}
		sweep(h(1).Add(-time.Microsecond), 0, "a", "b", "c", "d")
		sweep(h(1), 1, "b", "c", "d")
		sweep(h(2), 1, "c", "d")
		sweep(h(3), 2)
		sweep(h(4), 0)
	})
}

// TestCounterLockOrder (PostgreSQL) checks the global lock order directly:
// while a batch waits for a counter row another transaction holds, it
// already holds its balance rows (balances come first) and no counter row
// that sorts after the one it waits for (counters come in key order, not
// in the order the operation names them).
func TestCounterLockOrder(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	e := newEnv(t, db, journal.Options{})
	ext := e.system(ledger.KindExternal, usd)
	a, b := e.open(ledger.KindChecking, usd, 0), e.open(ledger.KindChecking, usd, 0)
	e.start()
	_, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(ext.ID, a.ID, 10_00, usd), Now: t0,
		Counters: []journal.Counter{ctr("k1", 1, 0), ctr("k2", 1, 0)}})
	must(t, err)

	holder, err := db.SQL().BeginTx(ctx, nil)
	must(t, err)
	t.Cleanup(func() { _ = holder.Rollback() })
	_, err = holder.ExecContext(ctx, `SELECT value FROM ledger_counters WHERE key = 'k1' FOR UPDATE`)
	must(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := e.eng.Submit(ctx, journal.Post{Entry: transfer(a.ID, b.ID, 1_00, usd), Now: t0,
			Counters: []journal.Counter{ctr("k2", 1, 0), ctr("k1", 1, 0)}}) // named against key order
		errc <- err
	}()
	waitLockWait(t, db, "ledger_counters")
	// k2 sorts after k1, which the batch waits for: it must not hold k2.
	if _, err := holder.ExecContext(ctx, `SELECT value FROM ledger_counters WHERE key = 'k2' FOR UPDATE NOWAIT`); err != nil {
		t.Errorf("k2 is locked while the batch waits for k1: %v", err)
	}
	// The batch's balances are locked before its counters.
	probe, err := db.SQL().BeginTx(ctx, nil)
	must(t, err)
	_, err = probe.ExecContext(ctx, db.Rebind(`SELECT posted FROM balances WHERE account_id = ? FOR UPDATE NOWAIT`), a.ID)
	if err == nil {
		t.Errorf("the batch waits for a counter without holding its balance")
	}
	_ = probe.Rollback()
	must(t, holder.Rollback())
	must(t, <-errc)
	e.wantCounter("k1", 2)
	e.wantCounter("k2", 2)
}
