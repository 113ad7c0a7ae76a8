package audit_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// BenchmarkRecord measures what auditing adds to a business write.
//
//   - commit/…: one op is one durable transaction that inserts a row into a
//     small domain-like table, without and with an audit.Record of a typical
//     event; parallel_… runs the same from 4×GOMAXPROCS goroutines.
//   - in_tx/…: one op is the same insert (and Record) inside transactions of
//     benchOpsPerTx ops, so the commit is amortized and the difference between
//     the two is the marginal cost of Record itself.
func BenchmarkRecord(b *testing.B) {
	const benchOpsPerTx = 100
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, engine)
			exec(b, db, `CREATE TABLE bench_business (id TEXT PRIMARY KEY, amount BIGINT NOT NULL, at BIGINT NOT NULL)`)
			var n atomic.Int64
			op := func(tx *store.Tx, withAudit bool) error {
				i := n.Add(1)
				e := event(int(i))
				if _, err := tx.Exec(ctx, `INSERT INTO bench_business (id, amount, at) VALUES (?, ?, ?)`,
					fmt.Sprintf("biz_%d", i), i, store.Micros(e.At)); err != nil {
					return err
				}
				if !withAudit {
					return nil
				}
				_, err := audit.Record(ctx, tx, e)
				return err
			}
			for _, withAudit := range []bool{false, true} {
				name := "without_audit"
				if withAudit {
					name = "with_audit"
				}
				b.Run("commit/"+name, func(b *testing.B) {
					for b.Loop() {
						if err := db.Write(ctx, func(tx *store.Tx) error { return op(tx, withAudit) }); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run("commit/parallel_"+name, func(b *testing.B) {
					b.SetParallelism(4)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := db.Write(ctx, func(tx *store.Tx) error { return op(tx, withAudit) }); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
				b.Run("in_tx/"+name, func(b *testing.B) {
					for done := 0; done < b.N; done += benchOpsPerTx {
						err := db.Write(ctx, func(tx *store.Tx) error {
							for range min(benchOpsPerTx, b.N-done) {
								if err := op(tx, withAudit); err != nil {
									return err
								}
							}
							return nil
						})
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkSeal measures the sealer: one op is one event sealed (hashed,
// linked and written), with events recorded beforehand outside the timer.
func BenchmarkSeal(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, engine)
			s := newSealer(db)
			b.StopTimer()
			const perTx = 1000
			for done := 0; done < b.N; done += perTx {
				err := db.Write(ctx, func(tx *store.Tx) error {
					for i := range min(perTx, b.N-done) {
						if _, err := audit.Record(ctx, tx, event(done+i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			sealed := 0
			for sealed < b.N {
				n, err := s.SealOnce(ctx)
				if err != nil || n == 0 {
					b.Fatalf("seal: %d, %v", n, err)
				}
				sealed += n
			}
		})
	}
}

// BenchmarkVerify measures a full verification of chains of 100,000 and
// 1,000,000 sealed events (seeded in bulk outside the timer, hashed the way
// the sealer does); one op is one whole verification, and the log line gives
// the fastest and the median run in events per second, and the CPU time
// this process spent (on PostgreSQL the server's CPU comes on top).
func BenchmarkVerify(b *testing.B) {
	for _, engine := range storetest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.Open(b, engine)
			seeded := 0
			for _, size := range []int{100_000, 1_000_000} {
				if err := audit.SeedSealed(ctx, db, size-seeded); err != nil {
					b.Fatal(err)
				}
				seeded = size
				b.Run(fmt.Sprintf("events=%d", size), func(b *testing.B) {
					var runs, cpu []time.Duration
					for b.Loop() {
						start, cpu0 := time.Now(), processCPU()
						rep, err := audit.Verify(ctx, db, audit.Options{})
						if err != nil || rep.Verified != int64(size) {
							b.Fatalf("verify: %+v, %v", rep, err)
						}
						runs = append(runs, time.Since(start))
						cpu = append(cpu, processCPU()-cpu0)
					}
					slices.Sort(runs)
					slices.Sort(cpu)
					best, median := runs[0], runs[len(runs)/2]
					b.Logf("%d events: wall min %s (%d events/s), median %s (%d events/s); CPU of this process min %s, median %s; %d runs", size,
						best.Round(time.Millisecond), int64(size)*int64(time.Second)/int64(best),
						median.Round(time.Millisecond), int64(size)*int64(time.Second)/int64(median),
						cpu[0].Round(time.Millisecond), cpu[len(cpu)/2].Round(time.Millisecond), len(runs))
				})
			}
		})
	}
}
