package transfer

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Viewer is who reads transfers: a customer sees the transfers that leave
// or reach their accounts; staff with the read-all permission (All) see
// every transfer.
type Viewer struct {
	UserID string
	All    bool
}

// Filter selects transfers. Zero fields do not filter.
type Filter struct {
	Status    string
	AccountID string    // either side
	From, To  time.Time // From ≤ created_at < To
	Cursor    string    // the NextCursor of the previous page
	Limit     int       // 1 to MaxLimit; 0: DefaultLimit
}

const transferCols = `id, kind, status, maker_user_id, from_account_id, to_account_id,
	COALESCE(from_owner_id, ''), COALESCE(to_owner_id, ''), asset, amount, memo, COALESCE(entry_id, ''),
	COALESCE(hold_id, ''), balance_after, available_after, created_at, updated_at, executed_at,
	required_approvals, approvals, risk_score, risk_reasons, expires_at, COALESCE(reverses_id, ''),
	COALESCE(reversal_id, ''), reason, decided_at`

// Get returns a transfer the viewer may see; any other is not_found.
func (s *Service) Get(ctx context.Context, v Viewer, transferID string) (Transfer, error) {
	if !id.Valid(IDPrefix, transferID) {
		return Transfer{}, transferNotFound()
	}
	var t Transfer
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		t, err = scanTransfer(tx.QueryRow(ctx, `SELECT `+transferCols+` FROM transfers WHERE id = ?`, transferID))
		if store.IsNotFound(err) {
			return transferNotFound()
		}
		if err != nil {
			return fmt.Errorf("get transfer: %w", err)
		}
		t.Decisions, err = decisionsOf(ctx, tx, t.ID)
		return err
	})
	if err != nil {
		return Transfer{}, err
	}
	if !v.All && t.FromOwnerID != v.UserID && t.ToOwnerID != v.UserID {
		return Transfer{}, transferNotFound()
	}
	return t, nil
}

// List returns a page of the transfers the viewer may see, newest first,
// and the cursor of the next page ("" on the last page).
func (s *Service) List(ctx context.Context, v Viewer, f Filter) ([]Transfer, string, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, "", fault.Invalidf("limit", "out_of_range", "must be an integer from 1 to %d", MaxLimit)
	}
	var where []string
	var args []any
	if f.Status != "" {
		if !slices.Contains(Statuses, f.Status) {
			return nil, "", fault.Invalidf("status", "invalid", "must be one of %s", strings.Join(Statuses, ", "))
		}
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.AccountID != "" {
		if !id.Valid("acct", f.AccountID) {
			return nil, "", fault.Invalidf("account_id", "invalid", "is not an account ID")
		}
		where = append(where, `(from_account_id = ? OR to_account_id = ?)`)
		args = append(args, f.AccountID, f.AccountID)
	}
	if !f.From.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, store.Micros(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, `created_at < ?`)
		args = append(args, store.Micros(f.To))
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, `id < ?`)
		args = append(args, after)
	}
	q, args := listQuery(v, where, args, limit+1)
	var out []Transfer
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("list transfers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTransfer(rows)
			if err != nil {
				return fmt.Errorf("list transfers: %w", err)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(out[limit-1].ID)
	}
	return out, next, nil
}

// listQuery returns the query of List: the first n transfers, newest
// first, that match where (conditions ANDed, with args) and that v may see.
// A customer's are read in two parts that never overlap, those they sent
// and those they received from someone else, each newest first through its
// owner index (transfers_from_owner, transfers_to_owner), so a page costs
// about n index entries however many transfers the customer has. (One
// condition "from_owner_id = ? OR to_owner_id = ?" reads every transfer
// of the customer through both indexes and sorts them for every page.)
func listQuery(v Viewer, where []string, args []any, n int) (string, []any) {
	filter := ""
	if len(where) > 0 {
		filter = ` AND ` + strings.Join(where, ` AND `)
	}
	if v.All {
		return `SELECT ` + transferCols + ` FROM transfers WHERE true` + filter + ` ORDER BY id DESC LIMIT ?`, append(args, n)
	}
	part := func(owner, alias string) string {
		return `SELECT * FROM (SELECT ` + transferCols + ` FROM transfers WHERE ` + owner + filter +
			` ORDER BY id DESC LIMIT ?) ` + alias
	}
	q := part(`from_owner_id = ?`, `sent`) + ` UNION ALL ` +
		part(`to_owner_id = ? AND (from_owner_id IS NULL OR from_owner_id <> ?)`, `received`) +
		` ORDER BY 1 DESC LIMIT ?`
	all := append([]any{v.UserID}, args...)
	all = append(append(all, n, v.UserID, v.UserID), args...)
	return q, append(all, n, n)
}

type scanner interface{ Scan(dest ...any) error }

func scanTransfer(r scanner) (Transfer, error) {
	var t Transfer
	var bal, avail sql.NullInt64
	var created, updated, executed, expires, decided int64
	var reasons string
	err := r.Scan(&t.ID, &t.Kind, &t.Status, &t.MakerID, &t.FromAccountID, &t.ToAccountID,
		&t.FromOwnerID, &t.ToOwnerID, &t.Currency, &t.Amount, &t.Memo, &t.EntryID,
		&t.HoldID, &bal, &avail, &created, &updated, &executed,
		&t.RequiredApprovals, &t.Approvals, &t.RiskScore, &reasons, &expires, &t.ReversesID,
		&t.ReversalID, &t.Reason, &decided)
	if err != nil {
		return Transfer{}, err
	}
	if bal.Valid {
		t.BalanceAfter = &bal.Int64
	}
	if avail.Valid {
		t.AvailableAfter = &avail.Int64
	}
	if err := json.Unmarshal([]byte(reasons), &t.RiskReasons); err != nil {
		return Transfer{}, fmt.Errorf("transfer %s: risk reasons: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt = store.FromMicros(created), store.FromMicros(updated)
	t.ExecutedAt, t.ExpiresAt, t.DecidedAt = fromMicros0(executed), fromMicros0(expires), fromMicros0(decided)
	return t, nil
}

func fromMicros0(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

// decisionsOf lists who decided what about a transfer, oldest first.
func decisionsOf(ctx context.Context, tx *store.Tx, transferID string) ([]Decision, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, decision, reason, at FROM transfer_decisions WHERE transfer_id = ? ORDER BY at, user_id`, transferID)
	if err != nil {
		return nil, fmt.Errorf("transfer decisions: %w", err)
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		var at int64
		if err := rows.Scan(&d.UserID, &d.Decision, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("transfer decisions: %w", err)
		}
		d.At = store.FromMicros(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

func encodeCursor(lastID string) string { return base64.RawURLEncoding.EncodeToString([]byte(lastID)) }

func decodeCursor(c string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !id.Valid(IDPrefix, string(raw)) {
		return "", fault.Invalidf("cursor", "invalid", "is not a cursor from a previous page")
	}
	return string(raw), nil
}

func transferNotFound() *fault.Error {
	return fault.New(fault.NotFound, "The transfer does not exist.")
}
