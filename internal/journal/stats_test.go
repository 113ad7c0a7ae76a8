package journal_test

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// Stats say where the answered operations spent their time: an operation
// queued before the writer runs counts its wait as queueing, a held start
// of its batch as collecting, a held WAL fsync (SQLite) as durable; every
// operation taken into a batch is answered and timed once.
func TestStatsTimeTheStages(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const held = 30 * time.Millisecond
		var holdBatch, holdSync atomic.Bool
		db.SetFsync(func(f *os.File) error {
			if holdSync.Load() {
				time.Sleep(held)
			}
			return f.Sync()
		})
		e := newEnv(t, db, journal.Options{})
		e.eng.SetBeforeBatch(func(int) {
			if holdBatch.Load() {
				time.Sleep(held)
			}
		})
		ext := e.system(ledger.KindExternal, usd)
		a := e.open(ledger.KindChecking, usd, 0)
		b := e.open(ledger.KindChecking, usd, 0)

		errc := make(chan error, 1)
		go func() {
			_, err := e.post(transfer(ext.ID, a.ID, 100_00, usd))
			errc <- err
		}()
		waitQueued(t, e.eng, 1)
		time.Sleep(held)
		e.start()
		must(t, <-errc)
		st := e.eng.Stats()
		if st.Answered != 1 || st.Queueing < held {
			t.Errorf("after one operation queued for %v: answered %d, queueing %v", held, st.Answered, st.Queueing)
		}
		if st.Busy <= 0 || st.Executing < st.Busy {
			t.Errorf("busy %v, executing %v: want 0 < busy <= executing", st.Busy, st.Executing)
		}

		holdBatch.Store(true)
		e.mustPost(transfer(a.ID, b.ID, 1_00, usd))
		holdBatch.Store(false)
		next := e.eng.Stats()
		if d := next.Collecting - st.Collecting; d < held {
			t.Errorf("collecting %v for a batch held %v before its transaction", d, held)
		}
		st = next

		if db.Dialect() == store.SQLite {
			wal := db.WALStats()
			holdSync.Store(true)
			e.mustPost(transfer(a.ID, b.ID, 1_00, usd))
			holdSync.Store(false)
			next = e.eng.Stats()
			if d := next.Durable - st.Durable; d < held {
				t.Errorf("durable %v for a commit whose fsync took %v", d, held)
			}
			if w := db.WALStats(); w.Fsyncs <= wal.Fsyncs || w.FsyncTime-wal.FsyncTime < held {
				t.Errorf("WAL fsyncs %d → %d, time %v → %v", wal.Fsyncs, w.Fsyncs, wal.FsyncTime, w.FsyncTime)
			}
		}

		// Concurrent operations, some refused: each answered once.
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				if i%3 == 0 {
					_, _ = e.post(transfer(b.ID, a.ID, 1_000_00, usd)) // more than b holds: refused
					return
				}
				e.mustPost(transfer(a.ID, b.ID, 1, usd))
			})
		}
		wg.Wait()
		st = e.eng.Stats()
		if st.Answered != st.Ops || st.Answered != st.Committed+st.Refused+st.Failed {
			t.Errorf("answered %d, taken %d, committed %d + refused %d + failed %d", st.Answered, st.Ops,
				st.Committed, st.Refused, st.Failed)
		}
		committed := int64(2 + 20) // the funding, the held batch, the concurrent ones
		if db.Dialect() == store.SQLite {
			committed++ // the held fsync
		}
		if st.Refused != 10 || st.Committed != committed {
			t.Errorf("committed %d, refused %d; want %d and 10", st.Committed, st.Refused, committed)
		}
	})
}
