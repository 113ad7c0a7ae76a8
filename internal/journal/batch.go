package journal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// errCheckFailed aborts a fast-mode batch in which some claim did not
// insert or some update affected another number of rows than it wanted;
// the batch is then run in careful mode, which finds the operations at
// fault.
var errCheckFailed = errors.New("journal: a claim of the batch is taken or an update is stale")

// maxEnsureRounds bounds how often a PostgreSQL batch re-plans because a
// balance row it was about to create had meanwhile been created, with a
// non-zero balance, by a writer on another replica. Each round locks the
// rows it found, so a second round is already rare.
const maxEnsureRounds = 8

type pairKey struct {
	account string
	asset   money.Asset
}

// baseBalance is a balance as loaded (and, on PostgreSQL, locked).
type baseBalance struct {
	bal    ledger.Balance
	exists bool // the row exists in the database
}

// holdState is a hold and the row fields the ledger core does not know.
type holdState struct {
	hold       ledger.Hold
	createdAt  int64 // Unix µs
	resolvedAt int64 // Unix µs; 0 while pending
	inDB       bool  // the row exists in the database (else: INSERT it)
}

// entryState is an entry that a Reverse of this batch may name.
type entryState struct {
	entry      ledger.Entry
	reversedBy string
}

// plan is the outcome of judging one operation: either err (refused,
// nothing to write) or the rows to write.
type plan struct {
	err      error
	now      int64 // Unix µs
	entry    *ledger.Entry
	kind     string
	after    []int64 // balance_after of each posting of entry
	hold     *holdState
	reversed string // the entry a reversal reverses
	balances []ledger.Balance
	counters []counterTotal // the operation's counters as it leaves them
	claims   []Row
	rows     []Row
	updates  []Update
}

func (p *plan) result() Result {
	r := Result{Balances: p.balances}
	if p.entry != nil {
		r.EntryID = p.entry.ID
	}
	if p.hold != nil {
		h := p.hold.hold
		r.Hold = &h
	}
	return r
}

// batch is one batch transaction's state. It is a ledger.View: Account and
// Balance answer from what was loaded plus the accepted operations so far;
// counter does the same for counters.
type batch struct {
	reqs   []*request
	pg     bool
	assets *money.Registry
	fnDone bool // the transaction function returned nil: only COMMIT remained

	accounts    map[string]ledger.Account
	base        map[pairKey]baseBalance
	cur         map[pairKey]ledger.Balance
	holdsBase   map[string]holdState
	holdsCur    map[string]holdState
	entriesBase map[string]entryState
	entriesCur  map[string]entryState
	// Counter totals as loaded (on PostgreSQL: locked; a key without a
	// row counts as 0) and as the accepted operations so far left them.
	countersBase map[string]int64
	countersCur  map[string]int64
	// countersMade (PostgreSQL) are the counter rows the load created (at
	// 0, to lock them); those no accepted operation writes are deleted
	// again before COMMIT.
	countersMade []string
	plans        []plan
	chains       chainState
}

func newBatch(e *Engine, reqs []*request) *batch {
	return &batch{reqs: reqs, pg: e.db.Dialect() == store.Postgres, assets: e.opt.Assets(), chains: chainState{chains: e.opt.Chains}}
}

// Account implements ledger.View.
func (b *batch) Account(id string) (ledger.Account, bool) {
	a, ok := b.accounts[id]
	return a, ok
}

// Balance implements ledger.View.
func (b *batch) Balance(account string, asset money.Asset) ledger.Balance {
	k := pairKey{account, asset}
	if v, ok := b.cur[k]; ok {
		return v
	}
	if v, ok := b.base[k]; ok {
		return v.bal
	}
	return ledger.Balance{Account: account, Asset: asset}
}

// counter is the running total of key as the accepted operations so far
// left it.
func (b *batch) counter(key string) int64 {
	if v, ok := b.countersCur[key]; ok {
		return v
	}
	return b.countersBase[key]
}

// counterTotal is a counter's total as an operation leaves it, and the
// latest expiry the operation gives it (Unix µs).
type counterTotal struct {
	key     string
	value   int64
	expires int64
}

// applyCounters judges an operation's counters, in order, against the
// totals total reports (those left by the earlier accepted operations of
// the batch), and returns the totals after the operation, one per key in
// order of first appearance, or the refusal. It is pure: a refused
// operation changes no total.
func applyCounters(cs []Counter, total func(key string) int64) ([]counterTotal, error) {
	out := make([]counterTotal, 0, len(cs))
	for _, c := range cs {
		i := 0
		for i < len(out) && out[i].key != c.Key {
			i++
		}
		if i == len(out) {
			out = append(out, counterTotal{key: c.Key, value: total(c.Key)})
		}
		used := out[i].value
		var after int64
		switch {
		case c.Delta < 0:
			after = max(0, used+c.Delta) // used ≥ 0: no overflow
		case used > math.MaxInt64-c.Delta:
			if c.Max > 0 {
				return nil, limitExceeded(c, used)
			}
			return nil, invalidOp(fmt.Sprintf("counter %s would overflow", clip(c.Key)))
		default:
			after = used + c.Delta
			if c.Max > 0 && after > c.Max {
				return nil, limitExceeded(c, used)
			}
		}
		out[i].value = after
		out[i].expires = max(out[i].expires, store.Micros(c.ExpiresAt))
	}
	return out, nil
}

func limitExceeded(c Counter, used int64) *fault.Error {
	e := fault.New(CodeLimitExceeded, "The operation would exceed the limit %s.", clip(c.Key))
	e.Extra = map[string]any{"counter": c.Key, "limit": c.Max, "used": used, "requested": c.Delta}
	return e
}

func (b *batch) hold(id string) (holdState, bool) {
	if h, ok := b.holdsCur[id]; ok {
		return h, true
	}
	h, ok := b.holdsBase[id]
	return h, ok
}

func (b *batch) entry(id string) (entryState, bool) {
	if e, ok := b.entriesCur[id]; ok {
		return e, true
	}
	e, ok := b.entriesBase[id]
	return e, ok
}

// resetView forgets the effects of planned operations, keeping what was
// loaded.
func (b *batch) resetView() {
	b.cur = map[pairKey]ledger.Balance{}
	b.holdsCur = map[string]holdState{}
	b.entriesCur = map[string]entryState{}
	b.countersCur = map[string]int64{}
	b.plans = make([]plan, len(b.reqs))
}

// runTx is the transaction function of store.Write (SQLite, and careful
// mode on both engines). store.Write may call it more than once (after a
// retryable conflict), so it starts from scratch every time.
func (b *batch) runTx(ctx context.Context, tx *store.Tx, careful bool) error {
	b.fnDone = false
	ex := txExec{tx: tx}
	if err := b.load(ctx, ex, nil); err != nil {
		return err
	}
	var err error
	if careful {
		err = b.runCareful(ctx, tx, ex)
	} else {
		err = b.runFast(ctx, ex, nil)
	}
	if err != nil {
		return err
	}
	b.fnDone = true
	return nil
}

// runFast plans every operation in memory, then writes the accepted
// operations' claims and rows with multi-row statements, followed by final
// (COMMIT, in a pipeline). Any failure aborts the transaction.
func (b *batch) runFast(ctx context.Context, ex executor, final []step) error {
	var ensured []pairKey
	for round := 0; ; round++ {
		b.resetView()
		for i := range b.reqs {
			p := b.plan(i)
			b.plans[i] = p
			if p.err == nil {
				b.accept(&b.plans[i])
			}
		}
		if !b.pg {
			break
		}
		changed, touched, err := b.ensure(ctx, ex, b.accepted())
		if err != nil {
			return err
		}
		ensured = append(ensured, touched...)
		if !changed {
			break
		}
		if round == maxEnsureRounds {
			return errors.New("journal: balances kept appearing under the batch")
		}
	}
	acc := b.accepted()
	steps := b.dropUnused(ensured, acc)
	steps = append(steps, b.dropUnusedCounters(acc)...)
	steps = append(steps, b.claimSteps(acc, final != nil)...)
	ws, err := b.writeSteps(acc)
	if err != nil {
		return err
	}
	steps = append(steps, ws...)
	steps = append(steps, b.chains.advanceSteps(final != nil)...)
	steps = append(steps, b.updateSteps(acc, final != nil)...)
	steps = append(steps, final...)
	if err := ex.run(ctx, steps); err != nil {
		if pgState(err) == pgDivisionByZero {
			return errCheckFailed
		}
		return err
	}
	return nil
}

// runCareful handles one operation at a time inside a savepoint: its
// balance rows (PostgreSQL), its claims row by row, then its writes, then
// its updates one by one. An operation whose claim is taken, whose writes
// fail or whose update is stale is rolled back to its savepoint and refused
// alone.
func (b *batch) runCareful(ctx context.Context, tx *store.Tx, ex executor) error {
	b.resetView()
	for i := range b.reqs {
		p := b.plan(i)
		if p.err == nil {
			if err := b.writeOne(ctx, tx, ex, i, &p); err != nil {
				return err
			}
		}
		b.plans[i] = p
		if p.err == nil {
			b.accept(&b.plans[i])
			b.settle(&b.plans[i])
		}
	}
	return ex.run(ctx, append(b.dropUnusedCounters(b.accepted()), b.chains.advanceSteps(false)...))
}

// writeOne writes operation i (planned as p) inside a savepoint: on
// PostgreSQL it first makes its new balance rows exist and re-plans if one
// turned up with a balance; then its claims, then its rows. A refusal is
// recorded in p.err and leaves nothing behind; a returned error aborts the
// transaction.
func (b *batch) writeOne(ctx context.Context, tx *store.Tx, ex executor, i int, p *plan) error {
	marks := b.chains.marks()
	if _, err := tx.Exec(ctx, "SAVEPOINT journal_op"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	var ensured []pairKey
	refuse := func(refusal error, cause error) error {
		if cause != nil && store.IsRetryable(cause) {
			return cause // the whole batch runs again
		}
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT journal_op"); err != nil {
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
		// Rows made to exist (and locks taken) inside the savepoint are gone,
		// and so are the operation's chained rows.
		for _, k := range ensured {
			delete(b.base, k)
		}
		b.chains.rewind(marks)
		*p = plan{err: refusal}
		return nil
	}
	for round := 0; b.pg; round++ {
		changed, touched, err := b.ensure(ctx, ex, []*plan{p})
		ensured = append(ensured, touched...)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
		if round == maxEnsureRounds {
			return errors.New("journal: balances kept appearing under the batch")
		}
		if *p = b.plan(i); p.err != nil {
			return refuse(p.err, nil)
		}
	}
	for ci, c := range p.claims {
		var inserted int64
		err := ex.run(ctx, b.valuesSteps(b.insertHead(c.Table, c.Columns), len(c.Columns), [][]any{c.resolve(p)}, " ON CONFLICT DO NOTHING",
			func(n int64) error { inserted = n; return nil }))
		if err != nil {
			return refuse(fault.Wrap(err, fault.Internal, "The operation could not be recorded."), err)
		}
		if inserted == 0 {
			return refuse(claimTaken(ci, c.Table), nil)
		}
	}
	ws, err := b.writeSteps([]*plan{p})
	if err == nil {
		err = ex.run(ctx, ws)
	}
	if err != nil {
		code := fault.Internal
		if store.IsUniqueViolation(err) {
			code = fault.Conflict
		}
		return refuse(fault.Wrap(err, code, "The operation conflicts with existing ledger data."), err)
	}
	for ui, u := range p.updates {
		var affected int64
		err := ex.run(ctx, []step{{sql: u.SQL, args: resolveValues(u.Args, p), affected: func(n int64) error { affected = n; return nil }}})
		if err != nil {
			return refuse(fault.Wrap(err, fault.Internal, "The operation could not be recorded."), err)
		}
		if affected != u.Want {
			return refuse(stale(ui, affected, u.Want), nil)
		}
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT journal_op"); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// settle records, in careful mode, that an accepted operation's rows are in
// the database, so later operations of the batch update them.
func (b *batch) settle(p *plan) {
	if p.hold != nil {
		h := *p.hold
		h.inDB = true
		b.holdsBase[h.hold.ID] = h
		b.holdsCur[h.hold.ID] = h
	}
	for _, bal := range p.balances {
		b.base[pairKey{bal.Account, bal.Asset}] = baseBalance{bal: bal, exists: true}
	}
	for _, c := range p.counters {
		b.countersBase[c.key] = c.value
	}
}

func claimTaken(i int, table string) *fault.Error {
	return fault.New(CodeClaimTaken, "The operation's %s record already exists.", table).
		With("claim", i).With("table", table)
}

func stale(i int, affected, want int64) *fault.Error {
	e := fault.New(CodeStale, "The state the operation depends on changed meanwhile; nothing was done.")
	e.Extra = map[string]any{"update": i, "affected": affected, "want": want}
	return e
}

// accepted returns the plans of the accepted operations, in queue order.
func (b *batch) accepted() []*plan {
	out := make([]*plan, 0, len(b.plans))
	for i := range b.plans {
		if b.plans[i].err == nil {
			out = append(out, &b.plans[i])
		}
	}
	return out
}

// accept makes an accepted plan visible to the operations after it.
func (b *batch) accept(p *plan) {
	for _, bal := range p.balances {
		b.cur[pairKey{bal.Account, bal.Asset}] = bal
	}
	for _, c := range p.counters {
		b.countersCur[c.key] = c.value
	}
	if p.hold != nil {
		b.holdsCur[p.hold.hold.ID] = *p.hold
	}
	if p.entry != nil {
		b.entriesCur[p.entry.ID] = entryState{entry: *p.entry}
		if p.reversed != "" {
			orig, _ := b.entry(p.reversed)
			orig.reversedBy = p.entry.ID
			b.entriesCur[p.reversed] = orig
		}
	}
}

// plan judges operation i against the current view. It changes nothing.
func (b *batch) plan(i int) plan {
	op := b.reqs[i].op
	x := op.common()
	now := x.now
	p := plan{now: store.Micros(now), claims: x.claims, rows: x.rows, updates: x.updates}
	var effects []ledger.Effect
	switch o := op.(type) {
	case Post:
		e := o.Entry
		p.entry, p.kind, effects = &e, o.Kind, e.Effects()
	case Reserve:
		if _, ok := b.hold(o.Hold.ID); ok {
			p.err = fault.New(CodeHoldExists, "Hold %s already exists.", o.Hold.ID).With("hold_id", o.Hold.ID)
			return p
		}
		out, err := ledger.Reserve(o.Hold, b.assets, now)
		if err != nil {
			p.err = err
			return p
		}
		p.hold = &holdState{hold: out.Hold, createdAt: p.now}
		effects = out.Effects
	case PostHold:
		h, ok := b.hold(o.HoldID)
		if !ok {
			p.err = holdNotFound(o.HoldID)
			return p
		}
		amount := o.Amount
		if amount == 0 {
			amount = h.hold.Amount.Units()
		}
		out, err := h.hold.Post(o.EntryID, money.New(amount, h.hold.Amount.Asset()), now)
		if err != nil {
			p.err = err
			return p
		}
		out.Entry.Memo = o.Memo
		p.entry, p.kind, effects = out.Entry, o.Kind, out.Effects
		p.hold = &holdState{hold: out.Hold, createdAt: h.createdAt, resolvedAt: p.now, inDB: h.inDB}
	case VoidHold, ExpireHold:
		holdID := holdIDOf(op)
		h, ok := b.hold(holdID)
		if !ok {
			p.err = holdNotFound(holdID)
			return p
		}
		var out ledger.Outcome
		var err error
		if _, void := op.(VoidHold); void {
			out, err = h.hold.Void(now)
		} else {
			out, err = h.hold.Expire(now)
		}
		if err != nil {
			p.err = err
			return p
		}
		p.hold = &holdState{hold: out.Hold, createdAt: h.createdAt, resolvedAt: p.now, inDB: h.inDB}
		effects = out.Effects
	case Reverse:
		orig, ok := b.entry(o.EntryID)
		if !ok {
			p.err = entryNotFound(o.EntryID)
			return p
		}
		if err := ledger.CanReverse(orig.entry, orig.reversedBy); err != nil {
			p.err = err
			return p
		}
		rev, err := ledger.Reverse(orig.entry, o.ReversalID)
		if err != nil {
			p.err = err
			return p
		}
		if o.Memo != "" {
			rev.Memo = o.Memo
		}
		rev.Metadata = o.Metadata
		p.entry, p.kind, p.reversed, effects = &rev, KindReversal, o.EntryID, rev.Effects()
	default:
		p.err = invalidOp(fmt.Sprintf("unknown operation %T", op))
		return p
	}
	bals, err := ledger.Apply(effects, b)
	if err == nil && len(x.counters) > 0 {
		p.counters, err = applyCounters(x.counters, b.counter)
	}
	if err != nil {
		p.err = err
		p.entry, p.hold = nil, nil
		return p
	}
	p.balances = bals
	if p.entry != nil {
		p.after = make([]int64, len(p.entry.Postings))
		for j, ps := range p.entry.Postings {
			p.after[j] = b.afterPosting(bals, ps.Account, ps.Amount.Asset())
		}
	}
	return p
}

// afterPosting is the posted balance of (account, asset) once the
// operation's balances are in place.
func (b *batch) afterPosting(bals []ledger.Balance, account string, asset money.Asset) int64 {
	for _, x := range bals {
		if x.Account == account && x.Asset == asset {
			return x.Posted
		}
	}
	return b.Balance(account, asset).Posted
}

func holdIDOf(op Op) string {
	switch o := op.(type) {
	case PostHold:
		return o.HoldID
	case VoidHold:
		return o.HoldID
	case ExpireHold:
		return o.HoldID
	}
	return ""
}

func dedupe(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, s := range ids {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// assetOf turns a stored asset code back into an Asset: a currency, or else
// a security (listed or not: a delisted security's balances still exist).
func assetOf(code string) (money.Asset, error) {
	if a, err := money.Currency(code); err == nil {
		return a, nil
	}
	a, err := money.Security(code)
	if err != nil {
		return money.Asset{}, fmt.Errorf("stored asset %q: %w", code, err)
	}
	return a, nil
}

// micros0 is the stored form of an optional time: 0 for the zero time.
func micros0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Micros(t)
}

func fromMicros0(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

// pgState returns the SQLSTATE of a PostgreSQL error in err's chain.
func pgState(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
