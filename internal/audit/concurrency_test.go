package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// Writers on two "replicas" (two pools on one database) record events in
// parallel transactions while a sealer on each replica seals concurrently.
// Afterwards the chain is intact and contiguous, holds every committed event
// exactly once and nothing else, and events of one transaction keep their
// order.
func TestConcurrentWritersAndSealers(t *testing.T) {
	t.Parallel()
	for _, engine := range storetest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := storetest.URL(t, engine)
			open := func() *store.DB {
				db, err := store.Open(ctx, url, store.Options{MaxConns: 8, TxMaxAttempts: 50})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				return db
			}
			replicas := []*store.DB{open(), open()}
			if _, err := replicas[0].MigrateUp(ctx); err != nil {
				t.Fatal(err)
			}

			const writers, txPerWriter = 8, 30
			var (
				mu        sync.Mutex
				committed [][]string // IDs per committed transaction, in Record order
				kick      = make(chan struct{}, 1)
				done      = make(chan struct{})
				sealers   sync.WaitGroup
				sealErrs  = make(chan error, len(replicas))
			)
			for _, db := range replicas {
				sealers.Go(func() {
					s := newSealer(db)
					for {
						select {
						case <-done:
							return
						case <-kick:
						}
						if _, err := s.SealOnce(ctx); err != nil {
							sealErrs <- err
							return
						}
					}
				})
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				db := replicas[w%len(replicas)]
				wg.Go(func() {
					for i := range txPerWriter {
						var ids []string
						err := db.Write(ctx, func(tx *store.Tx) error {
							ids = ids[:0]
							for k := range (w+i)%3 + 1 {
								e := event(w*1000 + i*10 + k)
								e.TargetID = fmt.Sprintf("w%d-t%d-e%d", w, i, k)
								id, err := audit.Record(ctx, tx, e)
								if err != nil {
									return err
								}
								ids = append(ids, id)
							}
							return nil
						})
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						committed = append(committed, append([]string(nil), ids...))
						mu.Unlock()
						select {
						case kick <- struct{}{}:
						default:
						}
					}
				})
			}
			wg.Wait()
			close(done)
			sealers.Wait()
			close(errs)
			close(sealErrs)
			for err := range errs {
				t.Fatalf("writer: %v", err)
			}
			for err := range sealErrs {
				t.Fatalf("sealer: %v", err)
			}
			seal(t, replicas[1]) // whatever the last kicks left

			want := 0
			for _, ids := range committed {
				want += len(ids)
			}
			rep := verifyOK(t, replicas[0])
			if rep.Verified != int64(want) || rep.Unsealed != 0 || rep.Head.Seq != int64(want) {
				t.Fatalf("verified %d (unsealed %d, head %d), want %d committed events", rep.Verified, rep.Unsealed, rep.Head.Seq, want)
			}
			seqOf := map[string]int64{}
			err := replicas[0].Read(ctx, func(tx *store.Tx) error {
				rows, err := tx.Query(ctx, `SELECT id, seq FROM audit_events`)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id string
					var seq int64
					if err := rows.Scan(&id, &seq); err != nil {
						return err
					}
					if _, dup := seqOf[id]; dup {
						t.Errorf("event %s stored twice", id)
					}
					seqOf[id] = seq
				}
				return rows.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seqOf) != want {
				t.Fatalf("%d events stored, %d committed", len(seqOf), want)
			}
			for _, ids := range committed {
				for k, id := range ids {
					seq, ok := seqOf[id]
					if !ok {
						t.Fatalf("committed event %s is not in the chain", id)
					}
					if k > 0 && seq <= seqOf[ids[k-1]] {
						t.Fatalf("events of one transaction out of order: %s at %d after %s at %d", id, seq, ids[k-1], seqOf[ids[k-1]])
					}
				}
			}
		})
	}
}
