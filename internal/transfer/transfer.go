// Package transfer is the transfers service: customers moving cash between
// their own accounts or to another customer, and administrators' adjustments
// that fund (or debit) an account against the external funding account.
//
// A transfer is one journal operation: its entry, the transfer row, the
// Idempotency-Key claim with the response to replay, and its audit event are
// handed to the posting engine together and commit in one durable
// transaction, or none of them does. So:
//   - a transfer answered 201 is committed, exactly once, with its entry,
//     the resulting balance of the source account and its audit event;
//   - a refused transfer (insufficient funds, frozen account, key already
//     used) wrote nothing;
//   - a retry with the same key and request gets the original response back,
//     byte for byte, even when the same request would now be refused (the
//     account drained since, say); the same key with another request is
//     idempotency_key_reused (422); the same key while the first request is
//     still running here waits for it and gets its answer (or, after
//     idempotency.MaxInFlightWait, idempotency_key_in_flight, 409).
//
// The idempotency key is claimed optimistically: the happy path reads
// nothing about the key, and the stored record is only looked up when the
// movement fails. Who owns an account, its kind and its currency never
// change, so they are resolved from an in-memory cache (accounts.Ref); what
// can change (status, balances) is judged by the engine inside the
// transaction.
//
// Statuses are those of the approval workflow (pending_approval,
// under_review, executed, rejected, expired, failed, reversed); cash
// transfers and adjustments execute at once.
package transfer

import (
	"context"
	"errors"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// IDPrefix is the type prefix of transfer IDs ("trf_…").
const IDPrefix = "trf"

// Kinds of transfer.
const (
	KindCash       = "cash"
	KindShares     = "shares"
	KindAdjustment = "adjustment"
)

// Statuses of a transfer.
const (
	StatusPendingApproval = "pending_approval"
	StatusUnderReview     = "under_review"
	StatusExecuted        = "executed"
	StatusRejected        = "rejected"
	StatusExpired         = "expired"
	StatusFailed          = "failed"
	StatusReversed        = "reversed"
)

// Statuses lists every status, for validating filters.
var Statuses = []string{StatusPendingApproval, StatusUnderReview, StatusExecuted, StatusRejected,
	StatusExpired, StatusFailed, StatusReversed}

// Error codes of this package.
const (
	CodeSameAccount       fault.Code = "same_account"        // source and destination are the same account
	CodeRecipientNotFound fault.Code = "recipient_not_found" // no such customer account to send to
	CodeUnsupportedKind   fault.Code = "unsupported_kind"    // a transfer kind this endpoint does not take
)

// MaxMemoRunes bounds a memo.
const MaxMemoRunes = 140

// Transfer is a request to move money and its life.
type Transfer struct {
	ID            string
	Kind          string
	Status        string
	MakerID       string // the user who asked for it
	FromAccountID string
	ToAccountID   string
	FromOwnerID   string // empty for a system account
	ToOwnerID     string
	Currency      string // the asset moved: a currency code (a symbol for shares)
	Amount        int64  // minor units, > 0
	Memo          string
	EntryID       string // the entry that executed it
	// BalanceAfter and AvailableAfter are the balance, right after
	// execution, of the account the maker acted on: the source account of a
	// transfer, the adjusted account of an adjustment. Shown to the maker.
	BalanceAfter   *int64
	AvailableAfter *int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExecutedAt     time.Time // zero until executed
}

// BalanceAccountID names the account BalanceAfter is about.
func (t Transfer) BalanceAccountID() string {
	if t.Kind == KindAdjustment && t.FromOwnerID == "" {
		return t.ToAccountID
	}
	return t.FromAccountID
}

// Service implements the transfer use cases.
type Service struct {
	db    *store.DB
	eng   *journal.Engine
	accts *accounts.Service
	keys  *idempotency.Keeper
	now   func() time.Time
}

// Deps are the service's collaborators.
type Deps struct {
	DB       *store.DB
	Engine   *journal.Engine
	Accounts *accounts.Service
	Keys     *idempotency.Keeper
	Now      func() time.Time // nil: time.Now
}

// New returns a service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{db: d.DB, eng: d.Engine, accts: d.Accounts, keys: d.Keys, now: d.Now}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Actor is who asks, for authorization, idempotency scope and audit.
type Actor struct {
	UserID    string
	RequestID string
	IP        string
}

// Idem is a request's Idempotency-Key, the fingerprint of the request
// (idempotency.Hash), and how to render the response a retry gets back.
// Render must be deterministic and quick: it runs in the posting engine's
// writer, inside the transaction.
type Idem struct {
	Key    string
	Hash   string
	Render func(Transfer) []byte
}

// Outcome is the answer to a money-moving request: the new transfer, or the
// stored response of the earlier identical request to replay as it is.
type Outcome struct {
	Transfer Transfer
	Replay   *idempotency.Stored
}

// CashRequest is a cash transfer. Exactly one of ToAccountID and ToEmail is
// set.
type CashRequest struct {
	FromAccountID string
	ToAccountID   string
	ToEmail       string // normalized
	Amount        int64  // minor units of Currency, > 0
	Currency      string
	Memo          string
}

// Cash moves money from one of the actor's accounts to another account of
// theirs or to another customer's.
func (s *Service) Cash(ctx context.Context, a Actor, req CashRequest, idem Idem) (Outcome, error) {
	return s.run(ctx, a, idem, func(ctx context.Context) (draft, error) {
		memo, err := checkMemo(req.Memo)
		if err != nil {
			return draft{}, err
		}
		asset, err := checkAmount(req.Amount, req.Currency, false)
		if err != nil {
			return draft{}, err
		}
		from, err := s.accts.Ref(ctx, req.FromAccountID)
		if err != nil || from.OwnerID != a.UserID {
			return draft{}, notFoundField("from_account_id", "The source account does not exist.", err)
		}
		to, err := s.recipient(ctx, req, asset)
		if err != nil {
			return draft{}, err
		}
		if to.ID == from.ID {
			return draft{}, fault.Invalidf("to_account_id", string(CodeSameAccount), "The destination is the source account.")
		}
		if from.Currency != asset.Code() {
			return draft{}, currencyMismatch("from_account_id", from)
		}
		if to.Currency != asset.Code() {
			return draft{}, currencyMismatch("to_account_id", to)
		}
		return draft{
			kind: KindCash, from: from, to: to, asset: asset, amount: req.Amount, memo: memo,
			action: "transfer.executed",
		}, nil
	})
}

// recipient resolves the destination of a cash transfer: by account ID
// (any customer's account) or by email (their receiving account in the
// currency). Unknown, system and unreachable destinations are all
// recipient_not_found.
func (s *Service) recipient(ctx context.Context, req CashRequest, asset money.Asset) (accounts.Ref, error) {
	switch {
	case (req.ToAccountID == "") == (req.ToEmail == ""):
		return accounts.Ref{}, fault.Invalidf("to_account_id", "required", "Give exactly one of to_account_id and to_email.")
	case req.ToAccountID != "":
		to, err := s.accts.Ref(ctx, req.ToAccountID)
		if err != nil || to.System() {
			return accounts.Ref{}, notFoundAs(err, fault.Invalidf("to_account_id", string(CodeRecipientNotFound), "No customer account has this ID."))
		}
		return to, nil
	default:
		to, err := s.accts.RecipientByEmail(ctx, req.ToEmail, asset.Code())
		if err != nil {
			return accounts.Ref{}, notFoundAs(err, fault.Invalidf("to_email", string(CodeRecipientNotFound),
				"No customer with this email has an active account in %s.", asset.Code()))
		}
		return to, nil
	}
}

// AdjustmentRequest credits (Amount > 0) or debits (Amount < 0) a customer
// account against the external funding account.
type AdjustmentRequest struct {
	AccountID string
	Amount    int64
	Currency  string
	Memo      string
}

// Adjust posts an administrator's adjustment. Authorization (LedgerAdjust)
// is the caller's; the account may belong to anyone.
func (s *Service) Adjust(ctx context.Context, a Actor, req AdjustmentRequest, idem Idem) (Outcome, error) {
	return s.run(ctx, a, idem, func(ctx context.Context) (draft, error) {
		memo, err := checkMemo(req.Memo)
		if err != nil {
			return draft{}, err
		}
		asset, err := checkAmount(req.Amount, req.Currency, true)
		if err != nil {
			return draft{}, err
		}
		acct, err := s.accts.Ref(ctx, req.AccountID)
		if err != nil || acct.System() {
			return draft{}, notFoundField("account_id", "The account does not exist.", err)
		}
		if acct.Currency != asset.Code() {
			return draft{}, currencyMismatch("account_id", acct)
		}
		ext, err := s.accts.SystemAccount(ctx, ledger.KindExternal, asset.Code())
		if err != nil {
			return draft{}, err
		}
		extRef := accounts.Ref{ID: ext.ID, Kind: ext.Kind, Currency: ext.Currency}
		d := draft{kind: KindAdjustment, from: extRef, to: acct, asset: asset, amount: req.Amount, memo: memo,
			action: "ledger.adjusted"}
		if req.Amount < 0 {
			d.from, d.to, d.amount = acct, extRef, -req.Amount
		}
		return d, nil
	})
}

// draft is a validated movement, ready to become one journal operation.
type draft struct {
	kind     string
	from, to accounts.Ref
	asset    money.Asset
	amount   int64 // > 0, moved from → to
	memo     string
	action   string // audit action
}

// run claims the key in flight, builds and submits the movement, and on
// failure replays the stored response if the same request succeeded before.
func (s *Service) run(ctx context.Context, a Actor, idem Idem, build func(context.Context) (draft, error)) (Outcome, error) {
	release, err := s.keys.Acquire(ctx, a.UserID, idem.Key)
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	t, err := s.submit(ctx, a, idem, build)
	if err == nil {
		return Outcome{Transfer: t}, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Outcome{}, err
	}
	// Nothing of this attempt was written (or its outcome is unknown). An
	// earlier identical request may have succeeded: a retry must get its
	// response even if the same request would be refused now.
	stored, lerr := s.keys.Lookup(ctx, a.UserID, idem.Key, idem.Hash)
	switch {
	case fault.Is(lerr, fault.IdempotencyReused):
		return Outcome{}, lerr
	case lerr == nil && stored != nil:
		return Outcome{Replay: stored}, nil
	case fault.Is(err, journal.CodeClaimTaken):
		// Taken, yet no record to show: it expired and was swept between
		// the two statements. Rare; the client's retry runs again.
		return Outcome{}, fault.New(fault.IdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
	}
	return Outcome{}, err
}

// transferColumns are the columns of a new transfer row.
var transferColumns = []string{"id", "kind", "status", "maker_user_id", "from_account_id", "to_account_id",
	"from_owner_id", "to_owner_id", "asset", "amount", "memo", "entry_id", "balance_after", "available_after",
	"created_at", "updated_at", "executed_at"}

// submit turns the draft into one journal operation and waits for it.
func (s *Service) submit(ctx context.Context, a Actor, idem Idem, build func(context.Context) (draft, error)) (Transfer, error) {
	d, err := build(ctx)
	if err != nil {
		return Transfer{}, err
	}
	now := s.clock()
	t := Transfer{
		ID: id.New(IDPrefix, now), Kind: d.kind, Status: StatusExecuted, MakerID: a.UserID,
		FromAccountID: d.from.ID, ToAccountID: d.to.ID, FromOwnerID: d.from.OwnerID, ToOwnerID: d.to.OwnerID,
		Currency: d.asset.Code(), Amount: d.amount, Memo: d.memo,
		EntryID: id.New(journal.EntryIDPrefix, now), CreatedAt: now, UpdatedAt: now, ExecutedAt: now,
	}
	// after is the transfer as the committed operation left it.
	after := func(r journal.Result) Transfer {
		out := t
		if b, ok := r.Balance(t.BalanceAccountID(), d.asset); ok {
			posted := b.Posted
			out.BalanceAfter = &posted
			if avail, ok := money.SubUnits(b.Posted, b.Held); ok {
				out.AvailableAfter = &avail
			}
		}
		return out
	}
	_, auditVals, err := audit.Row(audit.Event{
		At: now, ActorKind: audit.ActorUser, ActorID: a.UserID, Action: d.action,
		TargetType: "transfer", TargetID: t.ID, RequestID: a.RequestID, IP: a.IP,
		Details: map[string]any{
			"kind": t.Kind, "from_account_id": t.FromAccountID, "to_account_id": t.ToAccountID,
			"amount": t.Amount, "currency": t.Currency, "entry_id": t.EntryID,
		},
	})
	if err != nil {
		return Transfer{}, err
	}
	rec := idempotency.Record{Scope: a.UserID, Key: idem.Key, Hash: idem.Hash, ResourceID: t.ID, Status: 201, Now: now}
	// The claim row carries the response a retry gets, rendered from the
	// committed outcome.
	claim := s.keys.ClaimValuesWith(rec, journal.FromResult(func(r journal.Result) any { return string(idem.Render(after(r))) }))
	op := journal.Post{
		Kind: t.Kind,
		Now:  now,
		Entry: ledger.Entry{
			ID:   t.EntryID,
			Memo: t.Memo,
			Postings: []ledger.Posting{
				{Account: t.FromAccountID, Amount: money.New(-t.Amount, d.asset)},
				{Account: t.ToAccountID, Amount: money.New(t.Amount, d.asset)},
			},
			Metadata: map[string]string{"transfer_id": t.ID},
		},
		Claims: []journal.Row{{Table: idempotency.KeysTable, Columns: s.keys.ClaimColumns(), Values: claim}},
		Rows: []journal.Row{
			{Table: "transfers", Columns: transferColumns, Values: []any{
				t.ID, t.Kind, t.Status, t.MakerID, t.FromAccountID, t.ToAccountID,
				nullable(t.FromOwnerID), nullable(t.ToOwnerID), t.Currency, t.Amount, t.Memo, t.EntryID,
				journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).BalanceAfter) }),
				journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).AvailableAfter) }),
				store.Micros(now), store.Micros(now), store.Micros(now),
			}},
			{Table: audit.Table, Columns: audit.Columns(), Values: auditVals},
		},
	}
	res, err := s.eng.Submit(ctx, op)
	if err != nil {
		return Transfer{}, err
	}
	return after(res), nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ptrValue(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkAmount validates an amount of minor units in currency: positive, or
// for an adjustment non-zero.
func checkAmount(units int64, currency string, signed bool) (money.Asset, error) {
	asset, err := money.Currency(currency)
	if err != nil {
		return money.Asset{}, fault.Invalidf("currency", string(money.CodeUnknownCurrency), "Unknown currency %q.", clip(currency))
	}
	switch {
	case units == 0:
		return money.Asset{}, fault.Invalidf("amount", string(money.CodeInvalidAmount), "The amount cannot be zero.")
	case units < 0 && !signed:
		return money.Asset{}, fault.Invalidf("amount", string(money.CodeInvalidAmount), "The amount must be positive.")
	case units == math.MinInt64:
		return money.Asset{}, fault.Invalidf("amount", string(money.CodeAmountOverflow), "The amount is out of range.")
	}
	return asset, nil
}

// checkMemo trims a memo and checks it: at most MaxMemoRunes printable
// characters.
func checkMemo(raw string) (string, error) {
	memo := strings.TrimSpace(raw)
	if !utf8.ValidString(memo) || utf8.RuneCountInString(memo) > MaxMemoRunes || len(memo) > ledger.MaxMemoLen {
		return "", fault.Invalidf("memo", "invalid_memo", "A memo is at most %d characters.", MaxMemoRunes)
	}
	for _, r := range memo {
		if unicode.IsControl(r) {
			return "", fault.Invalidf("memo", "invalid_memo", "A memo cannot contain control characters.")
		}
	}
	return memo, nil
}

func currencyMismatch(field string, r accounts.Ref) error {
	return fault.Invalidf(field, string(money.CodeCurrencyMismatch), "The account holds %s, not the transfer's currency.", r.Currency)
}

// notFoundField answers not_found for an account the caller may not use,
// the same as for one that does not exist. err, if it is not a not_found,
// is passed through (a database failure is not a missing account).
func notFoundField(field, msg string, err error) error {
	nf := fault.New(fault.NotFound, "%s", msg)
	nf.Fields = []fault.FieldError{{Field: field, Code: string(fault.NotFound), Message: msg}}
	return notFoundAs(err, nf)
}

// notFoundAs returns as when err is nil or a not_found, else err.
func notFoundAs(err error, as *fault.Error) error {
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	return as
}

func clip(s string) string {
	const n = 32
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
