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
// # Controls
//
// Before a cash transfer moves money it passes the controls of package
// policy and the fraud rules (an Assessor):
//   - step-up: above the step-up threshold a maker with 2FA must have
//     passed a second-factor check recently;
//   - limits: the maker's tier caps each transfer, and the day's and month's
//     outgoing totals are counters the posting engine judges in the
//     transaction, so concurrent transfers can never both slip under a
//     limit;
//   - approvals: at or below the auto-approve threshold the transfer
//     executes at once (201); above it, or when the fraud score reaches the
//     review score (under_review), its funds are held (a ledger hold) and it
//     waits (202) for one or two approvers who are not its maker. The last
//     approval posts the hold in the same transaction as the status change;
//     a rejection or the expiry voids it and gives back what the transfer
//     counted against the limits. Every transition is a conditional update
//     riding on the engine operation, so of two racing decisions exactly
//     one wins.
//
// A reversal is a transfer of its own (kind reversal) that posts the
// compensating entry of an executed transfer, at most once; above the
// threshold it waits for an approver other than its maker.
//
// Every transition writes its audit event and its domain events (outbox) in
// the same transaction.
package transfer

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/policy"
	"github.com/fiscus/fiscus/internal/store"
)

// IDPrefix is the type prefix of transfer IDs ("trf_…").
const IDPrefix = "trf"

// Kinds of transfer.
const (
	KindCash       = "cash"
	KindShares     = "shares"
	KindAdjustment = "adjustment"
	KindReversal   = "reversal" // undoes an executed transfer (ReversesID)
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

// Waiting reports whether a transfer with this status waits on a decision.
func Waiting(status string) bool {
	return status == StatusPendingApproval || status == StatusUnderReview
}

// Error codes of this package.
const (
	CodeSameAccount       fault.Code = "same_account"        // source and destination are the same account
	CodeRecipientNotFound fault.Code = "recipient_not_found" // no such customer account to send to
	CodeUnsupportedKind   fault.Code = "unsupported_kind"    // a transfer kind this endpoint does not take
	CodeLimitExceeded     fault.Code = "limit_exceeded"      // over the customer's per-transfer, daily or monthly limit
	CodeSelfApproval      fault.Code = "self_approval"       // the maker cannot approve or reject their own transfer
	CodeAlreadyDecided    fault.Code = "already_decided"     // this approver already decided about the transfer
	CodeNotPending        fault.Code = "not_pending"         // the transfer does not wait on a decision (any more)
	CodeNotReversible     fault.Code = "not_reversible"      // only executed cash transfers and adjustments can be reversed
)

// MaxMemoRunes bounds a memo; MaxReasonRunes a decision's reason.
const (
	MaxMemoRunes   = 140
	MaxReasonRunes = 500
)

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
	HoldID        string // the hold reserving its funds while it waits
	// BalanceAfter and AvailableAfter are the balance, right after
	// execution, of the account the maker acted on: the source account of a
	// transfer, the adjusted account of an adjustment. Shown to the maker.
	BalanceAfter   *int64
	AvailableAfter *int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExecutedAt     time.Time // zero until executed

	RequiredApprovals int          // distinct approvers it needs (0: executes at once)
	Approvals         int          // approvals so far
	RiskScore         int          // fraud and velocity score
	RiskReasons       []RiskReason // why, rule by rule
	ExpiresAt         time.Time    // a waiting transfer expires then
	ReversesID        string       // kind reversal: the transfer it undoes
	ReversalID        string       // status reversed: the reversal that undid it
	Reason            string       // why it was rejected or reversed
	DecidedAt         time.Time    // approved for good, rejected or expired
	Decisions         []Decision   // who decided what (Get only)
}

// BalanceAccountID names the account BalanceAfter is about.
func (t Transfer) BalanceAccountID() string {
	if t.Kind == KindAdjustment && t.FromOwnerID == "" {
		return t.ToAccountID
	}
	return t.FromAccountID
}

// Decision is one approver's decision about a transfer.
type Decision struct {
	UserID   string
	Decision string // "approve" or "reject"
	Reason   string
	At       time.Time
}

// RiskReason is one fraud or velocity rule that fired.
type RiskReason struct {
	Rule    string `json:"rule"`
	Points  int    `json:"points"`
	Message string `json:"message"`
}

// Risk is the fraud and velocity assessment of a transfer.
type Risk struct {
	Score   int
	Reasons []RiskReason
	Review  bool // the score reached the review threshold
}

// RiskInput is what a transfer's assessment looks at.
type RiskInput struct {
	Now                time.Time
	UserID, SessionID  string
	IP, UserAgent      string
	Amount             int64
	Currency           string
	RecipientAccountID string
	RecipientOwnerID   string
}

// Assessor scores cash transfers for review before they move money.
type Assessor interface {
	Assess(ctx context.Context, in RiskInput) (Risk, error)
}

// Observer is an Assessor that keeps the history it assesses against in
// memory: it hears of every transfer the service committed, new or with a
// new status, right after the commit. Committed must be quick.
type Observer interface {
	Committed(t Transfer)
}

// Service implements the transfer use cases.
type Service struct {
	db       *store.DB
	eng      *journal.Engine
	accts    *accounts.Service
	keys     *idempotency.Keeper
	policy   policy.Policy
	risk     Assessor
	observer Observer // the Assessor, when it is one
	now      func() time.Time
}

// Deps are the service's collaborators.
type Deps struct {
	DB       *store.DB
	Engine   *journal.Engine
	Accounts *accounts.Service
	Keys     *idempotency.Keeper
	Policy   policy.Policy    // approvals, step-up and limits
	Risk     Assessor         // nil: no fraud rules
	Now      func() time.Time // nil: time.Now
}

// New returns a service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{db: d.DB, eng: d.Engine, accts: d.Accounts, keys: d.Keys, policy: d.Policy, risk: d.Risk, now: d.Now}
	s.observer, _ = d.Risk.(Observer)
	return s
}

// committed tells the observer about transfers just committed.
func (s *Service) committed(ts ...Transfer) {
	if s.observer == nil {
		return
	}
	for _, t := range ts {
		s.observer.Committed(t)
	}
}

// reversedBy is original as a reversal that executed left it.
func reversedBy(original Transfer, reversal Transfer) Transfer {
	original.Status, original.ReversalID, original.UpdatedAt = StatusReversed, reversal.ID, reversal.UpdatedAt
	return original
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Actor is who asks, for authorization, idempotency scope, audit, step-up
// and risk.
type Actor struct {
	UserID    string
	SessionID string
	RequestID string
	IP        string
	UserAgent string
	// Tier is the actor's customer tier, for their limits ("" reads it).
	Tier string
	// StepUp returns nil when the actor passed a second-factor check
	// recently enough (or has no 2FA), else the step-up error. nil: never
	// asked (services acting on their own).
	StepUp func() error
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
	// Body is the new transfer's response exactly as stored for retries
	// (Idem.Render of the committed outcome), when the posting engine
	// rendered it; nil: render Transfer.
	Body   []byte
	Replay *idempotency.Stored
}

// Status is the HTTP status of a new transfer's answer: 201 when it
// executed, 202 when it waits on someone.
func (o Outcome) Status() int {
	if o.Replay != nil {
		return o.Replay.Status
	}
	if Waiting(o.Transfer.Status) {
		return 202
	}
	return 201
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
// theirs or to another customer's. Depending on the controls it executes at
// once (201), or waits for approval or review with its funds held (202).
func (s *Service) Cash(ctx context.Context, a Actor, req CashRequest, idem Idem) (Outcome, error) {
	return s.run(ctx, a, idem, func(ctx context.Context, now time.Time) (draft, error) {
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
		if a.StepUp != nil && s.policy.NeedsStepUp(asset.Code(), req.Amount) {
			if err := a.StepUp(); err != nil {
				return draft{}, err
			}
		}
		d := draft{kind: KindCash, from: from, to: to, asset: asset, amount: req.Amount, memo: memo,
			approvals: s.policy.Approvals(KindCash, asset.Code(), req.Amount)}
		if d.limits, err = s.limitsOf(ctx, a, asset.Code(), req.Amount, now); err != nil {
			return draft{}, err
		}
		if s.risk != nil {
			d.risk, err = s.risk.Assess(ctx, RiskInput{Now: now, UserID: a.UserID, SessionID: a.SessionID, IP: a.IP,
				UserAgent: a.UserAgent, Amount: req.Amount, Currency: asset.Code(), RecipientAccountID: to.ID,
				RecipientOwnerID: to.OwnerID})
			if err != nil {
				return draft{}, fmt.Errorf("assess transfer: %w", err)
			}
		}
		return d, nil
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
	return s.run(ctx, a, idem, func(ctx context.Context, _ time.Time) (draft, error) {
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
		d := draft{kind: KindAdjustment, from: extRef, to: acct, asset: asset, amount: req.Amount, memo: memo}
		if req.Amount < 0 {
			d.from, d.to, d.amount = acct, extRef, -req.Amount
		}
		return d, nil
	})
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
