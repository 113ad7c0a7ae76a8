package accounts

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

// Statement page sizes.
const (
	DefaultStatementLimit = 50
	MaxStatementLimit     = 500
)

// StatementQuery selects statement lines.
type StatementQuery struct {
	// Asset is the currency or security symbol; empty means the account's
	// currency.
	Asset string
	// From and To bound the lines' times: From ≤ at < To. Zero means
	// unbounded.
	From, To time.Time
	// Cursor is the NextCursor of the previous page; empty starts at the
	// beginning.
	Cursor string
	// Limit is the page size: 1 to MaxStatementLimit, 0 for the default.
	Limit int
}

// Statement is one page of an account's postings in one asset, in the order
// they changed the balance.
type Statement struct {
	AccountID string
	Asset     string
	// OpeningBalance is the balance right before the first line of the page
	// (0 when the page is empty).
	OpeningBalance int64
	Lines          []Line
	// NextCursor continues after the last line; empty on the last page.
	NextCursor string
}

// Line is one posting: Amount (signed minor units: positive credits the
// account) and the balance right after it.
type Line struct {
	EntryID      string
	Kind         string // what the entry is: transfer, adjustment, reversal, …
	Memo         string
	ReversalOf   string
	Amount       int64
	BalanceAfter int64
	At           time.Time
}

// Statement returns a page of owner's account's statement. Someone else's
// account is not_found.
func (s *Service) Statement(ctx context.Context, owner, accountID string, q StatementQuery) (Statement, error) {
	if !id.Valid(IDPrefix, accountID) {
		return Statement{}, notFound()
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultStatementLimit
	case limit < 0 || limit > MaxStatementLimit:
		return Statement{}, fault.Invalidf("limit", "invalid_limit", "The limit is 1 to %d.", MaxStatementLimit)
	}
	after, err := decodeCursor(q.Cursor)
	if err != nil {
		return Statement{}, err
	}
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = store.Micros(q.From)
	}
	if !q.To.IsZero() {
		to = store.Micros(q.To)
	}
	if from >= to {
		return Statement{}, fault.Invalidf("to", "invalid_range", "The end of the period must be after its start.")
	}
	st := Statement{AccountID: accountID}
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		var currency string
		err := tx.QueryRow(ctx, `SELECT currency FROM accounts WHERE id = ? AND owner_user_id = ?`, accountID, owner).Scan(&currency)
		if err != nil {
			if store.IsNotFound(err) {
				return notFound()
			}
			return fmt.Errorf("statement account: %w", err)
		}
		st.Asset = currency
		if q.Asset != "" {
			if _, err := money.Currency(q.Asset); err != nil {
				if _, err := money.Security(q.Asset); err != nil {
					return fault.Invalidf("asset", string(money.CodeUnknownAsset), "Unknown currency or symbol %q.", clip(q.Asset))
				}
			}
			st.Asset = q.Asset
		}
		rows, err := tx.Query(ctx, statementQuery(tx.Dialect()), accountID, st.Asset, after, from, to, limit+1)
		if err != nil {
			return fmt.Errorf("statement: %w", err)
		}
		defer rows.Close()
		var last int64
		st.Lines = st.Lines[:0]
		for rows.Next() {
			var l Line
			var seq, at int64
			if err := rows.Scan(&seq, &l.EntryID, &l.Kind, &l.Memo, &l.ReversalOf, &l.Amount, &l.BalanceAfter, &at); err != nil {
				return fmt.Errorf("statement: %w", err)
			}
			if len(st.Lines) == limit {
				st.NextCursor = encodeCursor(last)
				break
			}
			l.At = store.FromMicros(at)
			st.Lines = append(st.Lines, l)
			last = seq
		}
		return rows.Err()
	})
	if err != nil {
		return Statement{}, err
	}
	if len(st.Lines) > 0 {
		var ok bool
		if st.OpeningBalance, ok = money.SubUnits(st.Lines[0].BalanceAfter, st.Lines[0].Amount); !ok {
			return Statement{}, fmt.Errorf("statement of %s: opening balance overflows", accountID)
		}
	}
	return st, nil
}

// statementQuery reads the postings of account ?1 in asset ?2 after seq
// ?3, created in [?4, ?5), oldest first, at most ?6. On PostgreSQL through
// the index postings_account; on SQLite through the bulk index
// posting_accounts (PostingsIndex), whose rows all come before the
// postings past its mark, which are read by seq only (NOT INDEXED).
func statementQuery(d store.Dialect) string {
	const cols = `p.seq, p.entry_id, e.kind, e.memo, COALESCE(e.reversal_of, ''), p.amount, p.balance_after, p.created_at`
	if d != store.SQLite {
		return `SELECT ` + cols + ` FROM postings p JOIN entries e ON e.id = p.entry_id
			WHERE p.account_id = ? AND p.asset = ? AND p.seq > ? AND p.created_at >= ? AND p.created_at < ?
			ORDER BY p.seq LIMIT ?`
	}
	return `SELECT * FROM (SELECT ` + cols + ` FROM posting_accounts i CROSS JOIN postings p ON p.seq = i.seq
			JOIN entries e ON e.id = p.entry_id
			WHERE i.account_id = ?1 AND i.asset = ?2 AND i.seq > ?3 AND p.created_at >= ?4 AND p.created_at < ?5
			ORDER BY i.seq LIMIT ?6)
		UNION ALL SELECT * FROM (SELECT ` + cols + ` FROM postings p NOT INDEXED JOIN entries e ON e.id = p.entry_id
			WHERE p.seq > max(?3, ` + store.BulkMark(PostingsIndex.Name) + `) AND p.account_id = ?1 AND p.asset = ?2
				AND p.created_at >= ?4 AND p.created_at < ?5
			ORDER BY p.seq LIMIT ?6)
		ORDER BY 1 LIMIT ?6`
}

// PostingsIndex is the bulk index of each account's postings per asset
// (SQLite; see store.BulkIndex).
var PostingsIndex = store.BulkIndex{
	Name:   "posting_accounts",
	Source: "postings",
	Fill: []string{`INSERT INTO posting_accounts (account_id, asset, seq)
		SELECT account_id, asset, seq FROM postings WHERE seq > ? AND seq <= ? ORDER BY 1, 2, 3`},
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("p" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	bad := fault.Invalidf("cursor", "invalid_cursor", "The cursor is not valid.")
	if len(c) > 32 {
		return 0, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(raw) < 2 || raw[0] != 'p' {
		return 0, bad
	}
	seq, err := strconv.ParseInt(string(raw[1:]), 10, 64)
	if err != nil || seq < 0 {
		return 0, bad
	}
	return seq, nil
}
