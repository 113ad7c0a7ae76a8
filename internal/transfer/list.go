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
	var after string
	if f.Cursor != "" {
		var err error
		if after, err = decodeCursor(f.Cursor); err != nil {
			return nil, "", err
		}
	}
	q, args := listQuery(s.db.Dialect(), v, where, args, after, limit+1)
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
// first, that match where (conditions ANDed, with args), that v may see and,
// with after set, whose ID sorts before after.
//
// A customer's are read in parts that never overlap, each newest first
// through its own range and cut to n, then merged, so a page costs about n
// index entries however many transfers the customer has. (One condition
// "from_owner_id = ? OR to_owner_id = ?" reads every transfer of the
// customer and sorts them for every page.) On PostgreSQL the parts are
// those they sent and those they received from someone else, through the
// owner indexes transfers_from_owner and transfers_to_owner. On SQLite
// they are the same two ranges of the bulk index transfer_parties, which
// holds the transfers up to its mark, and the transfers past the mark
// (PartiesIndex).
func listQuery(d store.Dialect, v Viewer, where []string, args []any, after string, n int) (string, []any) {
	if after != "" {
		where = append(slices.Clip(where), `id < ?`)
		args = append(slices.Clip(args), after)
	}
	filter := ""
	if len(where) > 0 {
		filter = ` AND ` + strings.Join(where, ` AND `)
	}
	if v.All {
		return `SELECT ` + transferCols + ` FROM transfers WHERE true` + filter + ` ORDER BY id DESC LIMIT ?`, append(args, n)
	}
	part := func(from, cond, alias string) string {
		return `SELECT * FROM (SELECT ` + transferCols + ` FROM ` + from + ` WHERE ` + cond + filter +
			` ORDER BY id DESC LIMIT ?) ` + alias
	}
	var all []any
	if d != store.SQLite {
		q := part(`transfers`, `from_owner_id = ?`, `sent`) + ` UNION ALL ` +
			part(`transfers`, `to_owner_id = ? AND (from_owner_id IS NULL OR from_owner_id <> ?)`, `received`) +
			` ORDER BY 1 DESC LIMIT ?`
		all = append(append([]any{v.UserID}, args...), n, v.UserID, v.UserID)
		all = append(append(all, args...), n, n)
		return q, all
	}
	// The index parts scan transfer_parties (CROSS JOIN keeps it the outer
	// loop) and ORDER BY its key; the cursor bounds the range itself. The
	// part past the mark reads transfers by seq only (NOT INDEXED: never
	// through the id index, which would visit every transfer when few are
	// past the mark).
	indexed := func(sent, alias string) string {
		cond := `p.owner_id = ? AND p.sent = ` + sent
		if after != "" {
			cond += ` AND p.transfer_id < ?`
		}
		return `SELECT * FROM (SELECT ` + transferCols + ` FROM transfer_parties p CROSS JOIN transfers t ON t.seq = p.seq` +
			` WHERE ` + cond + filter + ` ORDER BY p.transfer_id DESC LIMIT ?) ` + alias
	}
	q := indexed(`1`, `sent`) + ` UNION ALL ` + indexed(`0`, `received`) + ` UNION ALL ` +
		part(`transfers NOT INDEXED`, `seq > `+store.BulkMark(PartiesIndex.Name)+` AND (from_owner_id = ? OR to_owner_id = ?)`, `recent`) +
		` ORDER BY 1 DESC LIMIT ?`
	for range 2 {
		all = append(all, v.UserID)
		if after != "" {
			all = append(all, after)
		}
		all = append(append(all, args...), n)
	}
	all = append(append(all, v.UserID, v.UserID), args...)
	return q, append(all, n, n)
}

// PartiesIndex is the bulk index of the customers a transfer leaves from
// or reaches (SQLite; see store.BulkIndex): transfer_parties, one row per
// customer, sent = 1 for the sender, and one row only for a transfer
// between a customer's own accounts.
var PartiesIndex = store.BulkIndex{
	Name:   "transfer_parties",
	Source: "transfers",
	Fill: []string{
		`INSERT INTO transfer_parties (owner_id, sent, transfer_id, seq)
			SELECT from_owner_id, 1, id, seq FROM transfers
			WHERE seq > ? AND seq <= ? AND from_owner_id IS NOT NULL ORDER BY 1, 3`,
		`INSERT INTO transfer_parties (owner_id, sent, transfer_id, seq)
			SELECT to_owner_id, 0, id, seq FROM transfers
			WHERE seq > ? AND seq <= ? AND to_owner_id IS NOT NULL
				AND (from_owner_id IS NULL OR from_owner_id <> to_owner_id) ORDER BY 1, 3`,
	},
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
