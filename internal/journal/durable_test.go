package journal_test

import (
	"errors"
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

// On SQLite the engine commits a batch and runs the next one while the WAL
// is fsynced, but answers a batch's callers only once the fsync that
// covers it has succeeded; a failed fsync leaves them with an outcome
// unknown, never a success.
func TestAnswersWaitForDurability(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	e := newEnv(t, db, journal.Options{})
	ext := e.system(ledger.KindExternal, usd)
	a := e.open(ledger.KindChecking, usd, 0)
	e.start()

	type held struct{ release chan error }
	calls := make(chan held, 16)
	var (
		holding atomic.Bool
		mu      sync.Mutex
		all     []held
	)
	db.SetFsync(func(f *os.File) error {
		if !holding.Load() {
			return f.Sync()
		}
		h := held{make(chan error, 1)}
		mu.Lock()
		all = append(all, h)
		mu.Unlock()
		calls <- h
		return <-h.release
	})
	holding.Store(true)
	t.Cleanup(func() { // registered after the engine's: runs before it stops
		holding.Store(false)
		mu.Lock()
		defer mu.Unlock()
		for _, h := range all {
			select {
			case h.release <- nil:
			default: // already answered
			}
		}
	})

	var released atomic.Bool
	done := make(chan error, 1)
	go func() {
		_, err := e.post(transfer(ext.ID, a.ID, 5_00, usd))
		if err == nil && !released.Load() {
			err = errors.New("Submit returned before its batch was durable")
		}
		done <- err
	}()
	h := <-calls // the batch committed; its fsync is held
	// Give a wrong answer the time to arrive: a correct engine sends none
	// however long this is, so it cannot make the test flaky.
	select {
	case err := <-done:
		t.Fatalf("answered while the fsync was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	released.Store(true)
	h.release <- nil
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A failed fsync: the caller hears that the outcome is unknown.
	go func() {
		_, err := e.post(transfer(ext.ID, a.ID, 1_00, usd))
		done <- err
	}()
	h = <-calls
	h.release <- errors.New("EIO")
	if err := <-done; !errors.Is(err, journal.ErrOutcomeUnknown) || !errors.Is(err, store.ErrNotDurable) {
		t.Fatalf("after a failed fsync: %v, want ErrOutcomeUnknown and store.ErrNotDurable", err)
	}
}
