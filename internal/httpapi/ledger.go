package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/transfer"
)

func init() {
	for code, status := range map[fault.Code]int{
		journal.CodeHoldNotFound:    http.StatusNotFound,
		journal.CodeEntryNotFound:   http.StatusNotFound,
		journal.CodeClaimTaken:      http.StatusConflict,
		journal.CodeInvalidOp:       http.StatusInternalServerError,
		journal.CodeHoldExists:      http.StatusInternalServerError,
		journal.CodeStale:           http.StatusConflict,
		transfer.CodeSelfApproval:   http.StatusForbidden,
		transfer.CodeAlreadyDecided: http.StatusConflict,
		transfer.CodeNotPending:     http.StatusConflict,
		transfer.CodeNotReversible:  http.StatusConflict,
	} {
		statusByCode[code] = status
	}
}

// ledgerRoutes are accounts, statements, transfers, adjustments and the
// ledger verifier.
func (s *Server) ledgerRoutes() {
	s.route("GET /api/v1/accounts", authz.Authenticated, s.handleListAccounts)
	s.route("POST /api/v1/accounts", authz.AccountsOwn, s.handleOpenAccount)
	s.route("GET /api/v1/accounts/{id}", authz.Authenticated, s.handleGetAccount)
	s.route("GET /api/v1/accounts/{id}/statement", authz.Authenticated, s.handleStatement)
	s.route("POST /api/v1/transfers", authz.TransfersOwn, s.handleCreateTransfer)
	s.route("GET /api/v1/transfers", authz.Authenticated, s.handleListTransfers)
	s.route("GET /api/v1/transfers/{id}", authz.Authenticated, s.handleGetTransfer)
	s.route("POST /api/v1/transfers/{id}/approve", authz.TransfersApprove, s.handleDecision(transfer.DecisionApprove))
	s.route("POST /api/v1/transfers/{id}/reject", authz.TransfersApprove, s.handleDecision(transfer.DecisionReject))
	s.route("POST /api/v1/transfers/{id}/reverse", authz.TransfersReverse, s.handleReverse)
	s.route("POST /api/v1/admin/adjustments", authz.LedgerAdjust, s.handleAdjustment)
	s.route("POST /api/v1/admin/ledger/verify", authz.LedgerVerify, s.handleLedgerVerify)
}

// --- accounts ---

type holdingView struct {
	Symbol            string `json:"symbol"`
	Quantity          int64  `json:"quantity"`
	AvailableQuantity int64  `json:"available_quantity"`
}

type accountView struct {
	ID               string        `json:"id"`
	OwnerID          string        `json:"owner_id"`
	Type             string        `json:"type"`
	Name             string        `json:"name"`
	Currency         string        `json:"currency"`
	Balance          int64         `json:"balance"`
	AvailableBalance int64         `json:"available_balance"`
	CreditLimit      int64         `json:"credit_limit"`
	Status           string        `json:"status"`
	CreatedAt        time.Time     `json:"created_at"`
	Holdings         []holdingView `json:"holdings,omitempty"`
}

func viewAccount(a accounts.Account) accountView {
	v := accountView{
		ID: a.ID, OwnerID: a.OwnerID, Type: string(a.Kind), Name: a.Name, Currency: a.Currency,
		Balance: a.Balance, AvailableBalance: a.AvailableBalance, CreditLimit: a.CreditLimit,
		Status: string(a.Status), CreatedAt: a.CreatedAt,
	}
	if a.Kind == ledger.KindInvestment {
		v.Holdings = make([]holdingView, 0, len(a.Holdings))
		for _, h := range a.Holdings {
			v.Holdings = append(v.Holdings, holdingView{Symbol: h.Symbol, Quantity: h.Quantity, AvailableQuantity: h.AvailableQuantity})
		}
	}
	return v
}

type openAccountRequest struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Currency    string `json:"currency"`
	CreditLimit int64  `json:"credit_limit"`
}

func (s *Server) handleOpenAccount(w http.ResponseWriter, r *http.Request) error {
	var req openAccountRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	a, err := s.accounts.Open(r.Context(), principalOf(r).UserID, ledger.Kind(req.Type), req.Name, req.Currency, req.CreditLimit)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/accounts/"+a.ID)
	return writeJSON(w, http.StatusCreated, viewAccount(a))
}

// handleListAccounts lists the caller's accounts, or with owner_id (staff
// with accounts:read) someone else's.
func (s *Server) handleListAccounts(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fault.Invalidf("query", "malformed", "the query string is not valid URL encoding")
	}
	p := principalOf(r)
	owner := p.UserID
	if o := q.Get("owner_id"); o != "" && o != p.UserID {
		if !p.Can(authz.AccountsRead) {
			return fault.New(fault.Forbidden, "Your role does not allow reading other users' accounts.")
		}
		owner = o
	}
	list, err := s.accounts.List(r.Context(), owner)
	if err != nil {
		return err
	}
	out := listResponse[accountView]{Data: make([]accountView, 0, len(list))}
	for _, a := range list {
		out.Data = append(out.Data, viewAccount(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

// readableAccount returns the owner whose account id the caller may read:
// their own, or anyone's with accounts:read. Anything else is not_found.
func (s *Server) readableAccount(r *http.Request, accountID string) (string, error) {
	p := principalOf(r)
	if !p.Can(authz.AccountsRead) {
		return p.UserID, nil
	}
	ref, err := s.accounts.Ref(r.Context(), accountID)
	if err != nil {
		return "", err
	}
	if ref.System() {
		return "", fault.New(fault.NotFound, "The account does not exist.")
	}
	return ref.OwnerID, nil
}

func (s *Server) handleGetAccount(w http.ResponseWriter, r *http.Request) error {
	accountID := r.PathValue("id")
	owner, err := s.readableAccount(r, accountID)
	if err != nil {
		return err
	}
	a, err := s.accounts.Get(r.Context(), owner, accountID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewAccount(a))
}

// --- transfers ---

type transferView struct {
	ID                string     `json:"id"`
	Kind              string     `json:"kind"`
	Status            string     `json:"status"`
	FromAccountID     string     `json:"from_account_id"`
	ToAccountID       string     `json:"to_account_id"`
	Amount            int64      `json:"amount"`
	Currency          string     `json:"currency"`
	Memo              string     `json:"memo"`
	EntryID           *string    `json:"entry_id"`
	MakerID           string     `json:"maker_id,omitempty"`
	CreatedAt         time.Time  `json:"created_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	ExecutedAt        *time.Time `json:"executed_at"`
	RequiredApprovals int        `json:"required_approvals"`
	Approvals         int        `json:"approvals"`
	ExpiresAt         *time.Time `json:"expires_at,omitempty"`
	DecidedAt         *time.Time `json:"decided_at,omitempty"`
	ReversesID        string     `json:"reverses_id,omitempty"`
	ReversalID        string     `json:"reversal_id,omitempty"`
	Reason            string     `json:"reason,omitempty"`
	// The maker's view adds the balance their transfer left.
	BalanceAccountID      string `json:"balance_account_id,omitempty"`
	BalanceAfter          *int64 `json:"balance_after,omitempty"`
	AvailableBalanceAfter *int64 `json:"available_balance_after,omitempty"`
	// Staff see the risk assessment and the decisions.
	RiskScore   *int                  `json:"risk_score,omitempty"`
	RiskReasons []transfer.RiskReason `json:"risk_reasons,omitempty"`
	Decisions   []decisionView        `json:"decisions,omitempty"`
}

type decisionView struct {
	UserID   string    `json:"user_id"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// viewTransfer renders t for a viewer: the maker sees the balance their
// transfer left; staff see who made it, its risk assessment and who
// decided what.
func viewTransfer(t transfer.Transfer, viewer string, staff bool) transferView {
	v := transferView{
		ID: t.ID, Kind: t.Kind, Status: t.Status, FromAccountID: t.FromAccountID, ToAccountID: t.ToAccountID,
		Amount: t.Amount, Currency: t.Currency, Memo: t.Memo, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		RequiredApprovals: t.RequiredApprovals, Approvals: t.Approvals, ReversesID: t.ReversesID, ReversalID: t.ReversalID,
		Reason: t.Reason, ExecutedAt: timeOrNil(t.ExecutedAt), ExpiresAt: timeOrNil(t.ExpiresAt), DecidedAt: timeOrNil(t.DecidedAt),
	}
	if t.EntryID != "" {
		v.EntryID = &t.EntryID
	}
	if staff {
		v.MakerID = t.MakerID
		score := t.RiskScore
		v.RiskScore = &score
		v.RiskReasons = t.RiskReasons
		if v.RiskReasons == nil {
			v.RiskReasons = []transfer.RiskReason{}
		}
		for _, d := range t.Decisions {
			v.Decisions = append(v.Decisions, decisionView{UserID: d.UserID, Decision: d.Decision, Reason: d.Reason, At: d.At})
		}
	}
	if viewer == t.MakerID && t.BalanceAfter != nil {
		v.BalanceAccountID = t.BalanceAccountID()
		v.BalanceAfter, v.AvailableBalanceAfter = t.BalanceAfter, t.AvailableAfter
	}
	return v
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

type transferRequest struct {
	Kind          string `json:"kind"`
	FromAccountID string `json:"from_account_id"`
	ToAccountID   string `json:"to_account_id,omitempty"`
	ToEmail       string `json:"to_email,omitempty"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
	Memo          string `json:"memo,omitempty"`
	// Share transfers (a later release) name these; they are decoded so that
	// such a request is told the kind is unsupported rather than that the
	// fields are unknown.
	Symbol        string `json:"symbol,omitempty"`
	Quantity      int64  `json:"quantity,omitempty"`
	PricePerShare int64  `json:"price_per_share,omitempty"`
}

const (
	transfersRoute   = "POST /api/v1/transfers"
	adjustmentsRoute = "POST /api/v1/admin/adjustments"
)

func (s *Server) handleCreateTransfer(w http.ResponseWriter, r *http.Request) error {
	var req transferRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	idem, err := s.idempotencyOf(r, transfersRoute, req)
	if err != nil {
		return err
	}
	switch req.Kind {
	case transfer.KindCash:
	case "":
		return fault.Invalidf("kind", "required", "The kind is required: \"cash\".")
	case transfer.KindShares:
		return fault.Invalidf("kind", string(transfer.CodeUnsupportedKind), "Share transfers are not available yet.")
	default:
		return fault.Invalidf("kind", string(transfer.CodeUnsupportedKind), "The kind must be \"cash\".")
	}
	cash := transfer.CashRequest{FromAccountID: req.FromAccountID, ToAccountID: req.ToAccountID,
		Amount: req.Amount, Currency: req.Currency, Memo: req.Memo}
	if req.ToEmail != "" {
		email, err := identity.NormalizeEmail(req.ToEmail)
		if err != nil {
			return fault.Invalidf("to_email", "invalid", "is not an email address")
		}
		cash.ToEmail = email
	}
	out, err := s.transfers.Cash(r.Context(), s.actorOf(r), cash, idem)
	if err != nil {
		return err
	}
	return writeMovement(w, out, idem)
}

type adjustmentRequest struct {
	AccountID string `json:"account_id"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Memo      string `json:"memo,omitempty"`
}

func (s *Server) handleAdjustment(w http.ResponseWriter, r *http.Request) error {
	var req adjustmentRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	idem, err := s.idempotencyOf(r, adjustmentsRoute, req)
	if err != nil {
		return err
	}
	out, err := s.transfers.Adjust(r.Context(), s.actorOf(r),
		transfer.AdjustmentRequest{AccountID: req.AccountID, Amount: req.Amount, Currency: req.Currency, Memo: req.Memo}, idem)
	if err != nil {
		return err
	}
	return writeMovement(w, out, idem)
}

// idempotencyOf reads the request's Idempotency-Key and fingerprints the
// decoded request; the stored response is the maker's view of the transfer.
func (s *Server) idempotencyOf(r *http.Request, route string, body any) (transfer.Idem, error) {
	key := r.Header.Get(idempotency.Header)
	if err := idempotency.ValidateKey(key); err != nil {
		return transfer.Idem{}, err
	}
	hash, err := idempotency.Hash(route, body)
	if err != nil {
		return transfer.Idem{}, err
	}
	p := principalOf(r)
	staff := p.Can(authz.TransfersRead)
	return transfer.Idem{Key: key, Hash: hash, Render: func(t transfer.Transfer) []byte {
		body, err := json.Marshal(viewTransfer(t, p.UserID, staff))
		if err != nil {
			panic("render transfer: " + err.Error()) // plain struct of strings, numbers and times: cannot fail
		}
		return append(body, '\n')
	}}, nil
}

// writeMovement answers a money-moving POST: 201 with the new transfer
// (202 when it waits for approval or review), or the stored response of the
// identical earlier request, marked as replayed.
func writeMovement(w http.ResponseWriter, out transfer.Outcome, idem transfer.Idem) error {
	body, resource := []byte(nil), out.Transfer.ID
	switch {
	case out.Replay != nil:
		body, resource = out.Replay.Body, out.Replay.ResourceID
		w.Header().Set("Idempotent-Replayed", "true")
	case out.Body != nil:
		body = out.Body // what a retry will get, byte for byte
	default:
		body = idem.Render(out.Transfer)
	}
	w.Header().Set("Location", "/api/v1/transfers/"+resource)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(out.Status())
	_, err := w.Write(body)
	return err
}

// actorOf is the caller as the transfer service sees them; StepUp asks for
// a recent second-factor check from callers with 2FA.
func (s *Server) actorOf(r *http.Request) transfer.Actor {
	m, p := metaOf(r), principalOf(r)
	return transfer.Actor{UserID: p.UserID, SessionID: p.SessionID, RequestID: m.RequestID, IP: m.IP, UserAgent: m.UserAgent, Tier: p.Tier,
		StepUp: func() error { return s.ids.RequireRecentMFA(p) }}
}

type decisionRequest struct {
	Reason string `json:"reason"`
}

// handleDecision approves or rejects a waiting transfer.
func (s *Server) handleDecision(decision string) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req decisionRequest
		if err := decodeOptionalJSON(r, &req); err != nil {
			return err
		}
		decide := s.transfers.Approve
		if decision == transfer.DecisionReject {
			decide = s.transfers.Reject
		}
		t, err := decide(r.Context(), s.actorOf(r), r.PathValue("id"), req.Reason)
		if err != nil {
			return err
		}
		v := viewerOf(r)
		return writeJSON(w, http.StatusOK, viewTransfer(t, v.UserID, v.All))
	}
}

type reverseRequest struct {
	Reason string `json:"reason"`
}

// handleReverse undoes an executed transfer with a reversal transfer:
// 201 when it executed, 202 when it waits for another approver.
func (s *Server) handleReverse(w http.ResponseWriter, r *http.Request) error {
	var req reverseRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	idem, err := s.idempotencyOf(r, "POST /api/v1/transfers/{id}/reverse "+r.PathValue("id"), req)
	if err != nil {
		return err
	}
	out, err := s.transfers.Reverse(r.Context(), s.actorOf(r), transfer.ReverseRequest{TransferID: r.PathValue("id"), Reason: req.Reason}, idem)
	if err != nil {
		return err
	}
	return writeMovement(w, out, idem)
}

func viewerOf(r *http.Request) transfer.Viewer {
	p := principalOf(r)
	return transfer.Viewer{UserID: p.UserID, All: p.Can(authz.TransfersRead)}
}

func (s *Server) handleGetTransfer(w http.ResponseWriter, r *http.Request) error {
	v := viewerOf(r)
	t, err := s.transfers.Get(r.Context(), v, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewTransfer(t, v.UserID, v.All))
}

func (s *Server) handleListTransfers(w http.ResponseWriter, r *http.Request) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fault.Invalidf("query", "malformed", "the query string is not valid URL encoding")
	}
	f := transfer.Filter{Status: q.Get("status"), AccountID: q.Get("account_id"), Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > transfer.MaxLimit {
			return fault.Invalidf("limit", "out_of_range", "must be an integer from 1 to %d", transfer.MaxLimit)
		}
		f.Limit = n
	}
	if f.From, err = timeParam(q, "from", false); err != nil {
		return err
	}
	if f.To, err = timeParam(q, "to", true); err != nil {
		return err
	}
	v := viewerOf(r)
	list, next, err := s.transfers.List(r.Context(), v, f)
	if err != nil {
		return err
	}
	out := listResponse[transferView]{Data: make([]transferView, 0, len(list)), NextCursor: nextCursor(next)}
	for _, t := range list {
		out.Data = append(out.Data, viewTransfer(t, v.UserID, v.All))
	}
	return writeJSON(w, http.StatusOK, out)
}

// timeParam reads an RFC 3339 time or a date (YYYY-MM-DD, UTC). A date as
// an upper bound means the end of that day, so ?from=2026-01-01&to=2026-01-31
// covers all of January.
func timeParam(q url.Values, name string, upper bool) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.Year() >= 1970 && t.Year() <= 9999 {
		return t.UTC(), nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil && d.Year() >= 1970 && d.Year() <= 9999 {
		if upper {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	return time.Time{}, fault.Invalidf(name, "invalid", "must be an RFC 3339 time or a date (YYYY-MM-DD)")
}

// --- ledger verification ---

type violationView struct {
	Rule      string `json:"rule"`
	AccountID string `json:"account_id,omitempty"`
	Asset     string `json:"asset,omitempty"`
	EntryID   string `json:"entry_id,omitempty"`
	HoldID    string `json:"hold_id,omitempty"`
	Expected  *int64 `json:"expected,omitempty"`
	Actual    *int64 `json:"actual,omitempty"`
	Detail    string `json:"detail"`
}

type verifyView struct {
	OK         bool            `json:"ok"`
	Accounts   int64           `json:"accounts"`
	Balances   int64           `json:"balances"`
	Entries    int64           `json:"entries"`
	Postings   int64           `json:"postings"`
	Holds      int64           `json:"holds"`
	Violations []violationView `json:"violations"`
	Truncated  int             `json:"truncated"`
}

func (s *Server) handleLedgerVerify(w http.ResponseWriter, r *http.Request) error {
	if err := requireEmptyBody(r); err != nil {
		return err
	}
	rep, err := s.accounts.Verify(r.Context(), nil)
	if err != nil {
		return err
	}
	out := verifyView{OK: rep.OK(), Accounts: rep.Accounts, Balances: rep.Balances, Entries: rep.Entries,
		Postings: rep.Postings, Holds: rep.Holds, Violations: make([]violationView, 0, len(rep.Violations)), Truncated: rep.Truncated}
	for _, v := range rep.Violations {
		out.Violations = append(out.Violations, viewViolation(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

func viewViolation(v accounts.Violation) violationView {
	out := violationView{Rule: v.Rule, AccountID: v.Account, Asset: v.Asset, EntryID: v.Entry, HoldID: v.Hold, Detail: v.Detail}
	if v.HasValues {
		exp, act := v.Expected, v.Actual
		out.Expected, out.Actual = &exp, &act
	}
	return out
}
