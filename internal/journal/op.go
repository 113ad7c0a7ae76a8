package journal

import (
	"errors"
	"fmt"
	"slices"
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
)

// Error codes of this package (besides those of ledger and money, which
// refusals carry unchanged).
const (
	CodeHoldNotFound  fault.Code = "hold_not_found"  // PostHold, VoidHold, ExpireHold name no hold
	CodeHoldExists    fault.Code = "hold_exists"     // Reserve with an ID already used
	CodeEntryNotFound fault.Code = "entry_not_found" // Reverse names no entry
	CodeClaimTaken    fault.Code = "claim_taken"     // a claim row conflicts with an existing row
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
type Op interface {
	// common returns the fields every operation has.
	common() (now time.Time, claims, rows []Row)
}

// Post records a balanced entry. Entry.ID may be empty (Submit assigns an
// "ent_…" ID); an ID set by the caller must be new, from id.New.
type Post struct {
	Entry  ledger.Entry
	Kind   string // what the entry is: "transfer", "adjustment", …; default KindEntry
	Now    time.Time
	Claims []Row
	Rows   []Row
}

// Reserve creates a pending hold. Hold.ID may be empty (Submit assigns a
// "hold_…" ID).
type Reserve struct {
	Hold   ledger.HoldRequest
	Now    time.Time
	Claims []Row
	Rows   []Row
}

// PostHold captures a pending hold: Amount minor units (0: the whole hold),
// as entry EntryID (empty: Submit assigns one). The rest is released.
type PostHold struct {
	HoldID  string
	Amount  int64
	EntryID string
	Kind    string // default KindHold
	Memo    string
	Now     time.Time
	Claims  []Row
	Rows    []Row
}

// VoidHold cancels a pending hold before its deadline.
type VoidHold struct {
	HoldID string
	Now    time.Time
	Claims []Row
	Rows   []Row
}

// ExpireHold ends a pending hold whose deadline has come (Now ≥ deadline).
type ExpireHold struct {
	HoldID string
	Now    time.Time
	Claims []Row
	Rows   []Row
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
}

func (o Post) common() (time.Time, []Row, []Row)       { return o.Now, o.Claims, o.Rows }
func (o Reserve) common() (time.Time, []Row, []Row)    { return o.Now, o.Claims, o.Rows }
func (o PostHold) common() (time.Time, []Row, []Row)   { return o.Now, o.Claims, o.Rows }
func (o VoidHold) common() (time.Time, []Row, []Row)   { return o.Now, o.Claims, o.Rows }
func (o ExpireHold) common() (time.Time, []Row, []Row) { return o.Now, o.Claims, o.Rows }
func (o Reverse) common() (time.Time, []Row, []Row)    { return o.Now, o.Claims, o.Rows }

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
func (r Row) resolve(p *plan) []any {
	var out []any
	for i, v := range r.Values {
		if f, ok := v.(FromResult); ok {
			if out == nil {
				out = slices.Clone(r.Values)
			}
			out[i] = f(p.result())
		}
	}
	if out == nil {
		return r.Values
	}
	return out
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
	now, claims, rows := op.common()
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
		switch v := v.(type) {
		case string:
			if len(v) > maxValueBytes {
				return invalidOp("row value too large")
			}
		case []byte:
			if len(v) > maxValueBytes {
				return invalidOp("row value too large")
			}
		}
	}
	return nil
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
