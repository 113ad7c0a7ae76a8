package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/canon"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/store"
)

// draft is a validated movement, ready to become one journal operation.
type draft struct {
	kind      string
	from, to  accounts.Ref
	asset     money.Asset
	amount    int64 // > 0, moved from → to
	memo      string
	approvals int               // distinct approvers it needs
	risk      Risk              // fraud and velocity assessment (cash)
	limits    []journal.Counter // outgoing-limit counters it adds to
	reverses  *Transfer         // kind reversal: the executed transfer it undoes
	reason    string            // kind reversal: why
}

// run claims the key in flight, builds and submits the movement, and on
// failure replays the stored response if the same request succeeded before.
func (s *Service) run(ctx context.Context, a Actor, idem Idem, build func(context.Context, time.Time) (draft, error)) (Outcome, error) {
	release, err := s.keys.Acquire(ctx, a.UserID, idem.Key)
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	t, body, err := s.submit(ctx, a, idem, build)
	if err == nil {
		return Outcome{Transfer: t, Body: body}, nil
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
	case fault.Is(err, journal.CodeClaimTaken) && isKeyClaim(err):
		// Taken, yet no record to show: it expired and was swept between
		// the two statements. Rare; the client's retry runs again.
		return Outcome{}, fault.New(fault.IdempotencyBusy, "A request with this Idempotency-Key is still being processed.")
	}
	return Outcome{}, err
}

// isKeyClaim reports whether a claim_taken refusal is about the
// Idempotency-Key (claim 0) rather than another claim of the operation.
func isKeyClaim(err error) bool {
	e, ok := fault.As(err)
	return ok && e.Extra["table"] == idempotency.KeysTable
}

// transferColumns are the columns of a new transfer row, in the order of
// newRow's values.
var transferColumns = []string{"id", "kind", "status", "maker_user_id", "from_account_id", "to_account_id",
	"from_owner_id", "to_owner_id", "asset", "amount", "memo", "entry_id", "hold_id", "balance_after", "available_after",
	"created_at", "updated_at", "executed_at", "required_approvals", "approvals", "risk_score", "risk_reasons",
	"expires_at", "reverses_id", "reason"}

// submit turns the draft into one journal operation (or, for a reversal
// waiting for approval, one plain transaction) and waits for it.
func (s *Service) submit(ctx context.Context, a Actor, idem Idem, build func(context.Context, time.Time) (draft, error)) (Transfer, []byte, error) {
	now := s.clock()
	d, err := build(ctx, now)
	if err != nil {
		return Transfer{}, nil, err
	}
	t := Transfer{
		ID: id.New(IDPrefix, now), Kind: d.kind, Status: StatusExecuted, MakerID: a.UserID,
		FromAccountID: d.from.ID, ToAccountID: d.to.ID, FromOwnerID: d.from.OwnerID, ToOwnerID: d.to.OwnerID,
		Currency: d.asset.Code(), Amount: d.amount, Memo: d.memo, CreatedAt: now, UpdatedAt: now,
		RequiredApprovals: d.approvals, RiskScore: d.risk.Score, RiskReasons: d.risk.Reasons, Reason: d.reason,
	}
	if d.reverses != nil {
		t.ReversesID = d.reverses.ID
	}
	switch {
	case d.risk.Review:
		t.Status, t.RequiredApprovals = StatusUnderReview, max(1, d.approvals)
	case d.approvals > 0:
		t.Status = StatusPendingApproval
	}
	if Waiting(t.Status) {
		t.ExpiresAt = now.Add(s.policy.PendingTTL)
		if d.reverses == nil {
			t.HoldID = id.New(journal.HoldIDPrefix, now)
		}
	} else {
		t.EntryID, t.ExecutedAt, t.DecidedAt = id.New(journal.EntryIDPrefix, now), now, now
	}
	// after is the transfer as the committed operation left it.
	after := balanceAfter(t, d.asset)
	status := 201
	if Waiting(t.Status) {
		status = 202
	}
	rec := idempotency.Record{Scope: a.UserID, Key: idem.Key, Hash: idem.Hash, ResourceID: t.ID, Status: status, Now: now}
	// The key's row carries the response a retry gets, rendered from the
	// committed outcome: the engine renders it for every run of the
	// operation's batch (a retry, careful mode), the last run is the one
	// that committed, and the caller is answered with those very bytes.
	var rendered []byte
	claims := []journal.Row{{Table: idempotency.KeysTable, Columns: s.keys.ClaimColumns(),
		Values: s.keys.ClaimValuesWith(rec, journal.FromResult(func(r journal.Result) any {
			rendered = idem.Render(after(r))
			return string(rendered)
		}))}}
	row, err := newRow(t, after)
	if err != nil {
		return Transfer{}, nil, err
	}
	// A transfer that waits emits transfer.created now and its decision
	// later; one that executes at once is created and executed in the same
	// instant and emits transfer.executed alone (its data carries the whole
	// transfer), which halves the events of the busiest path.
	action, events := "transfer.executed", []string{"transfer.executed"}
	switch {
	case Waiting(t.Status):
		action, events = "transfer.created", []string{"transfer.created"}
	case t.Kind == KindAdjustment:
		action = "ledger.adjusted"
	case t.Kind == KindReversal:
		action, events = "transfer.reversed", []string{"transfer.executed", "transfer.reversed"}
	}
	rows, err := s.eventRows(a, t, now, action, nil, events...)
	if err != nil {
		return Transfer{}, nil, err
	}
	rows = append([]journal.Row{row}, rows...)
	if d.reverses != nil && t.Kind == KindReversal && t.Status == StatusPendingApproval {
		// No money moves until it is approved: one plain transaction.
		// The unique index on reverses_id refuses a second waiting reversal.
		if err := s.writeRows(ctx, claims, rows); err != nil {
			return Transfer{}, nil, err
		}
		s.committed(t)
		return t, nil, nil
	}
	var op journal.Op
	switch {
	case d.reverses != nil:
		// Executes at once: the compensating entry, the original marked
		// reversed (exactly once: the engine reverses an entry at most once
		// and the update wants the original still executed).
		op = journal.Reverse{EntryID: d.reverses.EntryID, ReversalID: t.EntryID, Now: now,
			Memo:     clipText("Reversal of "+d.reverses.ID+": "+d.reason, ledger.MaxMemoLen),
			Metadata: map[string]string{"transfer_id": t.ID, "reverses": d.reverses.ID},
			Claims:   claims, Rows: rows, Updates: []journal.Update{markReversed(d.reverses.ID, t.ID, d.reason, now)}}
	case Waiting(t.Status):
		op = journal.Reserve{Now: now, Claims: claims, Rows: rows, Counters: d.limits,
			Hold: ledger.HoldRequest{ID: t.HoldID, Account: t.FromAccountID, Destination: t.ToAccountID,
				Amount: money.New(t.Amount, d.asset)}}
	default:
		op = journal.Post{Kind: t.Kind, Now: now, Claims: claims, Rows: rows, Counters: d.limits,
			Entry: ledger.Entry{ID: t.EntryID, Memo: t.Memo, Metadata: map[string]string{"transfer_id": t.ID},
				Postings: []ledger.Posting{
					{Account: t.FromAccountID, Amount: money.New(-t.Amount, d.asset)},
					{Account: t.ToAccountID, Amount: money.New(t.Amount, d.asset)},
				}}}
	}
	res, err := s.eng.Submit(ctx, op)
	if err != nil {
		if d.reverses != nil && (fault.Is(err, ledger.CodeEntryReversed) || fault.Is(err, journal.CodeStale)) {
			// Another reversal of the same transfer won.
			return Transfer{}, nil, fault.New(CodeNotReversible, "The transfer is already reversed.")
		}
		return Transfer{}, nil, limitRefusal(err)
	}
	t = after(res)
	s.committed(t)
	if d.reverses != nil {
		s.committed(reversedBy(*d.reverses, t))
	}
	return t, rendered, nil
}

// newRow is the INSERT of a new transfer; the balance it left comes from
// the committed outcome.
func newRow(t Transfer, after func(journal.Result) Transfer) (journal.Row, error) {
	reasons, err := json.Marshal(nonNil(t.RiskReasons))
	if err != nil {
		return journal.Row{}, err
	}
	return journal.Row{Table: "transfers", Columns: transferColumns, Values: []any{
		t.ID, t.Kind, t.Status, t.MakerID, t.FromAccountID, t.ToAccountID,
		nullable(t.FromOwnerID), nullable(t.ToOwnerID), t.Currency, t.Amount, t.Memo, nullable(t.EntryID), nullable(t.HoldID),
		journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).BalanceAfter) }),
		journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).AvailableAfter) }),
		store.Micros(t.CreatedAt), store.Micros(t.UpdatedAt), micros0(t.ExecutedAt), t.RequiredApprovals, t.Approvals,
		t.RiskScore, string(reasons), micros0(t.ExpiresAt), nullable(t.ReversesID), t.Reason,
	}}, nil
}

// markReversed moves the original transfer from executed to reversed.
func markReversed(originalID, reversalID, reason string, now time.Time) journal.Update {
	return journal.Update{Want: 1,
		SQL: `UPDATE transfers SET status = 'reversed', reversal_id = ?, reason = ?, updated_at = ?
			WHERE id = ? AND status = 'executed'`,
		Args: []any{reversalID, reason, store.Micros(now), originalID}}
}

// eventRows are the audit event and the outbox events of a transition of t,
// as rows of its journal operation.
func (s *Service) eventRows(a Actor, t Transfer, now time.Time, action string, extra map[string]any, events ...string) ([]journal.Row, error) {
	details := map[string]any{
		"kind": t.Kind, "status": t.Status, "from_account_id": t.FromAccountID, "to_account_id": t.ToAccountID,
		"amount": t.Amount, "currency": t.Currency,
	}
	for _, f := range []struct{ k, v string }{{"entry_id", t.EntryID}, {"hold_id", t.HoldID}, {"reverses_id", t.ReversesID}, {"reason", t.Reason}} {
		if f.v != "" {
			details[f.k] = f.v
		}
	}
	if t.RiskScore > 0 {
		details["risk_score"] = t.RiskScore
	}
	for k, v := range extra {
		details[k] = v
	}
	// Encoded once for the audit event and every outbox event.
	enc, err := canon.Encode(details, min(audit.MaxDetailsBytes, outbox.MaxDataBytes))
	if err != nil {
		return nil, fmt.Errorf("transfer %s details: %w", t.ID, err)
	}
	ev := audit.Event{At: now, ActorKind: audit.ActorUser, ActorID: a.UserID, Action: action,
		TargetType: "transfer", TargetID: t.ID, RequestID: a.RequestID, IP: a.IP, Details: enc}
	if a.UserID == "" {
		ev.ActorKind, ev.ActorID = audit.ActorSystem, "transfers"
	}
	_, vals, err := audit.Row(ev)
	if err != nil {
		return nil, err
	}
	rows := []journal.Row{{Table: audit.Table, Columns: audit.Columns(), Values: vals}}
	for _, typ := range events {
		_, vals, err := outbox.Row(outbox.Event{Aggregate: "transfer", AggregateID: t.ID, Type: typ, At: now, Data: enc})
		if err != nil {
			return nil, err
		}
		rows = append(rows, journal.Row{Table: outbox.Table, Columns: outbox.Columns(), Values: vals})
	}
	return rows, nil
}

// writeRows inserts claims (refusing on a conflict) and rows in one
// transaction, for transitions that move no money.
func (s *Service) writeRows(ctx context.Context, claims, rows []journal.Row) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		if err := insertRows(ctx, tx, claims); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.New(journal.CodeClaimTaken, "The Idempotency-Key is taken.").With("table", idempotency.KeysTable)
			}
			return err
		}
		if err := insertRows(ctx, tx, rows); err != nil {
			if store.IsUniqueViolation(err) {
				return fault.New(CodeNotPending, "A reversal of this transfer is already waiting or done.")
			}
			return err
		}
		return nil
	})
}

// limitsOf checks amount against the maker's per-transfer limit and returns
// the daily and monthly counters the transfer adds to.
func (s *Service) limitsOf(ctx context.Context, a Actor, currency string, amount int64, now time.Time) ([]journal.Counter, error) {
	userID, tier := a.UserID, a.Tier
	if tier == "" {
		err := s.db.Read(ctx, func(tx *store.Tx) error {
			return tx.QueryRow(ctx, `SELECT tier FROM users WHERE id = ?`, userID).Scan(&tier)
		})
		if err != nil {
			return nil, fmt.Errorf("read tier: %w", err)
		}
	}
	l := s.policy.LimitsFor(tier, currency)
	if l.PerTransfer > 0 && amount > l.PerTransfer {
		return nil, limitExceeded("per_transfer", l.PerTransfer, 0, amount, currency)
	}
	var out []journal.Counter
	day, month := counterKeys(userID, currency, now)
	if l.Daily > 0 {
		out = append(out, journal.Counter{Key: day, Delta: amount, Max: l.Daily, ExpiresAt: now.AddDate(0, 0, 3)})
	}
	if l.Monthly > 0 {
		out = append(out, journal.Counter{Key: month, Delta: amount, Max: l.Monthly, ExpiresAt: now.AddDate(0, 1, 3)})
	}
	return out, nil
}

// counterKeys name a user's outgoing totals in currency for the UTC day and
// month of at.
func counterKeys(userID, currency string, at time.Time) (day, month string) {
	at = at.UTC()
	return "out:" + userID + ":" + currency + ":d:" + at.Format(time.DateOnly),
		"out:" + userID + ":" + currency + ":m:" + at.Format("2006-01")
}

// releaseLimits gives back what a transfer that never executed counted.
func releaseLimits(t Transfer) []journal.Counter {
	if t.Kind != KindCash && t.Kind != KindShares {
		return nil
	}
	day, month := counterKeys(t.MakerID, t.Currency, t.CreatedAt)
	return []journal.Counter{{Key: day, Delta: -t.Amount, ExpiresAt: t.CreatedAt.AddDate(0, 0, 3)},
		{Key: month, Delta: -t.Amount, ExpiresAt: t.CreatedAt.AddDate(0, 1, 3)}}
}

// limitRefusal turns the engine's counter refusal into the customer's.
func limitRefusal(err error) error {
	e, ok := fault.As(err)
	if !ok || e.Code != journal.CodeLimitExceeded {
		return err
	}
	// Keys are "out:<user>:<currency>:<d|m>:<date>" (counterKeys).
	key, _ := e.Extra["counter"].(string)
	parts := strings.Split(key, ":")
	if len(parts) != 5 {
		return err
	}
	period := "monthly"
	if parts[3] == "d" {
		period = "daily"
	}
	limit, _ := e.Extra["limit"].(int64)
	used, _ := e.Extra["used"].(int64)
	requested, _ := e.Extra["requested"].(int64)
	return limitExceeded(period, limit, used, requested, parts[2])
}

func limitExceeded(period string, limit, used, requested int64, currency string) error {
	e := fault.New(CodeLimitExceeded, "The transfer exceeds your %s limit.", strings.ReplaceAll(period, "_", "-")).
		With("period", period).With("limit", limit).With("requested", requested)
	if period != "per_transfer" {
		e = e.With("used", used).With("available", max(limit-used, 0))
	}
	if currency != "" {
		e = e.With("currency", currency)
	}
	return e
}

func micros0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Micros(t)
}

func nonNil(r []RiskReason) []RiskReason {
	if r == nil {
		return []RiskReason{}
	}
	return r
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n]
}
