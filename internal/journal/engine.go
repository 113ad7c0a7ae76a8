package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// Defaults and bounds of Options.
const (
	DefaultMaxBatch     = 256              // operations per transaction
	MaxMaxBatch         = 4096             // largest MaxBatch accepted
	DefaultQueueLen     = 4096             // operations waiting for the writer
	MaxQueueLen         = 1 << 20          // largest QueueLen accepted
	DefaultBatchTimeout = 30 * time.Second // one batch transaction, retries included
	DefaultDrainTimeout = 10 * time.Second // finishing the queue at shutdown
	DefaultLinger       = time.Millisecond // longest wait for a batch to fill up
	// lingerGap ends lingering early once no operation arrived for this
	// long: the callers that were coming are in.
	lingerGap = 100 * time.Microsecond
)

// Options tune an Engine. Zero values take the defaults.
type Options struct {
	MaxBatch     int           // operations per batch transaction
	QueueLen     int           // bounded queue in front of the writer; Submit blocks when it is full
	BatchTimeout time.Duration // bound on one batch transaction
	DrainTimeout time.Duration // bound on committing what is queued when Run stops
	// Linger is how long the writer may wait for more operations to join a
	// batch while callers are active (see collect); negative disables it.
	Linger time.Duration
	// Assets returns the registry entries are validated against (currencies
	// plus listed securities); nil means currencies only. It is called once
	// per Submit, so a registry swapped behind an atomic pointer takes
	// effect at once.
	Assets func() *money.Registry
	// Chains number the rows of their tables inside the batch transaction
	// (see Chain); the engine uses them from its writer goroutine only.
	Chains []Chain
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	o.MaxBatch = min(o.MaxBatch, MaxMaxBatch)
	if o.QueueLen <= 0 {
		o.QueueLen = DefaultQueueLen
	}
	o.QueueLen = min(o.QueueLen, MaxQueueLen)
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.Assets == nil {
		o.Assets = func() *money.Registry { return nil }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Engine is the posting engine. Create it with New, start exactly one Run
// per Engine, and Submit from any goroutine.
type Engine struct {
	db    *store.DB
	opt   Options
	queue chan *request

	mu          sync.Mutex
	closed      bool          // intake stopped
	senders     int           // Submit calls between the closed check and the end of their enqueue attempt
	stopping    chan struct{} // closed when intake stops
	sendersDone chan struct{} // closed by the last sender to leave after intake stopped
	running     atomic.Bool

	stats     stats
	answering sync.WaitGroup // batches whose callers are not answered yet
	lastBatch int            // size of the previous batch; the writer's own
	// beforeBatch, when set (tests only), runs in the writer after a batch
	// was collected and before its transaction starts.
	beforeBatch func(n int)
}

// request states: the writer and a cancelled caller race to move a queued
// request out of stateQueued; whoever wins decides its fate.
const (
	stateQueued    int32 = iota
	stateTaken           // in a batch: the caller waits for its outcome
	stateWithdrawn       // the caller gave up first: the writer skips it
)

type request struct {
	op    Op
	state atomic.Int32
	done  chan outcome // buffered(1): the writer never blocks answering
	// enqueued is set before the request is sent to the writer, taken by
	// the writer when it takes the request into a batch (see Stats).
	enqueued, taken time.Time
}

type outcome struct {
	res Result
	err error
}

// New returns an engine writing to db. It does nothing until Run.
func New(db *store.DB, opt Options) *Engine {
	opt = opt.withDefaults()
	return &Engine{
		db:          db,
		opt:         opt,
		queue:       make(chan *request, opt.QueueLen),
		stopping:    make(chan struct{}),
		sendersDone: make(chan struct{}),
	}
}

// Submit queues op for the writer and waits until it is committed (the
// Result) or refused or failed (the error; nothing of op was written unless
// the error wraps ErrOutcomeUnknown). An operation submitted before Run
// starts waits in the queue. See the package comment for what a cancelled
// ctx means.
func (e *Engine) Submit(ctx context.Context, op Op) (Result, error) {
	op, err := prepare(op, e.opt.Assets())
	if err != nil {
		return Result{}, err
	}
	r := &request{op: op, done: make(chan outcome, 1)}
	if err := e.enqueue(ctx, r); err != nil {
		return Result{}, err
	}
	return e.wait(ctx, r)
}

// submitAll queues every op (each prepared independently) and waits for
// all of them; errs[i] is op i's error.
func (e *Engine) submitAll(ctx context.Context, ops []Op) ([]Result, []error) {
	res := make([]Result, len(ops))
	errs := make([]error, len(ops))
	reqs := make([]*request, len(ops))
	for i, op := range ops {
		op, err := prepare(op, e.opt.Assets())
		if err != nil {
			errs[i] = err
			continue
		}
		r := &request{op: op, done: make(chan outcome, 1)}
		if err := e.enqueue(ctx, r); err != nil {
			errs[i] = err
			continue
		}
		reqs[i] = r
	}
	for i, r := range reqs {
		if r != nil {
			res[i], errs[i] = e.wait(ctx, r)
		}
	}
	return res, errs
}

func (e *Engine) enqueue(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return withdrawn(err)
	}
	r.enqueued = time.Now()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrStopped
	}
	e.senders++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.senders--
		if e.closed && e.senders == 0 {
			close(e.sendersDone)
		}
		e.mu.Unlock()
	}()
	select {
	case e.queue <- r:
		return nil
	case <-ctx.Done():
		return withdrawn(ctx.Err())
	case <-e.stopping:
		return ErrStopped
	}
}

func (e *Engine) wait(ctx context.Context, r *request) (Result, error) {
	select {
	case out := <-r.done:
		return out.res, out.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(stateQueued, stateWithdrawn) {
			e.stats.withdrawn.Add(1)
			return Result{}, withdrawn(ctx.Err())
		}
		// The writer holds it: its batch decides, within BatchTimeout.
		out := <-r.done
		return out.res, out.err
	}
}

func withdrawn(ctxErr error) error { return errors.Join(ErrWithdrawn, ctxErr) }

// Run is the writer. It returns nil once ctx is cancelled and every queued
// operation has been answered, or an error if it was already running.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("journal: Run called twice")
	}
	// Batches run on a context that is not cancelled with ctx: a batch that
	// has started finishes (commits or rolls back) on its own terms.
	base := context.WithoutCancel(ctx)
	for {
		select {
		case r := <-e.queue:
			batch := e.collect(r)
			if e.beforeBatch != nil {
				e.beforeBatch(len(batch))
			}
			e.runBatch(base, e.opt.BatchTimeout, batch)
		case <-ctx.Done():
			e.stop(base)
			e.answering.Wait()
			return nil
		}
	}
}

// collect takes first and whatever else is queued, up to MaxBatch live
// requests. When the previous batch had company (concurrent callers), it
// lingers: it keeps taking operations as long as they arrive less than
// lingerGap apart, for at most Linger, until the callers the previous batch
// answered are back. Callers answered by the previous
// batch are then back in this one instead of waiting a whole commit for the
// next, so batches stay full and each fsync covers more operations. A lone
// caller never waits.
func (e *Engine) collect(first *request) []*request {
	batch := make([]*request, 0, min(e.opt.MaxBatch, 64))
	take := func(r *request) {
		if r.state.CompareAndSwap(stateQueued, stateTaken) {
			r.taken = time.Now()
			batch = append(batch, r)
		}
	}
	take(first)
	drain := func() {
		for len(batch) < e.opt.MaxBatch {
			select {
			case r := <-e.queue:
				take(r)
			default:
				return
			}
		}
	}
	drain()
	if e.opt.Linger <= 0 || e.lastBatch <= 1 || len(batch) >= e.opt.MaxBatch {
		e.lastBatch = len(batch)
		return batch
	}
	gap := min(lingerGap, e.opt.Linger)
	deadline := time.NewTimer(e.opt.Linger)
	defer deadline.Stop()
	quiet := time.NewTimer(gap)
	defer quiet.Stop()
	// Enough once the callers the previous batch answered are back, next to
	// those that were already queued.
	target := min(e.opt.MaxBatch, len(batch)+e.lastBatch)
	for len(batch) < target {
		select {
		case r := <-e.queue:
			take(r)
			drain()
			quiet.Reset(gap)
			continue
		case <-quiet.C:
		case <-deadline.C:
		case <-e.stopping:
		}
		break
	}
	e.lastBatch = len(batch)
	return batch
}

// stop closes intake, waits for callers caught mid-enqueue, then commits the
// queue in final batches until DrainTimeout, failing what is left.
func (e *Engine) stop(base context.Context) {
	e.mu.Lock()
	e.closed = true
	close(e.stopping)
	pending := e.senders > 0
	e.mu.Unlock()
	if pending {
		<-e.sendersDone // every sender now selects on stopping, so this is quick
	}
	drain, cancel := context.WithTimeout(base, e.opt.DrainTimeout)
	defer cancel()
	for {
		var first *request
		select {
		case first = <-e.queue:
		default:
			return
		}
		batch := e.collect(first)
		if drain.Err() != nil {
			for _, r := range batch {
				r.done <- outcome{err: ErrStopped}
			}
			continue
		}
		e.runBatch(drain, e.opt.BatchTimeout, batch)
	}
}

// runBatch executes one batch and answers every request in it.
func (e *Engine) runBatch(ctx context.Context, timeout time.Duration, reqs []*request) {
	if len(reqs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	outs, durable := e.execute(ctx, reqs)
	end := time.Now()
	e.stats.busy.Add(int64(end.Sub(start)))
	var queueing, collecting time.Duration
	for _, r := range reqs {
		queueing += r.taken.Sub(r.enqueued)
		collecting += start.Sub(r.taken)
	}
	n := time.Duration(len(reqs))
	answer := func() {
		err := durable()
		// Counted before anyone hears: a caller answered sees itself in
		// Stats.
		e.stats.timed(len(reqs), queueing, collecting, n*end.Sub(start), n*time.Since(end))
		if err != nil {
			e.opt.Logger.Error("ledger batch committed but not durable", "ops", len(reqs), "err", err)
			for i := range outs {
				outs[i] = outcome{err: fmt.Errorf("ledger batch of %d operations: %w: %w", len(reqs), ErrOutcomeUnknown, err)}
			}
		}
		for i, r := range reqs {
			r.done <- outs[i]
		}
	}
	// The next batch runs while this one's commit is made durable; its
	// callers hear only after that.
	e.answering.Go(answer)
}

// execute runs the batch in fast mode and, if its writes fail or a claim is
// taken, once more in careful mode. Nobody may hear of the outcomes before
// the returned Durable has returned (see store.WriteDeferred).
func (e *Engine) execute(ctx context.Context, reqs []*request) ([]outcome, store.Durable) {
	e.stats.batches.Add(1)
	e.stats.ops.Add(int64(len(reqs)))
	for {
		cur := e.stats.maxBatch.Load()
		if int64(len(reqs)) <= cur || e.stats.maxBatch.CompareAndSwap(cur, int64(len(reqs))) {
			break
		}
	}
	b := newBatch(e, reqs)
	var (
		err     error
		durable store.Durable = func() error { return nil }
	)
	if b.pg {
		err = e.runPipelined(ctx, b)
	} else {
		durable, err = e.db.WriteDeferred(ctx, func(tx *store.Tx) error { return b.runTx(ctx, tx, false) })
	}
	if err != nil && !b.fnDone && ctx.Err() == nil {
		// The writes (or a claim, or an update) failed: run op by op so
		// that only the operations at fault fail.
		e.stats.careful.Add(1)
		if !errors.Is(err, errCheckFailed) {
			e.opt.Logger.Warn("ledger batch failed; retrying op by op", "ops", len(reqs), "err", err)
		}
		b = newBatch(e, reqs)
		err = e.db.Write(ctx, func(tx *store.Tx) error { return b.runTx(ctx, tx, true) })
	}
	outs := make([]outcome, len(reqs))
	if err != nil {
		e.stats.failed.Add(int64(len(reqs)))
		if b.fnDone {
			err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
		}
		e.opt.Logger.Error("ledger batch failed", "ops", len(reqs), "err", err)
		for i := range outs {
			outs[i].err = fmt.Errorf("ledger batch of %d operations: %w", len(reqs), err)
		}
		return outs, durable
	}
	for i := range outs {
		p := &b.plans[i]
		if p.err != nil {
			e.stats.refused.Add(1)
			outs[i].err = p.err
			continue
		}
		e.stats.committed.Add(1)
		outs[i].res = p.result()
	}
	return outs, durable
}

// Stats are counters since New.
type Stats struct {
	Batches   int64 // batch transactions attempted
	Ops       int64 // operations taken into batches
	Committed int64 // operations committed
	Refused   int64 // operations refused (nothing written)
	Failed    int64 // operations failed with their batch (nothing written, or outcome unknown)
	Careful   int64 // batches re-run op by op
	Retried   int64 // PostgreSQL fast-path batch runs retried after a deadlock or serialization failure
	Withdrawn int64 // operations withdrawn by their callers while queued
	MaxBatch  int64 // largest batch so far
	Queued    int   // operations waiting right now

	// Where the operations answered by a batch (Answered of them, whatever
	// their outcome) spent their time, summed over them: divide by
	// Answered for the mean. Queueing is waiting for the writer to take
	// them (it was running earlier batches); Collecting, waiting in a batch
	// while the writer gathered the rest of it (see Options.Linger);
	// Executing, their batch's transaction, careful re-run included (a
	// re-run waits for its own durability, so that wait counts here);
	// Durable, from its commit until the writer's answering goroutine saw
	// it durable (SQLite's WAL fsync and that hand-off; on PostgreSQL,
	// whose COMMIT is durable when it returns, the hand-off alone).
	Answered                                 int64
	Queueing, Collecting, Executing, Durable time.Duration
	// Busy is the writer's time in batch transactions (Executing counts it
	// once per operation); over wall time, how busy the one writer is.
	Busy time.Duration
}

type stats struct {
	batches, ops, committed, refused, failed, careful, retried, withdrawn, maxBatch atomic.Int64

	answered                                       atomic.Int64
	queueing, collecting, executing, durable, busy atomic.Int64 // nanoseconds
}

// timed records where the n operations of one batch spent their time.
func (s *stats) timed(n int, queueing, collecting, executing, durable time.Duration) {
	s.queueing.Add(int64(queueing))
	s.collecting.Add(int64(collecting))
	s.executing.Add(int64(executing))
	s.durable.Add(int64(durable))
	s.answered.Add(int64(n))
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{
		Batches: e.stats.batches.Load(), Ops: e.stats.ops.Load(), Committed: e.stats.committed.Load(),
		Refused: e.stats.refused.Load(), Failed: e.stats.failed.Load(), Careful: e.stats.careful.Load(),
		Retried: e.stats.retried.Load(), Withdrawn: e.stats.withdrawn.Load(), MaxBatch: e.stats.maxBatch.Load(), Queued: len(e.queue),
		Answered: e.stats.answered.Load(), Queueing: time.Duration(e.stats.queueing.Load()),
		Collecting: time.Duration(e.stats.collecting.Load()), Executing: time.Duration(e.stats.executing.Load()),
		Durable: time.Duration(e.stats.durable.Load()), Busy: time.Duration(e.stats.busy.Load()),
	}
}
