package journal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// benchAccounts is how many funded checking accounts the transfers pick
// from at random.
const benchAccounts = 1000

// BenchmarkEngineTransfers measures durable 2-posting transfers between
// random accounts through the engine, with 1 submitter (the latency floor:
// one fsync'd commit per transfer) and 32 concurrent submitters (group
// commit). It reports transfers/s and per-transfer latency percentiles.
func BenchmarkEngineTransfers(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			db := storetest.Open(b, engine)
			e := newEnv(b, db, journal.Options{})
			ids := bulkAccounts(b, db, benchAccounts)
			e.start()
			ext := e.system(ledger.KindExternal, usd)
			fund := make([]journal.Op, len(ids))
			for i, a := range ids {
				fund[i] = journal.Post{Entry: transfer(ext.ID, a, 1_000_000_00, usd), Now: t0}
			}
			if _, errs := e.eng.SubmitAll(context.Background(), fund); firstErr(errs) != nil {
				b.Fatal(firstErr(errs))
			}
			for _, submitters := range []int{1, 32} {
				b.Run(fmt.Sprintf("submitters=%d", submitters), func(b *testing.B) {
					benchTransfers(b, e.eng, ids, submitters, plainTransfer)
				})
			}
		})
	}
}

// plainTransfer is the operation of BenchmarkEngineTransfers: a bare entry
// at the fixed time t0. Every entry ID is then a ULID of the same
// millisecond with a random tail, so entries and postings land at random
// places of their ID indexes, a worst case next to production, whose IDs
// follow the clock.
func plainTransfer(from, to string, units int64, _ int64) journal.Op {
	return journal.Post{Entry: transfer(from, to, units, usd), Kind: "transfer", Now: t0}
}

// BenchmarkEngineTransfersWithRows is BenchmarkEngineTransfers with the
// operation shaped like the transfer service's (internal/transfer): the
// time is the real clock (IDs follow it, as in production), and each
// transfer claims an idempotency key and writes, in the same batch, the
// stored response (computed from the result) and an audit event. The
// transfer service's own transfers row is left out (its table belongs to
// that package).
func BenchmarkEngineTransfersWithRows(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			db := storetest.Open(b, engine)
			e := newEnv(b, db, journal.Options{})
			ids := bulkAccounts(b, db, benchAccounts)
			e.start()
			ext := e.system(ledger.KindExternal, usd)
			fund := make([]journal.Op, len(ids))
			for i, a := range ids {
				fund[i] = journal.Post{Entry: transfer(ext.ID, a, 1_000_000_00, usd), Now: t0}
			}
			if _, errs := e.eng.SubmitAll(context.Background(), fund); firstErr(errs) != nil {
				b.Fatal(firstErr(errs))
			}
			b.Run("submitters=32", func(b *testing.B) {
				benchTransfers(b, e.eng, ids, 32, rowsTransfer)
			})
		})
	}
}

var (
	claimColumns = []string{"scope", "key", "request_hash", "resource_id", "created_at", "expires_at", "status", "body"}
	auditColumns = []string{"id", "at", "actor_kind", "actor_id", "action", "target_type", "target_id", "request_id", "ip", "details"}
)

func rowsTransfer(from, to string, units int64, _ int64) journal.Op {
	now := time.Now().UTC()
	at := store.Micros(now)
	scope, key := from, id.New("idem", now)
	trf := id.New("trf", now)
	return journal.Post{
		Entry: transfer(from, to, units, usd), Kind: "transfer", Now: now,
		Claims: []journal.Row{{Table: "idempotency_keys", Columns: claimColumns,
			Values: []any{scope, key, "4f1c0e6a9d2b7c3e5f8a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a", trf, at, at + 86_400_000_000, 201,
				journal.FromResult(func(r journal.Result) any {
					return fmt.Sprintf(`{"id":%q,"entry_id":%q,"balance_after":%d}`, trf, r.EntryID, r.Balances[0].Posted)
				})}}},
		Rows: []journal.Row{
			{Table: "audit_events", Columns: auditColumns, Values: []any{id.New("aud", now), at, "user", scope,
				"transfer.create", "transfer", trf, "req-bench", "127.0.0.1",
				fmt.Sprintf(`{"amount":%d,"currency":"USD","from_account_id":%q,"to_account_id":%q}`, units, from, to)}},
		},
	}
}

// benchTransfers runs b.N transfers between random accounts from
// submitters goroutines; op builds transfer n.
func benchTransfers(b *testing.B, eng *journal.Engine, ids []string, submitters int, op func(from, to string, units, n int64) journal.Op) {
	before := eng.Stats()
	var next atomic.Int64
	lat := make([][]time.Duration, submitters)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range submitters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), uint64(b.N)))
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					break
				}
				i := rng.IntN(len(ids))
				j := (i + 1 + rng.IntN(len(ids)-1)) % len(ids)
				t := time.Now()
				_, err := eng.Submit(context.Background(), op(ids[i], ids[j], 1+rng.Int64N(100), n))
				lat[g] = append(lat[g], time.Since(t))
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p int) time.Duration { return all[min(len(all)-1, len(all)*p/100)] }
	after := eng.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "transfers/s")
	b.ReportMetric(float64(pct(50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(99).Microseconds())/1000, "p99-ms")
	if n := after.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(after.Ops-before.Ops)/float64(n), "ops/batch")
	}
}

// bulkAccounts creates n users with one checking account each in one
// transaction (setup only; accounts.Open is tested elsewhere).
func bulkAccounts(b *testing.B, db *store.DB, n int) []string {
	b.Helper()
	ids := make([]string, n)
	ctx := context.Background()
	err := db.Write(ctx, func(tx *store.Tx) error {
		for i := range ids {
			uid, aid := id.New("usr", t0), id.New("acct", t0)
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, roles, password_changed_at, created_at, updated_at)
				VALUES (?, ?, 'Bench', 'x', 'customer', 0, 0, 0)`, uid, fmt.Sprintf("bench%d@example.com", i)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO accounts (id, owner_user_id, kind, name, currency, created_at) VALUES (?, ?, 'checking', 'Bench', 'USD', 0)`, aid, uid); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO balances (account_id, asset, posted, held) VALUES (?, 'USD', 0, 0)`, aid); err != nil {
				return err
			}
			ids[i] = aid
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
