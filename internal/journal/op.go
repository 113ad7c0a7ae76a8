package journal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

// ID prefixes of the rows the engine creates.
const (
	EntryIDPrefix = "ent"
	HoldIDPrefix  = "hold"
)

// Entry kinds the engine writes on its own; callers name their own kinds
// ("transfer", "adjustment", "trade", …) in Post.Kind.
const (
	KindEntry    = "entry"    // Post without a Kind
	KindHold     = "hold"     // PostHold without a Kind
	KindReversal = "reversal" // Reverse
)

// Limits on what one operation may carry.
const (
	MaxKindLen     = 32 // bytes of an entry kind
	MaxRowsPerOp   = 16 // extra rows per operation
	MaxClaimsPerOp = 4  // claims per operation
	MaxRowColumns  = 64 // columns of one extra row or claim
	maxIdentLen    = 63 // bytes of a table or column name (PostgreSQL's limit)
	maxValueBytes  = 1 << 20

	MaxUpdatesPerOp  = 8    // conditional updates per operation
	MaxUpdateSQLLen  = 4096 // bytes of one update's SQL
	MaxUpdateArgs    = 64   // arguments of one update
	MaxCountersPerOp = 8    // counters per operation
	MaxCounterKeyLen = 128  // bytes of a counter key
)

// Error codes of this package (besides those of ledger and money, which
// refusals carry unchanged).
const (
	CodeHoldNotFound  fault.Code = "hold_not_found"  // PostHold, VoidHold, ExpireHold name no hold
	CodeHoldExists    fault.Code = "hold_exists"     // Reserve with an ID already used
	CodeEntryNotFound fault.Code = "entry_not_found" // Reverse names no entry
	CodeClaimTaken    fault.Code = "claim_taken"     // a claim row conflicts with an existing row
	CodeStale         fault.Code = "state_changed"   // an Update did not affect the rows it expected
	CodeLimitExceeded fault.Code = "limit_exceeded"  // a Counter would pass its ceiling
	CodeInvalidOp     fault.Code = "invalid_operation"
)

var (
	// ErrStopped is returned for operations submitted after Run began to
	// stop, or still queued when the drain deadline passed. Nothing of such
	// an operation was written.
	ErrStopped = fault.New(fault.Unavailable, "The ledger is shutting down; try again.")
	// ErrWithdrawn is wrapped (with the context's error) when a caller's
	// context ended while its operation was still queued: it was removed
	// from the queue and nothing was written.
	ErrWithdrawn = errors.New("journal: operation withdrawn before it was applied")
	// ErrOutcomeUnknown is wrapped when COMMIT itself failed: the batch may
	// or may not have been committed.
	ErrOutcomeUnknown = errors.New("journal: commit failed, outcome unknown")
)

// Op is one ledger operation: Post, Reserve, PostHold, VoidHold, ExpireHold
// or Reverse.
//
// Besides its ledger change, every operation may carry, all committed
// atomically with it and only if it is accepted:
//   - Claims: rows that must not exist yet (see Row); a taken claim refuses
//     the operation with CodeClaimTaken.
//   - Rows: extra rows to insert (see Row).
//   - Updates: statements on the caller's own rows that must affect an
//     exact number of rows (see Update), run after the rows; otherwise the
//     operation is refused with CodeStale.
//   - Counters: running totals with ceilings (see Counter), judged like
//     balances; one that would pass its ceiling refuses the operation with
//     CodeLimitExceeded.
type Op interface {
	// common returns the fields every operation has.
	common() extras
}

// extras are the fields every operation has besides its ledger change.
type extras struct {
	now      time.Time
	claims   []Row
	rows     []Row
	updates  []Update
	counters []Counter
}

// Post records a balanced entry. Entry.ID may be empty (Submit assigns an
// "ent_…" ID); an ID set by the caller must be new, from id.New.
type Post struct {
	Entry    ledger.Entry
	Kind     string // what the entry is: "transfer", "adjustment", …; default KindEntry
	Now      time.Time
	Claims   []Row
	Rows     []Row
	Updates  []Update
	Counters []Counter
}

// Reserve creates a pending hold. Hold.ID may be empty (Submit assigns a
// "hold_…" ID).
type Reserve struct {
	Hold     ledger.HoldRequest
	Now      time.Time
	Claims   []Row
	Rows     []Row
	Updates  []Update
	Counters []Counter
}

// PostHold captures a pending hold: Amount minor units (0: the whole hold),
// as entry EntryID (empty: Submit assigns one). The rest is released.
type PostHold struct {
	HoldID   string
	Amount   int64
	EntryID  string
	Kind     string // default KindHold
	Memo     string
	Now      time.Time
	Claims   []Row
	Rows     []Row
	Updates  []Update
	Counters []Counter
}

// VoidHold cancels a pending hold before its deadline.
type VoidHold struct {
	HoldID   string
	Now      time.Time
	Claims   []Row
	Rows     []Row
	Updates  []Update
	Counters []Counter
}

// ExpireHold ends a pending hold whose deadline has come (Now ≥ deadline).
type ExpireHold struct {
	HoldID   string
	Now      time.Time
	Claims   []Row
	Rows     []Row
	Updates  []Update
	Counters []Counter
}

// Reverse posts the compensating entry of EntryID: every posting inverted,
// linked by reversal_of. ReversalID may be empty (Submit assigns one); Memo
// empty means "Reversal of <id>".
type Reverse struct {
	EntryID    string
	ReversalID string
	Memo       string
	Metadata   map[string]string
	Now        time.Time
	Claims     []Row
	Rows       []Row
	Updates    []Update
	Counters   []Counter
}

func (o Post) common() extras       { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }
func (o Reserve) common() extras    { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }
func (o PostHold) common() extras   { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }
func (o VoidHold) common() extras   { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }
func (o ExpireHold) common() extras { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }
func (o Reverse) common() extras    { return extras{o.Now, o.Claims, o.Rows, o.Updates, o.Counters} }

// Row is one extra row an operation writes in its batch's transaction:
// INSERT INTO Table (Columns…) VALUES (Values…). Table and column names are
// identifiers chosen by code, never by clients; values are bound parameters
// of any type the database driver accepts (store times as Unix
// microseconds, as everywhere in Fiscus), or a FromResult computed from the
// operation's outcome.
//
// As one of an operation's Rows it is inserted only if the operation is
// accepted, grouped with the rows of the other accepted operations of the
// batch that have the same table and columns; it must not conflict with
// existing rows (if it does, the batch falls back to careful mode and the
// operation fails alone with an internal error). As a Claim it is inserted
// with ON CONFLICT DO NOTHING, and if it does not insert the operation is
// refused with CodeClaimTaken.
type Row struct {
	Table   string
	Columns []string
	Values  []any
}

// FromResult is a Row value computed from the operation's Result (its
// entry ID, the balances it left) once the operation is accepted, just
// before the row is written — for a stored response that must show the
// resulting balance, say. It runs in the writer goroutine, inside the
// batch's transaction: it must be quick and must not block or do I/O.
type FromResult func(Result) any

// resolve returns r's values with every FromResult computed for p.
func (r Row) resolve(p *plan) []any { return resolveValues(r.Values, p) }

// resolveValues returns vals with every FromResult computed for p (vals
// itself when it holds none).
func resolveValues(vals []any, p *plan) []any {
	var out []any
	for i, v := range vals {
		if f, ok := v.(FromResult); ok {
			if out == nil {
				out = slices.Clone(vals)
			}
			out[i] = f(p.result())
		}
	}
	if out == nil {
		return vals
	}
	return out
}

// Update is a statement an accepted operation runs in its batch's
// transaction after its rows: an UPDATE (or DELETE) of the caller's own
// rows — a transfer's status moving from pending_approval to executed, say —
// and how many rows it must affect. SQL is written by code with "?"
// placeholders (never from clients), starts with UPDATE or DELETE, and
// holds neither ";" nor the word RETURNING (the engine adds its own
// RETURNING to count rows in a pipeline); Args may hold FromResult values. If it
// affects any other number of rows than Want, the operation is refused with
// CodeStale and nothing of it is written; the other operations of the batch
// are not affected (careful mode, as for claims).
//
// This is how a state transition rides along with the money movement
// atomically: approving is a PostHold with "UPDATE transfers SET status =
// 'executed' … WHERE id = ? AND status = 'pending_approval'", Want 1; a
// concurrent rejection that won makes it affect 0 rows, and the PostHold is
// refused. On PostgreSQL (READ COMMITTED) an UPDATE that meets a row held
// by a concurrent transaction waits for it and then re-checks its WHERE
// against the committed row.
//
// The updates of one batch run in queue order and see each other's
// effects: two operations of a batch moving the same row out of the same
// state are judged like two transactions, the second refused.
type Update struct {
	SQL  string
	Args []any
	Want int64 // rows it must affect (≥ 0)
}

// Counter adds Delta to the running total named Key, judged in the batch
// like a balance: the operation is refused with CodeLimitExceeded when
// Max > 0 and the total after it would exceed Max (a total exactly at Max
// is allowed). A negative Delta (releasing what a refused or expired
// transfer counted) is never refused, but a total never goes below zero.
// ExpiresAt says when the row may be swept (SweepCounters); for a daily
// counter, the end of the day plus a margin. When several operations touch
// a counter, the row keeps the latest ExpiresAt.
//
// Key is 1 to MaxCounterKeyLen bytes of printable ASCII, chosen by code
// ("out:day:<user>:2026-01-31", say). A counter that has no row counts as 0.
// Counters of one batch are applied in queue order, so an operation sees
// the totals left by the accepted operations before it; across replicas the
// counter rows are locked like balances (see the package comment), so two
// concurrent operations never both slip under a ceiling.
//
// The refusal carries Extra "counter" (Key), "limit" (Max), "used" (the
// total before the operation) and "requested" (Delta).
type Counter struct {
	Key       string
	Delta     int64
	Max       int64 // ceiling; 0: none
	ExpiresAt time.Time
}

// Result is what an accepted operation produced.
type Result struct {
	// EntryID is the entry written (Post, PostHold, Reverse); empty otherwise.
	EntryID string
	// Hold is the hold as the operation left it (hold operations only).
	Hold *ledger.Hold
	// Balances are the balances the operation changed, as they stood right
	// after it, in the order of the operation's effects (for Post: posting
	// order).
	Balances []ledger.Balance
}

// Balance returns the balance of account in asset after the operation, if
// the operation changed it.
func (r Result) Balance(account string, asset money.Asset) (ledger.Balance, bool) {
	for _, b := range r.Balances {
		if b.Account == account && b.Asset == asset {
			return b, true
		}
	}
	return ledger.Balance{}, false
}

// prepare validates op on its own (no state) and fills in IDs, so that the
// writer does only the work that needs the database. It runs in the caller's
// goroutine.
func prepare(op Op, assets *money.Registry) (Op, error) {
	if op == nil {
		return nil, invalidOp("no operation")
	}
	x := op.common()
	now, claims, rows := x.now, x.claims, x.rows
	if now.IsZero() {
		return nil, invalidOp("Now is required")
	}
	if len(claims) > MaxClaimsPerOp || len(rows) > MaxRowsPerOp {
		return nil, invalidOp(fmt.Sprintf("at most %d claims and %d rows per operation", MaxClaimsPerOp, MaxRowsPerOp))
	}
	for _, r := range append(claims[:len(claims):len(claims)], rows...) {
		if err := r.validate(); err != nil {
			return nil, err
		}
	}
	if len(x.updates) > MaxUpdatesPerOp || len(x.counters) > MaxCountersPerOp {
		return nil, invalidOp(fmt.Sprintf("at most %d updates and %d counters per operation", MaxUpdatesPerOp, MaxCountersPerOp))
	}
	for i, u := range x.updates {
		if err := u.validate(); err != nil {
			return nil, invalidOp(fmt.Sprintf("update %d: %s", i, err))
		}
	}
	for i, c := range x.counters {
		if err := c.validate(); err != nil {
			return nil, invalidOp(fmt.Sprintf("counter %d: %s", i, err))
		}
	}
	switch o := op.(type) {
	case Post:
		if o.Entry.ID == "" {
			o.Entry.ID = id.New(EntryIDPrefix, now)
		}
		if o.Entry.ReversalOf != "" {
			return nil, invalidOp("post a reversal with Reverse")
		}
		if err := o.Entry.Validate(assets); err != nil {
			return nil, err
		}
		if o.Kind == "" {
			o.Kind = KindEntry
		}
		if !validKind(o.Kind) {
			return nil, invalidOp("bad entry kind")
		}
		return o, nil
	case Reserve:
		if o.Hold.ID == "" {
			o.Hold.ID = id.New(HoldIDPrefix, now)
		}
		// The stateless checks of the hold request (amount, asset, accounts,
		// deadline) run here; Apply judges the balances in the writer.
		if _, err := ledger.Reserve(o.Hold, assets, now); err != nil {
			return nil, err
		}
		return o, nil
	case PostHold:
		if o.EntryID == "" {
			o.EntryID = id.New(EntryIDPrefix, now)
		}
		if o.Kind == "" {
			o.Kind = KindHold
		}
		switch {
		case !validID(o.HoldID):
			return nil, holdNotFound(o.HoldID)
		case !validID(o.EntryID):
			return nil, invalidOp("bad entry ID")
		case !validKind(o.Kind):
			return nil, invalidOp("bad entry kind")
		case o.Amount < 0:
			return nil, fault.Invalidf("amount", string(money.CodeInvalidAmount), "A posted amount cannot be negative.")
		}
		if err := validText(o.Memo, nil); err != nil {
			return nil, err
		}
		return o, nil
	case VoidHold:
		if !validID(o.HoldID) {
			return nil, holdNotFound(o.HoldID)
		}
		return o, nil
	case ExpireHold:
		if !validID(o.HoldID) {
			return nil, holdNotFound(o.HoldID)
		}
		return o, nil
	case Reverse:
		if o.ReversalID == "" {
			o.ReversalID = id.New(EntryIDPrefix, now)
		}
		if !validID(o.EntryID) {
			return nil, entryNotFound(o.EntryID)
		}
		if !validID(o.ReversalID) {
			return nil, invalidOp("bad reversal ID")
		}
		if err := validText(o.Memo, o.Metadata); err != nil {
			return nil, err
		}
		return o, nil
	}
	return nil, invalidOp(fmt.Sprintf("unknown operation %T", op))
}

// validText applies the ledger's entry rules for memo and metadata (see
// ledger.Entry.Validate) to the entries the engine builds itself.
func validText(memo string, meta map[string]string) error {
	bad := func(field, msg string) error {
		return fault.Invalidf(field, string(ledger.CodeInvalidEntry), "%s", msg)
	}
	if len(memo) > ledger.MaxMemoLen || !utf8.ValidString(memo) {
		return bad("memo", fmt.Sprintf("A memo is valid UTF-8 of at most %d bytes.", ledger.MaxMemoLen))
	}
	if len(meta) > ledger.MaxMetadata {
		return bad("metadata", fmt.Sprintf("At most %d metadata keys.", ledger.MaxMetadata))
	}
	for k, v := range meta {
		if len(k) == 0 || len(k) > ledger.MaxMetadataKeyLen || !utf8.ValidString(k) ||
			len(v) > ledger.MaxMetadataValueLen || !utf8.ValidString(v) {
			return bad("metadata", "Metadata keys and values are bounded UTF-8 text.")
		}
	}
	return nil
}

func (r Row) validate() error {
	if !validIdent(r.Table) {
		return invalidOp(fmt.Sprintf("bad table name %q", clip(r.Table)))
	}
	if len(r.Columns) == 0 || len(r.Columns) > MaxRowColumns || len(r.Columns) != len(r.Values) {
		return invalidOp(fmt.Sprintf("row for %s: 1 to %d columns, one value each", r.Table, MaxRowColumns))
	}
	for _, c := range r.Columns {
		if !validIdent(c) {
			return invalidOp(fmt.Sprintf("row for %s: bad column name %q", r.Table, clip(c)))
		}
	}
	for _, v := range r.Values {
		if tooLarge(v) {
			return invalidOp("row value too large")
		}
	}
	return nil
}

// tooLarge reports a string or byte value over maxValueBytes.
func tooLarge(v any) bool {
	switch v := v.(type) {
	case string:
		return len(v) > maxValueBytes
	case []byte:
		return len(v) > maxValueBytes
	}
	return false
}

func (u Update) validate() error {
	s := strings.TrimSpace(u.SQL)
	if s == "" || len(u.SQL) > MaxUpdateSQLLen {
		return fmt.Errorf("SQL is 1 to %d bytes", MaxUpdateSQLLen)
	}
	head := s
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		head = s[:i]
	}
	if !strings.EqualFold(head, "UPDATE") && !strings.EqualFold(head, "DELETE") {
		return errors.New("SQL is an UPDATE or a DELETE")
	}
	if strings.Contains(s, ";") || strings.Contains(strings.ToUpper(s), "RETURNING") {
		return errors.New("SQL is one statement without RETURNING")
	}
	if len(u.Args) > MaxUpdateArgs || countPlaceholders(s) != len(u.Args) {
		return fmt.Errorf("one argument per placeholder, at most %d", MaxUpdateArgs)
	}
	if u.Want < 0 {
		return errors.New("the wanted row count (Want) is negative")
	}
	for _, v := range u.Args {
		if tooLarge(v) {
			return errors.New("argument too large")
		}
	}
	return nil
}

// countPlaceholders counts the "?" outside single-quoted literals (as
// store.DB.Rebind rewrites them).
func countPlaceholders(s string) int {
	n, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			quoted = !quoted
		case '?':
			if !quoted {
				n++
			}
		}
	}
	return n
}

func (c Counter) validate() error {
	if !validCounterKey(c.Key) {
		return fmt.Errorf("key is 1 to %d bytes of printable ASCII", MaxCounterKeyLen)
	}
	if c.Max < 0 {
		return errors.New("the ceiling (Max) is negative")
	}
	if c.ExpiresAt.IsZero() {
		return errors.New("an expiry (ExpiresAt) is required")
	}
	return nil
}

func validCounterKey(s string) bool {
	if len(s) == 0 || len(s) > MaxCounterKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validIdent accepts lower-case SQL identifiers that need no quoting.
func validIdent(s string) bool {
	if len(s) == 0 || len(s) > maxIdentLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// validKind accepts 1 to MaxKindLen of [a-z0-9_], starting with a letter.
func validKind(s string) bool { return len(s) <= MaxKindLen && validIdent(s) }

// validID is the ledger's ID rule: 1 to ledger.MaxIDLen ASCII letters,
// digits or _-.:
func validID(s string) bool {
	if len(s) == 0 || len(s) > ledger.MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func invalidOp(why string) *fault.Error {
	return fault.New(CodeInvalidOp, "Invalid ledger operation: %s.", why)
}

func holdNotFound(holdID string) *fault.Error {
	return fault.New(CodeHoldNotFound, "Hold %s does not exist.", clip(holdID)).With("hold_id", clip(holdID))
}

func entryNotFound(entryID string) *fault.Error {
	return fault.New(CodeEntryNotFound, "Entry %s does not exist.", clip(entryID)).With("entry_id", clip(entryID))
}

func clip(s string) string {
	const n = 64
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
