package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// t0 is the tests' clock: events happen at t0 plus some hours.
var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// waitLimit bounds every wait for a condition. It is generous on purpose
// (shared, slow machines); no test asserts how fast anything happens.
const waitLimit = 2 * time.Minute

var (
	errRollback = errors.New("roll back")
	errPanic    = errors.New("make the handler panic") // returned by a collector's fail
)

func ev(aggID, typ string, hours int, data any) outbox.Event {
	return outbox.Event{Aggregate: "transfer", AggregateID: aggID, Type: typ, At: t0.Add(time.Duration(hours) * time.Hour), Data: data}
}

// record commits one transaction that records events and returns their IDs.
func record(t *testing.T, db *store.DB, events ...outbox.Event) []string {
	t.Helper()
	ids, err := recordErr(db, events...)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func recordErr(db *store.DB, events ...outbox.Event) ([]string, error) {
	var ids []string
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		ids = ids[:0]
		for _, e := range events {
			id, err := outbox.Record(context.Background(), tx, e)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// collector records what a subscriber's handler was given. fail, when set,
// decides per attempt (1, 2, …) whether to fail (or, given errPanic, panic).
type collector struct {
	mu       sync.Mutex
	attempts []outbox.Delivery // every call, in order
	acked    []outbox.Delivery // calls that returned nil
	tries    map[int64]int
	fail     func(d outbox.Delivery, attempt int) error // nil: never
}

func (c *collector) handle(_ context.Context, d outbox.Delivery) error {
	c.mu.Lock()
	if c.tries == nil {
		c.tries = map[int64]int{}
	}
	c.tries[d.Seq]++
	attempt := c.tries[d.Seq]
	c.attempts = append(c.attempts, d)
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		if err := fail(d, attempt); err != nil {
			if errors.Is(err, errPanic) {
				panic("handler bug")
			}
			return err
		}
	}
	c.mu.Lock()
	c.acked = append(c.acked, d)
	c.mu.Unlock()
	return nil
}

func (c *collector) ackedSeqs() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int64, len(c.acked))
	for i, d := range c.acked {
		out[i] = d.Seq
	}
	return out
}

func (c *collector) attemptSeqs() []int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]int64, len(c.attempts))
	for i, d := range c.attempts {
		out[i] = d.Seq
	}
	return out
}

func (c *collector) ackedIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.acked))
	for i, d := range c.acked {
		out[i] = d.ID
	}
	return out
}

// fast are options that keep retries short, so tests finish quickly.
func fast() outbox.Options {
	return outbox.Options{PollInterval: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond}
}

// start runs d until the returned stop is called (or the test ends); stop
// waits for Run to return.
func start(t *testing.T, d *outbox.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually waits until cond holds, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cursorOf(t *testing.T, db *store.DB, name string) (int64, bool) {
	t.Helper()
	cs, err := outbox.Cursors(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Subscriber == name {
			return c.Seq, true
		}
	}
	return 0, false
}

func waitCursor(t *testing.T, db *store.DB, name string, seq int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("cursor %s at %d", name, seq), func() bool {
		got, _ := cursorOf(t, db, name)
		return got == seq
	})
}

func seqs(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestRowValidatesAndCanonicalizes(t *testing.T) {
	t.Parallel()
	type payload struct {
		Zeta  int    `json:"zeta"`
		Alpha string `json:"alpha"`
	}
	ok := []struct {
		name string
		data any
		want string
	}{
		{"nil data", nil, `{}`},
		{"map", map[string]any{"b": 1, "a": "<x>"}, `{"a":"<x>","b":1}`},
		{"struct", payload{Zeta: 2, Alpha: "é"}, `{"alpha":"é","zeta":2}`},
		{"raw keeps numbers", json.RawMessage(`{"z": 1.50, "a": [1, 2], "n": 12345678901234567890}`), `{"a":[1,2],"n":12345678901234567890,"z":1.50}`},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			e := ev("trf_1", "transfer.created", 0, tc.data)
			id, vals, err := outbox.Row(e)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(id, outbox.IDPrefix+"_") {
				t.Errorf("id %q lacks the prefix", id)
			}
			cols := outbox.Columns()
			if len(vals) != len(cols) {
				t.Fatalf("%d values for %d columns", len(vals), len(cols))
			}
			got := map[string]any{}
			for i, c := range cols {
				got[c] = vals[i]
			}
			if got["id"] != id || got["data"] != tc.want || got["type"] != "transfer.created" ||
				got["aggregate"] != "transfer" || got["aggregate_id"] != "trf_1" || got["at"] != store.Micros(e.At) {
				t.Errorf("row %v, want data %s", got, tc.want)
			}
		})
	}

	big := map[string]string{"x": strings.Repeat("a", outbox.MaxDataBytes)}
	bad := []struct {
		name string
		mod  func(*outbox.Event)
	}{
		{"no aggregate", func(e *outbox.Event) { e.Aggregate = "" }},
		{"upper-case aggregate", func(e *outbox.Event) { e.Aggregate = "Transfer" }},
		{"no aggregate ID", func(e *outbox.Event) { e.AggregateID = "" }},
		{"control character in aggregate ID", func(e *outbox.Event) { e.AggregateID = "trf\n1" }},
		{"overlong aggregate ID", func(e *outbox.Event) { e.AggregateID = strings.Repeat("x", outbox.MaxAggregateIDLen+1) }},
		{"one-word type", func(e *outbox.Event) { e.Type = "created" }},
		{"upper-case type", func(e *outbox.Event) { e.Type = "transfer.Created" }},
		{"empty type segment", func(e *outbox.Event) { e.Type = "transfer..created" }},
		{"overlong type", func(e *outbox.Event) { e.Type = "transfer." + strings.Repeat("x", outbox.MaxTypeLen) }},
		{"zero time", func(e *outbox.Event) { e.At = time.Time{} }},
		{"year 10000", func(e *outbox.Event) { e.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"array data", func(e *outbox.Event) { e.Data = []int{1} }},
		{"string data", func(e *outbox.Event) { e.Data = "x" }},
		{"null raw data", func(e *outbox.Event) { e.Data = json.RawMessage(`null`) }},
		{"unmarshalable data", func(e *outbox.Event) { e.Data = map[string]any{"f": func() {}} }},
		{"oversize data", func(e *outbox.Event) { e.Data = big }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			e := ev("trf_1", "transfer.created", 0, nil)
			tc.mod(&e)
			if _, _, err := outbox.Row(e); !errors.Is(err, outbox.ErrInvalidEvent) {
				t.Fatalf("Row: err=%v, want ErrInvalidEvent", err)
			}
		})
	}
}

func TestCommittedEventsDeliveredInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var want []outbox.Event
		var wantIDs []string
		commit := func(events ...outbox.Event) {
			wantIDs = append(wantIDs, record(t, db, events...)...)
			want = append(want, events...)
		}
		rollback := func(events ...outbox.Event) {
			_ = db.Write(ctx, func(tx *store.Tx) error {
				for _, e := range events {
					if _, err := outbox.Record(ctx, tx, e); err != nil {
						t.Fatal(err)
					}
				}
				return errRollback
			})
		}
		// insertRow inserts through Table, Columns and Row, the way the
		// posting engine does, and commits or rolls back.
		insertRow := func(e outbox.Event, keep bool) {
			cols := outbox.Columns()
			q := "INSERT INTO " + outbox.Table + " (" + strings.Join(cols, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
			var eventID string
			err := db.Write(ctx, func(tx *store.Tx) error {
				id, vals, err := outbox.Row(e)
				if err != nil {
					return err
				}
				eventID = id
				if _, err := tx.Exec(ctx, q, vals...); err != nil {
					return err
				}
				if !keep {
					return errRollback
				}
				return nil
			})
			if keep {
				if err != nil {
					t.Fatal(err)
				}
				wantIDs = append(wantIDs, eventID)
				want = append(want, e)
			}
		}

		commit(ev("trf_a", "transfer.created", 1, map[string]any{"amount": 100}),
			ev("trf_a", "transfer.approved", 2, nil))
		rollback(ev("trf_b", "transfer.created", 3, nil))
		insertRow(ev("trf_a", "transfer.executed", 4, map[string]any{"entry": "ent_1"}), true)
		insertRow(ev("trf_c", "transfer.created", 5, nil), false)
		rollback(ev("trf_d", "transfer.created", 6, nil), ev("trf_d", "transfer.rejected", 7, nil))
		commit(ev("trf_e", "transfer.created", 8, map[string]any{"memo": "rent & <food>"}))

		var c collector
		d := outbox.NewDispatcher(db, nil, fast())
		d.Subscribe("live", c.handle)
		stop := start(t, d)
		eventually(t, "4 deliveries", func() bool { return len(c.ackedSeqs()) >= 4 })
		waitCursor(t, db, "live", 4)
		stop()

		if got := c.ackedSeqs(); !slices.Equal(got, seqs(1, 4)) {
			t.Fatalf("delivered seqs %v, want 1..4 once each", got)
		}
		if got := c.ackedIDs(); !slices.Equal(got, wantIDs) {
			t.Fatalf("delivered IDs %v, want the committed %v", got, wantIDs)
		}
		wantData := []string{`{"amount":100}`, `{}`, `{"entry":"ent_1"}`, `{"memo":"rent & <food>"}`}
		for i, dv := range c.acked {
			w, data := want[i], wantData[i]
			if dv.Event.Aggregate != w.Aggregate || dv.Event.AggregateID != w.AggregateID || dv.Event.Type != w.Type ||
				!dv.Event.At.Equal(w.At) || string(dv.Data) != data || string(dv.Event.Data.(json.RawMessage)) != data {
				t.Errorf("delivery %d = %+v (data %s), want %+v (data %s)", i, dv.Event, dv.Data, w, data)
			}
		}
		// The rolled-back events are not waiting somewhere either.
		if n, err := d.SequenceOnce(ctx); err != nil || n != 0 {
			t.Fatalf("SequenceOnce after delivery = %d, %v; want 0", n, err)
		}
		if h, err := outbox.Head(ctx, db); err != nil || h != 4 {
			t.Fatalf("head = %d, %v; want 4", h, err)
		}
	})
}

// TestConcurrentWriters writes events from many goroutines in parallel
// transactions, some rolled back, while two dispatchers (two "replicas",
// both sequencing) deliver them. Every committed event must reach both
// subscribers exactly once (nothing fails, so nothing is redelivered), in
// the same gapless total order, and in write order per aggregate.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const writers, txPerWriter = 8, 25
		var a, b collector
		d1 := outbox.NewDispatcher(db, nil, fast())
		d1.Subscribe("a", a.handle)
		d2 := outbox.NewDispatcher(db, nil, fast())
		d2.Subscribe("b", b.handle)
		stop1, stop2 := start(t, d1), start(t, d2)

		var (
			mu        sync.Mutex
			committed = map[string]bool{}
			wg        sync.WaitGroup
			errs      = make(chan error, writers)
		)
		for w := range writers {
			wg.Go(func() {
				agg := fmt.Sprintf("trf_%d", w)
				n := 0 // the next per-aggregate number; only committed ones count
				for i := range txPerWriter {
					events := []outbox.Event{
						ev(agg, "transfer.updated", i, map[string]int{"w": w, "n": n}),
						ev(agg, "transfer.updated", i, map[string]int{"w": w, "n": n + 1}),
					}
					keep := i%5 != 4
					var ids []string
					err := db.Write(context.Background(), func(tx *store.Tx) error {
						ids = ids[:0]
						for _, e := range events {
							id, err := outbox.Record(context.Background(), tx, e)
							if err != nil {
								return err
							}
							ids = append(ids, id)
						}
						if !keep {
							return errRollback
						}
						return nil
					})
					if keep && err != nil {
						errs <- err
						return
					}
					if keep {
						n += 2
						mu.Lock()
						for _, id := range ids {
							committed[id] = true
						}
						mu.Unlock()
						if i%2 == 0 {
							d1.Wake()
						} else {
							d2.Wake()
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		total := int64(len(committed))
		if total != writers*txPerWriter*4/5*2 {
			t.Fatalf("%d committed events, want %d", total, writers*txPerWriter*4/5*2)
		}
		waitCursor(t, db, "a", total)
		waitCursor(t, db, "b", total)
		stop1()
		stop2()

		if !slices.Equal(a.ackedIDs(), b.ackedIDs()) {
			t.Fatal("the two subscribers saw different orders")
		}
		if got := a.ackedSeqs(); !slices.Equal(got, seqs(1, total)) {
			t.Fatalf("delivered seqs %v, want 1..%d once each", got, total)
		}
		next := map[string]int{}
		seen := map[string]bool{}
		for _, dv := range a.acked {
			if !committed[dv.ID] || seen[dv.ID] {
				t.Fatalf("delivered %s: committed=%v, already seen=%v", dv.ID, committed[dv.ID], seen[dv.ID])
			}
			seen[dv.ID] = true
			var p struct{ W, N int }
			if err := json.Unmarshal(dv.Data, &p); err != nil {
				t.Fatal(err)
			}
			if p.N != next[dv.Event.AggregateID] {
				t.Fatalf("aggregate %s: event n=%d at seq %d, want n=%d (out of order)", dv.Event.AggregateID, p.N, dv.Seq, next[dv.Event.AggregateID])
			}
			next[dv.Event.AggregateID]++
		}
	})
}

// TestLateCommitIsNotSkipped has a transaction insert an event first and
// commit last (PostgreSQL lets them interleave; SQLite has one writer). The
// event with the smaller insertion key must still be delivered, after the
// one already delivered.
func TestLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite has one writer: transactions cannot interleave")
		}
		ctx := context.Background()
		var c collector
		d := outbox.NewDispatcher(db, nil, fast())
		d.Subscribe("live", c.handle)
		start(t, d)

		inserted, release := make(chan string, 1), make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- db.Write(ctx, func(tx *store.Tx) error {
				id, err := outbox.Record(ctx, tx, ev("trf_slow", "transfer.created", 1, nil))
				if err != nil {
					return err
				}
				inserted <- id
				<-release
				return nil
			})
		}()
		slowID := <-inserted
		fastID := record(t, db, ev("trf_fast", "transfer.created", 2, nil))[0]
		d.Wake()
		eventually(t, "the early commit delivered", func() bool { return len(c.ackedSeqs()) == 1 })
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		d.Wake()
		waitCursor(t, db, "live", 2)
		if got := c.ackedIDs(); !slices.Equal(got, []string{fastID, slowID}) {
			t.Fatalf("delivered %v, want [%s %s]", got, fastID, slowID)
		}
	})
}

func TestFailingHandlerBlocksItsSubscriberUntilItSucceeds(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := collector{fail: func(d outbox.Delivery, attempt int) error {
			if d.Seq != 2 {
				return nil
			}
			switch attempt {
			case 1, 2:
				return errors.New("webhook endpoint down")
			case 3:
				return errPanic
			}
			return nil
		}}
		record(t, db, ev("trf_1", "transfer.created", 1, nil), ev("trf_1", "transfer.approved", 2, nil),
			ev("trf_1", "transfer.executed", 3, nil))
		record(t, db, ev("trf_2", "transfer.created", 4, nil), ev("trf_2", "transfer.expired", 5, nil))
		d := outbox.NewDispatcher(db, nil, fast())
		d.Subscribe("hooks", c.handle)
		stop := start(t, d)
		waitCursor(t, db, "hooks", 5)
		stop()
		// Seq 2 failed twice and panicked once; nothing after it was
		// attempted before it succeeded, and nothing else was repeated.
		if got, want := c.attemptSeqs(), []int64{1, 2, 2, 2, 2, 3, 4, 5}; !slices.Equal(got, want) {
			t.Fatalf("attempts %v, want %v", got, want)
		}
		if got := c.ackedSeqs(); !slices.Equal(got, seqs(1, 5)) {
			t.Fatalf("acknowledged %v, want 1..5", got)
		}
	})
}

func TestSubscribersProgressIndependently(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var (
			mu      sync.Mutex
			healthy bool
		)
		stuck := collector{fail: func(outbox.Delivery, int) error {
			mu.Lock()
			defer mu.Unlock()
			if !healthy {
				return errors.New("down")
			}
			return nil
		}}
		var fine collector
		record(t, db, ev("trf_1", "transfer.created", 1, nil), ev("trf_1", "transfer.approved", 2, nil))
		record(t, db, ev("trf_1", "transfer.executed", 3, nil))
		d := outbox.NewDispatcher(db, nil, fast())
		d.Subscribe("stuck", stuck.handle)
		d.Subscribe("fine", fine.handle)
		start(t, d)

		waitCursor(t, db, "fine", 3)
		eventually(t, "a few failed attempts", func() bool { return len(stuck.attemptSeqs()) >= 3 })
		for _, s := range stuck.attemptSeqs() {
			if s != 1 {
				t.Fatalf("the failing subscriber was given seq %d before seq 1 succeeded", s)
			}
		}
		if got, _ := cursorOf(t, db, "stuck"); got != 0 {
			t.Fatalf("failing subscriber's cursor at %d, want 0", got)
		}
		if got := fine.ackedSeqs(); !slices.Equal(got, seqs(1, 3)) {
			t.Fatalf("healthy subscriber got %v, want 1..3", got)
		}

		mu.Lock()
		healthy = true
		mu.Unlock()
		waitCursor(t, db, "stuck", 3)
		if got := stuck.ackedSeqs(); !slices.Equal(got, seqs(1, 3)) {
			t.Fatalf("recovered subscriber got %v, want 1..3", got)
		}
	})
}

func TestRestartResumesAfterCursor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		first := record(t, db, ev("trf_1", "transfer.created", 1, nil), ev("trf_1", "transfer.approved", 2, nil),
			ev("trf_1", "transfer.executed", 3, nil))
		var c1 collector
		d1 := outbox.NewDispatcher(db, nil, fast())
		d1.Subscribe("live", c1.handle)
		stop := start(t, d1)
		waitCursor(t, db, "live", 3)
		stop()

		// Written while no dispatcher runs; sequenced by the next one.
		second := record(t, db, ev("trf_1", "transfer.reversed", 4, nil), ev("trf_2", "transfer.created", 5, nil))
		var c2 collector
		d2 := outbox.NewDispatcher(db, nil, fast())
		d2.Subscribe("live", c2.handle)
		start(t, d2)
		waitCursor(t, db, "live", 5)

		if got := c1.ackedIDs(); !slices.Equal(got, first) {
			t.Fatalf("first run delivered %v, want %v", got, first)
		}
		if got := c2.ackedIDs(); !slices.Equal(got, second) {
			t.Fatalf("second run delivered %v, want only the new %v", got, second)
		}
		if got := c2.ackedSeqs(); !slices.Equal(got, seqs(4, 5)) {
			t.Fatalf("second run delivered seqs %v, want 4..5", got)
		}
	})
}

// TestCursorInterval: with Options.CursorInterval a subscriber's cursor is
// written at most that often while it delivers, so a stop redelivers what
// was acknowledged since; a handler failure writes it at once; and a
// position left unwritten is written once the interval has passed, with no
// new event needed.
func TestCursorInterval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		record(t, db, ev("trf_1", "transfer.created", 1, nil), ev("trf_1", "transfer.approved", 2, nil),
			ev("trf_1", "transfer.executed", 3, nil), ev("trf_2", "transfer.created", 4, nil))
		opt := fast()
		opt.BatchSize = 1 // a round per event: without the interval, a write after each
		opt.CursorInterval = time.Hour
		var c1 collector
		d1 := outbox.NewDispatcher(db, nil, opt)
		d1.Subscribe("live", c1.handle)
		stop := start(t, d1)
		eventually(t, "four deliveries", func() bool { return len(c1.ackedSeqs()) == 4 })
		time.Sleep(10 * opt.PollInterval) // rounds that must not write it
		stop()
		if got, _ := cursorOf(t, db, "live"); got != 1 {
			t.Fatalf("cursor at %d, want 1: only the first round's position is written within the interval", got)
		}

		// Stopped with 2..4 acknowledged but not written: delivered again.
		// Seq 5 fails once: the round writes the position before it at once.
		record(t, db, ev("trf_2", "transfer.rejected", 5, nil))
		var c2 collector
		c2.fail = func(d outbox.Delivery, attempt int) error {
			if d.Seq == 5 && attempt == 1 {
				return errors.New("endpoint down")
			}
			return nil
		}
		d2 := outbox.NewDispatcher(db, nil, opt)
		d2.Subscribe("live", c2.handle)
		stop = start(t, d2)
		eventually(t, "seq 5 delivered", func() bool { return slices.Contains(c2.ackedSeqs(), 5) })
		stop()
		if got := c2.ackedSeqs(); !slices.Equal(got, seqs(2, 5)) {
			t.Fatalf("after the stop: delivered %v, want 2..5 (2..4 again)", got)
		}
		// The first round (seq 2) wrote 2; the failed round wrote 4, at
		// once; seq 5's success is within the interval of that write.
		if got, _ := cursorOf(t, db, "live"); got != 4 {
			t.Fatalf("cursor at %d, want 4: the failed round's acknowledged position", got)
		}

		// A short interval: the first round writes 5; seq 6, delivered
		// within the interval (unless this machine is slower than that),
		// is written by a later round, although no event follows.
		opt.CursorInterval = 25 * opt.PollInterval
		var c3 collector
		d3 := outbox.NewDispatcher(db, nil, opt)
		d3.Subscribe("live", c3.handle)
		start(t, d3)
		waitCursor(t, db, "live", 5)
		record(t, db, ev("trf_3", "transfer.created", 6, nil))
		eventually(t, "seq 6 delivered", func() bool { return slices.Contains(c3.ackedSeqs(), 6) })
		waitCursor(t, db, "live", 6)
		if got := c3.ackedSeqs(); !slices.Equal(got, seqs(5, 6)) {
			t.Fatalf("third run delivered %v, want 5 (again) and 6", got)
		}
	})
}

// TestRedeliversWhenCursorWriteIsLost stops the dispatcher between a
// handler's success and the cursor write: the handler cancels Run's context
// and returns nil, so the write cannot happen. The next dispatcher must
// deliver that event again (at least once), and everything after it.
func TestRedeliversWhenCursorWriteIsLost(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ids := record(t, db, ev("trf_1", "transfer.created", 1, nil), ev("trf_1", "transfer.approved", 2, nil),
			ev("trf_1", "transfer.executed", 3, nil), ev("trf_2", "transfer.created", 4, nil), ev("trf_2", "transfer.rejected", 5, nil))
		opt := fast()
		opt.BatchSize = 1 // a cursor write after every event
		ctx, crash := context.WithCancel(context.Background())
		defer crash()
		var c1 collector
		c1.fail = func(d outbox.Delivery, _ int) error {
			if d.Seq == 3 {
				crash()
			}
			return nil
		}
		d1 := outbox.NewDispatcher(db, nil, opt)
		d1.Subscribe("live", c1.handle)
		if err := d1.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := c1.ackedSeqs(); !slices.Equal(got, seqs(1, 3)) {
			t.Fatalf("before the crash: delivered %v, want 1..3", got)
		}
		if got, _ := cursorOf(t, db, "live"); got != 2 {
			t.Fatalf("cursor after the crash at %d, want 2 (seq 3's write was lost)", got)
		}

		var c2 collector
		d2 := outbox.NewDispatcher(db, nil, opt)
		d2.Subscribe("live", c2.handle)
		start(t, d2)
		waitCursor(t, db, "live", 5)
		if got := c2.ackedSeqs(); !slices.Equal(got, seqs(3, 5)) {
			t.Fatalf("after restart: delivered %v, want 3..5 (seq 3 again)", got)
		}
		all := slices.Concat(c1.ackedIDs(), c2.ackedIDs())
		for _, id := range ids {
			if !slices.Contains(all, id) {
				t.Errorf("event %s never delivered", id)
			}
		}
	})
}

func TestPruneKeepsUndeliveredEvents(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := 1; i <= 6; i++ {
			record(t, db, ev("trf_1", "transfer.updated", i, map[string]int{"i": i}))
		}
		slow := collector{fail: func(d outbox.Delivery, _ int) error {
			if d.Seq >= 5 {
				return errors.New("down")
			}
			return nil
		}}
		var fine collector
		d := outbox.NewDispatcher(db, nil, fast())
		d.Subscribe("slow", slow.handle)
		d.Subscribe("fine", fine.handle)
		stop := start(t, d)
		waitCursor(t, db, "fine", 6)
		waitCursor(t, db, "slow", 4)
		eventually(t, "seq 5 attempted", func() bool { return slices.Contains(slow.attemptSeqs(), 5) })
		stop()
		// An old event written while no sequencer runs stays unsequenced.
		record(t, db, ev("trf_2", "transfer.created", 0, nil))

		remaining := func() []int64 {
			t.Helper()
			return storetest.Column[int64](t, db, `SELECT COALESCE(seq, 0) FROM outbox_events ORDER BY pos`)
		}
		prune := func(p *outbox.Dispatcher, before time.Time, want int) {
			t.Helper()
			n, err := p.Prune(ctx, before)
			if err != nil || n != want {
				t.Fatalf("Prune(%s) = %d, %v; want %d (left: %v)", before, n, err, want, remaining())
			}
		}
		future := t0.Add(1000 * time.Hour)

		// A subscriber registered on the pruning dispatcher but never run
		// gets a cursor at 0, which keeps everything.
		late := outbox.NewDispatcher(db, nil, fast())
		late.Subscribe("late", func(context.Context, outbox.Delivery) error { return nil })
		prune(late, future, 0)
		if got, ok := cursorOf(t, db, "late"); !ok || got != 0 {
			t.Fatalf("late cursor = %d, %v; want 0, true", got, ok)
		}
		if err := outbox.DeleteCursor(ctx, db, "late"); err != nil {
			t.Fatal(err)
		}
		if err := outbox.DeleteCursor(ctx, db, "late"); !store.IsNotFound(err) {
			t.Fatalf("second DeleteCursor: %v, want not found", err)
		}

		p := outbox.NewDispatcher(db, nil, fast())
		prune(p, t0.Add(3*time.Hour+time.Minute), 3) // seqs 1..3 by age
		prune(p, future, 1)                          // seq 4; 5 and 6 are not past "slow"
		prune(p, future, 0)
		if got, want := remaining(), []int64{5, 6, 0}; !slices.Equal(got, want) {
			t.Fatalf("left after pruning: seqs %v, want %v (0: unsequenced)", got, want)
		}

		// Numbering continues after the pruned events: no seq is reused.
		if n, err := p.SequenceOnce(ctx); err != nil || n != 1 {
			t.Fatalf("SequenceOnce = %d, %v; want 1", n, err)
		}
		if got, want := remaining(), []int64{5, 6, 7}; !slices.Equal(got, want) {
			t.Fatalf("after sequencing: seqs %v, want %v", got, want)
		}

		// With no cursor at all nothing is known to be delivered.
		for _, name := range []string{"slow", "fine"} {
			if err := outbox.DeleteCursor(ctx, db, name); err != nil {
				t.Fatal(err)
			}
		}
		prune(p, future, 0)
	})
}

// TestWakeDeliversWithoutPolling sets a poll interval far longer than the
// test's wait limit, so only Wake can get the second event delivered.
func TestWakeDeliversWithoutPolling(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var c collector
		d := outbox.NewDispatcher(db, nil, outbox.Options{PollInterval: 24 * time.Hour})
		d.Subscribe("live", c.handle)
		record(t, db, ev("trf_1", "transfer.created", 1, nil))
		start(t, d)
		eventually(t, "the event recorded before Run", func() bool { return len(c.ackedSeqs()) == 1 })
		if err := d.Run(context.Background()); err == nil {
			t.Fatal("a second Run started")
		}

		record(t, db, ev("trf_1", "transfer.approved", 2, nil))
		d.Wake()
		eventually(t, "the woken delivery", func() bool { return len(c.ackedSeqs()) == 2 })
	})
}

// recordLinked commits one transaction that records events numbered as
// they are inserted, the way the posting engine does with a Linker.
func recordLinked(t *testing.T, db *store.DB, events ...outbox.Event) []string {
	t.Helper()
	ctx := context.Background()
	l := outbox.NewLinker()
	var ids []string
	err := db.Write(ctx, func(tx *store.Tx) error {
		ids = ids[:0]
		queries, dests := l.Head(tx.Dialect() == store.Postgres)
		found := make([]bool, len(queries))
		for i, q := range queries {
			err := tx.QueryRow(ctx, q).Scan(dests[i]...)
			if store.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			found[i] = true
		}
		if on, err := l.Begin(found); err != nil || !on {
			return fmt.Errorf("begin: %v, %v", on, err)
		}
		for _, e := range events {
			id, vals, err := outbox.Row(e)
			if err != nil {
				return err
			}
			seq, err := l.Link(vals)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO outbox_events (id, aggregate, aggregate_id, type, at, data, seq)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, append(vals, seq...)...); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		q, args := l.Advance()
		res, err := tx.Exec(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("advance: %d rows, %v", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestLinkedEventsAreDeliveredInOrder mixes events numbered as they were
// inserted with events the sequencer numbers: they form one sequence, and
// a Wake delivers linked events although the sequencer numbered nothing
// (the poll interval is far longer than the test's wait limit).
func TestLinkedEventsAreDeliveredInOrder(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var c collector
		d := outbox.NewDispatcher(db, nil, outbox.Options{PollInterval: 24 * time.Hour})
		d.Subscribe("live", c.handle)
		var want []string
		want = append(want, record(t, db, ev("trf_1", "transfer.created", 1, nil))...)
		start(t, d)
		eventually(t, "the event recorded before Run", func() bool { return len(c.ackedSeqs()) == 1 })

		want = append(want, recordLinked(t, db, ev("trf_2", "transfer.created", 2, nil), ev("trf_2", "transfer.executed", 2, nil))...)
		d.Wake()
		eventually(t, "the linked events", func() bool { return len(c.ackedSeqs()) == 3 })

		want = append(want, record(t, db, ev("trf_3", "transfer.created", 3, nil))...)
		d.Wake()
		eventually(t, "the sequenced event after the linked ones", func() bool { return len(c.ackedSeqs()) == 4 })
		want = append(want, recordLinked(t, db, ev("trf_4", "transfer.created", 4, nil))...)
		d.Wake()
		eventually(t, "the last linked event", func() bool { return len(c.ackedSeqs()) == 5 })

		if got := c.ackedSeqs(); !slices.Equal(got, seqs(1, 5)) {
			t.Errorf("delivered seqs %v, want 1..5", got)
		}
		if got := c.ackedIDs(); !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		if head, err := outbox.Head(context.Background(), db); err != nil || head != 5 {
			t.Errorf("head %d, %v; want 5", head, err)
		}
	})
}

func TestSubscribeRejectsMistakes(t *testing.T) {
	t.Parallel()
	h := func(context.Context, outbox.Delivery) error { return nil }
	cases := []struct {
		name string
		f    func(d *outbox.Dispatcher)
	}{
		{"empty name", func(d *outbox.Dispatcher) { d.Subscribe("", h) }},
		{"space in name", func(d *outbox.Dispatcher) { d.Subscribe("live updates", h) }},
		{"overlong name", func(d *outbox.Dispatcher) { d.Subscribe(strings.Repeat("a", outbox.MaxSubscriberLen+1), h) }},
		{"nil handler", func(d *outbox.Dispatcher) { d.Subscribe("live", nil) }},
		{"twice", func(d *outbox.Dispatcher) { d.Subscribe("live", h); d.Subscribe("live", h) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f(outbox.NewDispatcher(nil, nil, outbox.Options{}))
		})
	}
	d := outbox.NewDispatcher(nil, nil, outbox.Options{})
	d.Subscribe("live:replica-1", h) // a valid per-process name
}
