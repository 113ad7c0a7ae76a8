package transfer

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// Decisions.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// decideAttempts bounds how often a decision re-reads a transfer that
// changed under it (another approver decided at the same moment).
const decideAttempts = 3

// MaxExpirePerSweep bounds the transfers one ExpireDue call expires.
const MaxExpirePerSweep = 100

// Approve records a's approval of a waiting transfer. When it is the last
// approval the transfer needs, the transfer executes in the same
// transaction: its held funds are posted (a reversal posts its
// compensating entry). The maker can never approve their own transfer and
// nobody approves twice; of an approval and a rejection racing for the same
// transfer exactly one wins.
func (s *Service) Approve(ctx context.Context, a Actor, transferID, reason string) (Transfer, error) {
	return s.decide(ctx, a, transferID, DecisionApprove, reason)
}

// Reject records a's rejection of a waiting transfer with a reason; the
// held funds are released and the transfer is final.
func (s *Service) Reject(ctx context.Context, a Actor, transferID, reason string) (Transfer, error) {
	if strings.TrimSpace(reason) == "" {
		return Transfer{}, fault.Invalidf("reason", "required", "Give the reason for the rejection.")
	}
	return s.decide(ctx, a, transferID, DecisionReject, reason)
}

func (s *Service) decide(ctx context.Context, a Actor, transferID, decision, reason string) (Transfer, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return Transfer{}, err
	}
	for attempt := 1; ; attempt++ {
		t, err := s.Get(ctx, Viewer{All: true}, transferID)
		if err != nil {
			return Transfer{}, err
		}
		switch {
		case !Waiting(t.Status):
			return Transfer{}, fault.New(CodeNotPending, "The transfer is %s; it no longer waits on a decision.", t.Status).With("status", t.Status)
		case t.MakerID == a.UserID:
			return Transfer{}, fault.New(CodeSelfApproval, "You cannot decide about a transfer you made.")
		}
		for _, d := range t.Decisions {
			if d.UserID == a.UserID {
				return Transfer{}, fault.New(CodeAlreadyDecided, "You already decided about this transfer.")
			}
		}
		out, err := s.applyDecision(ctx, a, t, decision, reason)
		if (fault.Is(err, journal.CodeStale) || fault.Is(err, codeStaleDecision)) && attempt < decideAttempts {
			continue // someone else decided meanwhile: look again
		}
		if fault.Is(err, journal.CodeStale) || fault.Is(err, codeStaleDecision) {
			return Transfer{}, fault.New(fault.Conflict, "The transfer changed while you decided; look at it again.")
		}
		return out, err
	}
}

// codeStaleDecision is the internal refusal of a decision whose transfer
// changed between reading it and writing the decision.
const codeStaleDecision fault.Code = "decision_stale"

// applyDecision writes one decision about t as read.
func (s *Service) applyDecision(ctx context.Context, a Actor, t Transfer, decision, reason string) (Transfer, error) {
	now := s.clock()
	d := Decision{UserID: a.UserID, Decision: decision, Reason: reason, At: now}
	claim := journal.Row{Table: "transfer_decisions", Columns: []string{"transfer_id", "user_id", "decision", "reason", "at"},
		Values: []any{t.ID, a.UserID, decision, reason, store.Micros(now)}}
	t.Decisions = append(t.Decisions, d)
	t.UpdatedAt = now
	if decision == DecisionApprove && t.Approvals+1 < t.RequiredApprovals {
		// Not the last approval: no money moves.
		prev := t.Approvals
		t.Approvals++
		rows, err := s.eventRows(a, t, now, "transfer.approved", map[string]any{"approvals": t.Approvals, "required_approvals": t.RequiredApprovals}, "transfer.approved")
		if err != nil {
			return Transfer{}, err
		}
		err = s.transition(ctx, journal.Update{Want: 1,
			SQL:  `UPDATE transfers SET approvals = ?, updated_at = ? WHERE id = ? AND status = ? AND approvals = ?`,
			Args: []any{t.Approvals, store.Micros(now), t.ID, t.Status, prev}}, append([]journal.Row{claim}, rows...))
		if store.IsUniqueViolation(err) {
			return Transfer{}, fault.New(CodeAlreadyDecided, "You already decided about this transfer.")
		}
		return t, err
	}

	var (
		op      journal.Op
		update  journal.Update
		action  string
		events  []string
		waiting = t.Status
	)
	if decision == DecisionApprove {
		t.Approvals++
		t.Status, t.EntryID, t.ExecutedAt, t.DecidedAt = StatusExecuted, id.New(journal.EntryIDPrefix, now), now, now
		action, events = "transfer.approved", []string{"transfer.approved", "transfer.executed"}
		update = journal.Update{Want: 1,
			SQL: `UPDATE transfers SET status = 'executed', entry_id = ?, executed_at = ?, decided_at = ?, updated_at = ?,
				approvals = ?, balance_after = ?, available_after = ? WHERE id = ? AND status = ? AND approvals = ?`}
	} else {
		t.Status, t.Reason, t.DecidedAt = StatusRejected, reason, now
		action, events = "transfer.rejected", []string{"transfer.rejected"}
	}
	rows, err := s.eventRows(a, t, now, action, map[string]any{"approvals": t.Approvals, "required_approvals": t.RequiredApprovals}, events...)
	if err != nil {
		return Transfer{}, err
	}
	asset, err := assetOf(t.Currency)
	if err != nil {
		return Transfer{}, err
	}
	after := balanceAfter(t, asset)
	if decision == DecisionApprove {
		update.Args = []any{t.EntryID, store.Micros(now), store.Micros(now), store.Micros(now), t.Approvals,
			journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).BalanceAfter) }),
			journal.FromResult(func(r journal.Result) any { return ptrValue(after(r).AvailableAfter) }),
			t.ID, waiting, t.Approvals - 1}
	} else {
		update = journal.Update{Want: 1,
			SQL:  `UPDATE transfers SET status = 'rejected', reason = ?, decided_at = ?, updated_at = ? WHERE id = ? AND status = ?`,
			Args: []any{reason, store.Micros(now), store.Micros(now), t.ID, waiting}}
	}
	claims := []journal.Row{claim}
	var original *Transfer // a reversal's, once it executes
	switch {
	case t.Kind == KindReversal && decision == DecisionApprove:
		orig, err := s.Get(ctx, Viewer{All: true}, t.ReversesID)
		if err != nil {
			return Transfer{}, err
		}
		original = &orig
		op = journal.Reverse{EntryID: orig.EntryID, ReversalID: t.EntryID, Now: now,
			Memo:     clipText("Reversal of "+orig.ID+": "+t.Reason, ledger.MaxMemoLen),
			Metadata: map[string]string{"transfer_id": t.ID, "reverses": orig.ID},
			Claims:   claims, Rows: rows, Updates: []journal.Update{update, markReversed(orig.ID, t.ID, t.Reason, now)}}
	case t.Kind == KindReversal:
		// A waiting reversal holds nothing: one plain transaction.
		err := s.transition(ctx, update, append(claims, rows...))
		if store.IsUniqueViolation(err) {
			return Transfer{}, fault.New(CodeAlreadyDecided, "You already decided about this transfer.")
		}
		if err != nil {
			return Transfer{}, err
		}
		s.committed(t)
		return t, nil
	case decision == DecisionApprove:
		op = journal.PostHold{HoldID: t.HoldID, EntryID: t.EntryID, Kind: t.Kind, Memo: t.Memo, Now: now,
			Claims: claims, Rows: rows, Updates: []journal.Update{update}}
	default:
		op = journal.VoidHold{HoldID: t.HoldID, Now: now, Claims: claims, Rows: rows, Updates: []journal.Update{update},
			Counters: releaseLimits(t)}
	}
	res, err := s.eng.Submit(ctx, op)
	switch {
	case fault.Is(err, journal.CodeClaimTaken):
		return Transfer{}, fault.New(CodeAlreadyDecided, "You already decided about this transfer.")
	case fault.Is(err, ledger.CodeHoldNotPending), fault.Is(err, ledger.CodeEntryReversed):
		return Transfer{}, fault.New(codeStaleDecision, "The transfer changed.")
	case err != nil:
		return Transfer{}, err
	}
	t = after(res)
	s.committed(t)
	if original != nil {
		s.committed(reversedBy(*original, t))
	}
	return t, nil
}

// ReverseRequest asks to undo an executed transfer.
type ReverseRequest struct {
	TransferID string
	Reason     string
}

// Reverse undoes an executed cash transfer or adjustment with a new
// transfer of kind reversal (money back from the destination to the
// source). Above the approval threshold the reversal itself waits for an
// approver other than its maker; at or below it, it executes at once. A
// transfer is reversed at most once, also when asked concurrently.
func (s *Service) Reverse(ctx context.Context, a Actor, req ReverseRequest, idem Idem) (Outcome, error) {
	return s.run(ctx, a, idem, func(ctx context.Context, _ time.Time) (draft, error) {
		reason, err := checkReason(req.Reason)
		if err != nil {
			return draft{}, err
		}
		if reason == "" {
			return draft{}, fault.Invalidf("reason", "required", "Give the reason for the reversal.")
		}
		orig, err := s.Get(ctx, Viewer{All: true}, req.TransferID)
		if err != nil {
			return draft{}, err
		}
		switch {
		case orig.Kind != KindCash && orig.Kind != KindAdjustment:
			return draft{}, fault.New(CodeNotReversible, "Only cash transfers and adjustments can be reversed.")
		case orig.Status == StatusReversed:
			return draft{}, fault.New(CodeNotReversible, "The transfer is already reversed.").With("reversal_id", orig.ReversalID)
		case orig.Status != StatusExecuted:
			return draft{}, fault.New(CodeNotReversible, "Only executed transfers can be reversed; this one is %s.", orig.Status)
		}
		asset, err := assetOf(orig.Currency)
		if err != nil {
			return draft{}, err
		}
		from, err := s.accts.Ref(ctx, orig.ToAccountID)
		if err != nil {
			return draft{}, err
		}
		to, err := s.accts.Ref(ctx, orig.FromAccountID)
		if err != nil {
			return draft{}, err
		}
		return draft{kind: KindReversal, from: from, to: to, asset: asset, amount: orig.Amount,
			memo: clipText("Reversal of "+orig.ID, ledger.MaxMemoLen), reverses: &orig, reason: reason,
			approvals: s.policy.Approvals(KindCash, orig.Currency, orig.Amount)}, nil
	})
}

// ExpireDue expires the waiting transfers whose time ran out (at most
// MaxExpirePerSweep per call): held funds are released and what they
// counted against the maker's limits is given back. Safe on any number of
// replicas at once: each expiry is a conditional transition.
func (s *Service) ExpireDue(ctx context.Context, now time.Time) (int, error) {
	var ids []string
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM transfers WHERE status IN ('pending_approval', 'under_review')
			AND expires_at > 0 AND expires_at <= ? ORDER BY expires_at LIMIT ?`, store.Micros(now), MaxExpirePerSweep)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("find expired transfers: %w", err)
	}
	n := 0
	for _, transferID := range ids {
		ok, err := s.expire(ctx, transferID)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// expire moves one waiting transfer to expired; false if it was decided
// meanwhile.
func (s *Service) expire(ctx context.Context, transferID string) (bool, error) {
	t, err := s.Get(ctx, Viewer{All: true}, transferID)
	if err != nil || !Waiting(t.Status) {
		return false, err
	}
	now := s.clock()
	waiting := t.Status
	t.Status, t.DecidedAt, t.UpdatedAt = StatusExpired, now, now
	rows, err := s.eventRows(Actor{}, t, now, "transfer.expired", nil, "transfer.expired")
	if err != nil {
		return false, err
	}
	update := journal.Update{Want: 1,
		SQL:  `UPDATE transfers SET status = 'expired', decided_at = ?, updated_at = ? WHERE id = ? AND status = ?`,
		Args: []any{store.Micros(now), store.Micros(now), t.ID, waiting}}
	if t.HoldID == "" {
		err = s.transition(ctx, update, rows)
		if fault.Is(err, codeStaleDecision) {
			return false, nil
		}
	} else {
		_, err = s.eng.Submit(ctx, journal.VoidHold{HoldID: t.HoldID, Now: now, Rows: rows,
			Updates: []journal.Update{update}, Counters: releaseLimits(t)})
		if fault.Is(err, journal.CodeStale) || fault.Is(err, ledger.CodeHoldNotPending) {
			return false, nil // decided meanwhile
		}
	}
	if err != nil {
		return false, err
	}
	s.committed(t)
	return true, nil
}

// transition is a status change that moves no money: the conditional
// update and its rows in one plain transaction; codeStaleDecision when the
// update did not affect the rows it wanted.
func (s *Service) transition(ctx context.Context, u journal.Update, rows []journal.Row) error {
	return s.db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, u.SQL, u.Args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != u.Want {
			return fault.New(codeStaleDecision, "The transfer changed.")
		}
		return insertRows(ctx, tx, rows)
	})
}

// insertRows inserts rows in tx (FromResult values see an empty result).
func insertRows(ctx context.Context, tx *store.Tx, rows []journal.Row) error {
	for _, r := range rows {
		vals := make([]any, len(r.Values))
		for j, v := range r.Values {
			if f, ok := v.(journal.FromResult); ok {
				v = f(journal.Result{})
			}
			vals[j] = v
		}
		q := `INSERT INTO ` + r.Table + ` (` + strings.Join(r.Columns, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(vals)-1) + `)`
		if _, err := tx.Exec(ctx, q, vals...); err != nil {
			return err
		}
	}
	return nil
}

// balanceAfter returns the function that completes t from a committed
// outcome with the balance of its maker's account.
func balanceAfter(t Transfer, asset money.Asset) func(journal.Result) Transfer {
	return func(r journal.Result) Transfer {
		out := t
		if b, ok := r.Balance(t.BalanceAccountID(), asset); ok {
			posted := b.Posted
			out.BalanceAfter = &posted
			if avail, ok := money.SubUnits(b.Posted, b.Held); ok {
				out.AvailableAfter = &avail
			}
		}
		return out
	}
}

// checkReason trims a decision's reason: at most MaxReasonRunes printable
// characters (newlines allowed).
func checkReason(raw string) (string, error) {
	r := strings.TrimSpace(raw)
	if !utf8.ValidString(r) || utf8.RuneCountInString(r) > MaxReasonRunes {
		return "", fault.Invalidf("reason", "invalid_reason", "A reason is at most %d characters.", MaxReasonRunes)
	}
	for _, c := range r {
		if unicode.IsControl(c) && c != '\n' {
			return "", fault.Invalidf("reason", "invalid_reason", "A reason cannot contain control characters.")
		}
	}
	return r, nil
}

// assetOf resolves a transfer's asset code.
func assetOf(code string) (money.Asset, error) {
	if a, err := money.Currency(code); err == nil {
		return a, nil
	}
	return money.Security(code)
}
