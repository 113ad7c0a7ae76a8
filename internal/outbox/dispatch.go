package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/fiscus/fiscus/internal/canon"
	"github.com/fiscus/fiscus/internal/store"
)

// Dispatcher limits and defaults.
const (
	// MaxBatchSize bounds Options.BatchSize: events read per subscriber
	// round, so at most MaxBatchSize×MaxDataBytes of data is held per
	// subscriber.
	MaxBatchSize = 500
	// MaxSubscriberLen is the longest subscriber name, in bytes.
	MaxSubscriberLen = 64
	// MaxPruneBatch is the most events one Prune transaction deletes, and
	// MaxPruneRounds the most transactions one Prune call runs.
	MaxPruneBatch  = 1000
	MaxPruneRounds = 100

	DefaultPollInterval   = time.Second
	DefaultBatchSize      = 100
	DefaultRetryMin       = 100 * time.Millisecond
	DefaultRetryMax       = time.Minute
	DefaultHandlerTimeout = 30 * time.Second

	// failureLogEvery spaces out the log lines of a lasting failure.
	failureLogEvery = time.Minute
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	// PollInterval is how often the dispatcher looks for new events without
	// a Wake (events written by other processes, or by code that does not
	// call Wake).
	PollInterval time.Duration
	// BatchSize is the most events a subscriber reads per round (at most
	// MaxBatchSize); its cursor is written at most once per round.
	BatchSize int
	// RetryMin is the wait after a subscriber's first failure; it doubles
	// with every further consecutive failure, up to RetryMax.
	RetryMin, RetryMax time.Duration
	// HandlerTimeout bounds one handler call (through its context).
	HandlerTimeout time.Duration
	// CursorInterval is the least time between two writes of a
	// subscriber's cursor while it keeps delivering (zero or less: every
	// round). A position a round does not write is written by the first
	// round after the interval has passed (rounds run at least every
	// PollInterval, with or without new events); a round whose handler
	// failed writes it at once. A longer interval means fewer write
	// transactions competing with the application's and, after a crash,
	// up to that much more delivered again.
	CursorInterval time.Duration
	// Now is the clock for the cursors' updated_at (nil: time.Now).
	Now func() time.Time
}

// Delivery is one event handed to a subscriber.
type Delivery struct {
	Seq   int64  // position in the total order, from 1
	ID    string // evt_…; the same on every redelivery
	Event Event  // Event.Data is Data
	Data  json.RawMessage
}

// Handler processes one delivery. Returning nil acknowledges it; an error
// (or a panic) has it delivered again later, and nothing after it is
// delivered to this subscriber meanwhile. Handlers must be idempotent
// (delivery is at least once) and must respect ctx, which ends at
// Options.HandlerTimeout or when Run's context ends.
type Handler func(ctx context.Context, d Delivery) error

// Dispatcher sequences recorded events and delivers them to the subscribers
// registered in this process. See the package comment for the guarantees.
type Dispatcher struct {
	db   *store.DB
	log  *slog.Logger
	opt  Options
	wake chan struct{} // nudges the sequencer; capacity 1

	mu      sync.Mutex
	subs    []*subscriber
	started bool
}

type subscriber struct {
	name string
	h    Handler
	wake chan struct{} // new events were sequenced; capacity 1
}

// NewDispatcher returns a dispatcher on db. Register subscribers with
// Subscribe, then call Run.
func NewDispatcher(db *store.DB, log *slog.Logger, opt Options) *Dispatcher {
	if opt.PollInterval <= 0 {
		opt.PollInterval = DefaultPollInterval
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	opt.BatchSize = min(opt.BatchSize, MaxBatchSize)
	if opt.RetryMin <= 0 {
		opt.RetryMin = DefaultRetryMin
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = DefaultRetryMax
	}
	opt.RetryMax = max(opt.RetryMax, opt.RetryMin)
	if opt.HandlerTimeout <= 0 {
		opt.HandlerTimeout = DefaultHandlerTimeout
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{db: db, log: log, opt: opt, wake: make(chan struct{}, 1)}
}

// Subscribe registers h under name, the key of its durable cursor: 1 to
// MaxSubscriberLen bytes of [A-Za-z0-9._:-]. A name should be active in one
// running process at a time (see the package comment). Subscribe panics
// after Run has started, on an invalid or repeated name and on a nil
// handler: all are programming errors.
func (d *Dispatcher) Subscribe(name string, h Handler) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.started:
		panic("outbox: Subscribe after Run")
	case !validSubscriber(name):
		panic(fmt.Sprintf("outbox: invalid subscriber name %q", canon.Clip(name)))
	case h == nil:
		panic("outbox: nil handler for subscriber " + name)
	case slices.ContainsFunc(d.subs, func(s *subscriber) bool { return s.name == name }):
		panic("outbox: subscriber " + name + " registered twice")
	}
	d.subs = append(d.subs, &subscriber{name: name, h: h, wake: make(chan struct{}, 1)})
}

// Wake tells the dispatcher that events were just committed, so it
// sequences and delivers them now rather than at the next poll. It never
// blocks, and is harmless when the dispatcher is not running.
func (d *Dispatcher) Wake() { notify(d.wake) }

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run sequences new events and delivers them to every subscriber until ctx
// ends, then waits for the handlers in flight and returns nil. Failures
// (database unavailable, handler errors) are logged and retried, never
// returned. Run may be called once per Dispatcher.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return errors.New("outbox: dispatcher already started")
	}
	d.started = true
	subs := slices.Clone(d.subs)
	d.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { d.deliverLoop(ctx, s) })
	}
	d.sequenceLoop(ctx, subs)
	wg.Wait()
	return nil
}

// sequenceLoop runs the sequencer at once, then at every poll and Wake, and
// tells the subscribers when it numbered new events.
func (d *Dispatcher) sequenceLoop(ctx context.Context, subs []*subscriber) {
	t := time.NewTimer(0)
	defer t.Stop()
	var fl failureLog
	var seen int64 // the head last seen
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.wake:
		}
		n, err := d.SequenceOnce(ctx)
		if err == nil {
			// Events numbered as they were inserted (a Linker) move the
			// head without the sequencer.
			var head int64
			if head, err = Head(ctx, d.db); err == nil && head != seen {
				seen, n = head, max(n, 1)
			}
		}
		if n > 0 {
			for _, s := range subs {
				notify(s.wake)
			}
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			fl.failed(d.log, "outbox sequencing failed", "err", err)
		default:
			fl.recovered(d.log, "outbox sequencing recovered")
		}
		next := d.opt.PollInterval
		if n == MaxSequenceBatch*MaxSequenceRounds {
			next = 0 // more are waiting
		}
		t.Reset(next)
	}
}

// deliverLoop delivers to one subscriber until ctx ends: a round at once,
// then one whenever new events were sequenced or the poll interval passed;
// after a failure, one when the backoff has passed.
func (d *Dispatcher) deliverLoop(ctx context.Context, s *subscriber) {
	var (
		c          cursor
		registered bool
		failures   int
		fl         failureLog
	)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		wake := s.wake
		if failures > 0 {
			wake = nil // back off even if new events arrive
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		var (
			full bool
			err  error
		)
		if !registered {
			c.pos, err = d.register(ctx, s.name)
			c.saved = c.pos
			registered = err == nil
		}
		if registered {
			full, err = d.deliverRound(ctx, s, &c)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			wait := backoff(d.opt.RetryMin, d.opt.RetryMax, failures)
			args := []any{"subscriber", s.name, "cursor", c.pos, "err", err, "consecutive_failures", failures, "retry_in", wait}
			if pe, ok := errors.AsType[*panicError](err); ok {
				args = append(args, "stack", string(pe.stack))
			}
			fl.failed(d.log, "outbox delivery failed", args...)
			t.Reset(wait)
			continue
		}
		failures = 0
		fl.recovered(d.log, "outbox delivery recovered", "subscriber", s.name, "cursor", c.pos)
		if full {
			t.Reset(0)
		} else {
			t.Reset(d.opt.PollInterval)
		}
	}
}

// cursor is a subscriber's position in this process: pos is the last seq
// its handler accepted, saved the last seq written to outbox_cursors, at
// savedAt (monotonic).
type cursor struct {
	pos, saved int64
	savedAt    time.Time
}

// deliverRound reads the next batch after c.pos, hands its events to the
// handler in order until one fails, and saves the cursor. full reports
// whether the whole batch was delivered and filled BatchSize, so more may
// be waiting.
func (d *Dispatcher) deliverRound(ctx context.Context, s *subscriber, c *cursor) (full bool, err error) {
	batch, err := d.read(ctx, c.pos)
	if err != nil {
		return false, err
	}
	var herr error
	for i := range batch {
		dv := &batch[i]
		if ctx.Err() != nil {
			break
		}
		if err := d.call(ctx, s.h, dv); err != nil {
			herr = fmt.Errorf("event %d (%s, %s): %w", dv.Seq, dv.ID, dv.Event.Type, err)
			break
		}
		c.pos = dv.Seq
	}
	// Acknowledged events are saved even when a later one failed, so they
	// are not redelivered after a restart. A failed save leaves c.saved
	// behind and is tried again next round.
	if c.pos > c.saved && (herr != nil || time.Since(c.savedAt) >= d.opt.CursorInterval) {
		if err := d.saveCursor(ctx, s.name, c.pos); err != nil {
			return false, errors.Join(herr, err)
		}
		c.saved, c.savedAt = c.pos, time.Now()
	}
	if herr != nil {
		return false, herr
	}
	return len(batch) == d.opt.BatchSize, nil
}

// call runs the handler for one delivery with a deadline, turning a panic
// into an error.
func (d *Dispatcher) call(ctx context.Context, h Handler, dv *Delivery) (err error) {
	hctx, cancel := context.WithTimeout(ctx, d.opt.HandlerTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return h(hctx, *dv)
}

// panicError is a recovered handler panic.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.value) }

// read returns up to BatchSize sequenced events after seq, in seq order.
func (d *Dispatcher) read(ctx context.Context, after int64) ([]Delivery, error) {
	var out []Delivery
	err := d.db.Read(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT seq, id, aggregate, aggregate_id, type, at, data
			FROM outbox_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, d.opt.BatchSize)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				dv   Delivery
				at   int64
				data string
			)
			if err := rows.Scan(&dv.Seq, &dv.ID, &dv.Event.Aggregate, &dv.Event.AggregateID, &dv.Event.Type, &at, &data); err != nil {
				return err
			}
			dv.Event.At = store.FromMicros(at)
			dv.Data = json.RawMessage(data)
			dv.Event.Data = dv.Data
			out = append(out, dv)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// register makes sure the subscriber has a cursor (a new one starts at 0)
// and returns it.
func (d *Dispatcher) register(ctx context.Context, name string) (int64, error) {
	var seq int64
	err := d.db.Write(ctx, func(tx *store.Tx) error {
		if err := ensureCursor(ctx, tx, name, d.opt.Now()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT seq FROM outbox_cursors WHERE subscriber = ?`, name).Scan(&seq)
	})
	if err != nil {
		return 0, fmt.Errorf("register subscriber %s: %w", name, err)
	}
	return seq, nil
}

func ensureCursor(ctx context.Context, tx *store.Tx, name string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox_cursors (subscriber, seq, updated_at) VALUES (?, 0, ?)
		ON CONFLICT (subscriber) DO NOTHING`, name, store.Micros(now))
	return err
}

// saveCursor moves the subscriber's stored cursor forward to seq; it never
// moves it back (another process running the same name may be ahead).
func (d *Dispatcher) saveCursor(ctx context.Context, name string, seq int64) error {
	err := d.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO outbox_cursors (subscriber, seq, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (subscriber) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
			WHERE outbox_cursors.seq < excluded.seq`, name, seq, store.Micros(d.opt.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("save cursor of %s at %d: %w", name, seq, err)
	}
	return nil
}

// Prune deletes sequenced events whose At is before before and that every
// cursor has passed, in rounds of at most MaxPruneBatch (at most
// MaxPruneRounds rounds), and returns how many it deleted. It first gives
// this dispatcher's subscribers cursors if they have none yet, so their
// events are kept even before they first run. It never deletes an
// unsequenced event, and deletes nothing while no cursor exists.
func (d *Dispatcher) Prune(ctx context.Context, before time.Time) (int, error) {
	d.mu.Lock()
	subs := slices.Clone(d.subs)
	d.mu.Unlock()
	if len(subs) > 0 {
		err := d.db.Write(ctx, func(tx *store.Tx) error {
			for _, s := range subs {
				if err := ensureCursor(ctx, tx, s.name, d.opt.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("outbox prune: register subscribers: %w", err)
		}
	}
	total := 0
	for range MaxPruneRounds {
		var n int64
		err := d.db.Write(ctx, func(tx *store.Tx) error {
			// MIN over no cursors is NULL, and "seq <= NULL" holds for no row.
			res, err := tx.Exec(ctx, `DELETE FROM outbox_events WHERE pos IN (
				SELECT pos FROM outbox_events
				WHERE seq <= (SELECT MIN(seq) FROM outbox_cursors) AND at < ?
				ORDER BY seq LIMIT ?)`, store.Micros(before), MaxPruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("outbox prune: %w", err)
		}
		total += int(n)
		if n < MaxPruneBatch {
			break
		}
	}
	return total, nil
}

// Cursor is a subscriber's stored position.
type Cursor struct {
	Subscriber string
	Seq        int64 // the last seq delivered and acknowledged (0: none)
	UpdatedAt  time.Time
}

// Cursors returns every stored cursor, by subscriber name. With Head it
// gives each subscriber's lag.
func Cursors(ctx context.Context, db *store.DB) ([]Cursor, error) {
	var out []Cursor
	err := db.Read(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT subscriber, seq, updated_at FROM outbox_cursors ORDER BY subscriber`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c  Cursor
				at int64
			)
			if err := rows.Scan(&c.Subscriber, &c.Seq, &at); err != nil {
				return err
			}
			c.UpdatedAt = store.FromMicros(at)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("outbox cursors: %w", err)
	}
	return out, nil
}

// DeleteCursor removes the cursor of a subscriber that is gone for good, so
// it no longer holds Prune back. If that name runs again it starts over at
// cursor 0. It returns an error wrapping store.ErrNotFound when there is no
// such cursor.
func DeleteCursor(ctx context.Context, db *store.DB, subscriber string) error {
	err := db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM outbox_cursors WHERE subscriber = ?`, subscriber)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete outbox cursor %s: %w", subscriber, err)
	}
	return nil
}

// backoff returns the wait after the given number of consecutive failures:
// lo, doubling per failure, at most hi.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// failureLog logs a lasting failure when it starts and then about once
// every failureLogEvery, and its end.
type failureLog struct {
	failures int
	last     time.Time
}

func (f *failureLog) failed(log *slog.Logger, msg string, args ...any) {
	f.failures++
	if f.failures == 1 || time.Since(f.last) >= failureLogEvery {
		log.Error(msg, args...)
		f.last = time.Now()
	}
}

func (f *failureLog) recovered(log *slog.Logger, msg string, args ...any) {
	if f.failures > 0 {
		log.Info(msg, append(args, "failed_rounds", f.failures)...)
		f.failures = 0
	}
}

// validSubscriber reports whether s is 1 to MaxSubscriberLen bytes of
// [A-Za-z0-9._:-].
func validSubscriber(s string) bool {
	if len(s) == 0 || len(s) > MaxSubscriberLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
