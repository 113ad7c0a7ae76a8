package risk

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/fiscus/fiscus/internal/store"
)

// Bounds of LoadHistory: whatever a customer's past, it reads at most this
// many rows.
const (
	// MaxScanned is how many of the customer's most recent outgoing
	// transfers LoadHistory reads; every transfer figure of History comes
	// from them.
	MaxScanned = 50
	// UsualSample is how many of the most recent executed transfers in the
	// currency UsualAmount is the median of.
	UsualSample = 50
	// MaxSessions is how many of the customer's most recent earlier sessions
	// the IP and user agent are compared with.
	MaxSessions = 100
)

// Query says whose History to load and for which transfer. Config.Query
// builds it from an Input.
type Query struct {
	UserID    string
	Currency  string
	Recipient string // destination account ID
	// RecipientOwner is the destination account's owner when the caller
	// already knows it ("" otherwise: it is looked up if needed).
	RecipientOwner string
	IP             string // "" when unknown: counted as known
	UserAgent      string // "" when unknown: counted as known
	SessionID      string // the current session, which is not an "earlier" one
	Now            time.Time
	Lookback       time.Duration // UsualAmount and Transfers: transfers created at or after Now-Lookback
	Window         time.Duration // RecentTransfers and RecentRecipients: created at or after Now-Window
}

// sessionRevokedAsStolen is the revoked_reason of a session whose refresh
// token was replayed (internal/identity): its IP and device may be the
// thief's, so they do not make anything known.
const sessionRevokedAsStolen = "refresh_token_reuse"

// LoadHistory reads the History of q.UserID for a transfer about to be made,
// with one indexed, bounded statement (see historyQuery, MaxScanned,
// UsualSample, MaxSessions; a single statement reads one consistent
// snapshot), plus a lookup of the recipient's owner when neither the scan
// nor the caller tells whether the customer owns it. Call it before the
// transfer is stored: it counts every stored outgoing transfer as an
// earlier one.
//
// Which rows count:
//   - transfers: the MaxScanned most recent with from_owner_id = q.UserID,
//     adjustments (made by administrators) excepted. UsualAmount and
//     Transfers use the executed cash ones in q.Currency created within the
//     lookback; KnownRecipient any executed one to q.Recipient, at any time;
//     RecentTransfers those of any status created within the window, and
//     RecentRecipients their destinations not owned by the customer.
//   - KnownRecipient is also true when the customer owns q.Recipient.
//   - users: PasswordChangedAt is zero while the password is the one set at
//     registration (a first password is not a change).
//   - sessions: the MaxSessions most recent created at or before q.Now,
//     except q.SessionID; sessions revoked for refresh-token reuse are
//     ignored.
//
// An unknown user is an error satisfying store.IsNotFound.
func LoadHistory(ctx context.Context, db *store.DB, q Query) (History, error) {
	if q.UserID == "" || q.Now.IsZero() || q.Lookback <= 0 || q.Window <= 0 {
		return History{}, fmt.Errorf("risk: incomplete history query (user %q, now %v, lookback %s, window %s)",
			q.UserID, q.Now, q.Lookback, q.Window)
	}
	var h History
	found := false
	err := db.Query(ctx, historyQuery, []any{
		q.IP, sessionRevokedAsStolen, q.UserID, store.Micros(q.Now), q.SessionID, MaxSessions,
		q.UserAgent, sessionRevokedAsStolen, q.UserID, store.Micros(q.Now), q.SessionID, MaxSessions,
		q.UserID, MaxScanned, q.UserID,
	}, func(rows *sql.Rows) error {
		acc := newTransferAccumulator(q)
		for rows.Next() {
			var (
				pwd, mfa, login, created, knownIP, knownDevice int64
				t                                              scannedTransfer
			)
			if err := rows.Scan(&pwd, &mfa, &login, &created, &knownIP, &knownDevice,
				&t.kind, &t.status, &t.to, &t.toOwner, &t.asset, &t.amount, &t.created); err != nil {
				return err
			}
			if !found {
				found = true
				if pwd > created {
					h.PasswordChangedAt = store.FromMicros(pwd)
				}
				h.MFAChangedAt = fromMicros(mfa)
				h.LastLoginAt = fromMicros(login)
				h.KnownIP = q.IP == "" || knownIP == 1
				h.KnownDevice = q.UserAgent == "" || knownDevice == 1
			}
			if t.kind.Valid { // no transfers: one row of NULLs
				acc.add(t, &h)
			}
		}
		acc.finish(&h)
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("user: %w", sql.ErrNoRows)
	}
	if err == nil && !h.KnownRecipient && q.Recipient != "" {
		err = loadOwnRecipient(ctx, db, q, &h)
	}
	if err != nil {
		return History{}, fmt.Errorf("risk: load history of %s: %w", q.UserID, err)
	}
	return h, nil
}

// historyQuery reads, in one statement: the user's row; whether the IP and
// the user agent appear in their MaxSessions most recent earlier sessions
// (index sessions_user, newest first; the inner LIMITs bound the scans; the
// subqueries are uncorrelated, evaluated once); and their MaxScanned most
// recent outgoing transfers through the covering index transfers_from_owner
// (IDs sort by creation time), one row each with the user's columns
// repeated, or a single row of NULL transfer columns when there are none.
const historyQuery = `SELECT u.password_changed_at, u.mfa_changed_at, u.last_login_at, u.created_at,
		COALESCE((SELECT MAX(CASE WHEN ip = ? AND revoked_reason <> ? THEN 1 ELSE 0 END) FROM (
			SELECT ip, revoked_reason FROM sessions WHERE user_id = ? AND created_at <= ? AND id <> ?
			ORDER BY created_at DESC LIMIT ?) e1), 0),
		COALESCE((SELECT MAX(CASE WHEN user_agent = ? AND revoked_reason <> ? THEN 1 ELSE 0 END) FROM (
			SELECT user_agent, revoked_reason FROM sessions WHERE user_id = ? AND created_at <= ? AND id <> ?
			ORDER BY created_at DESC LIMIT ?) e2), 0),
		t.kind, t.status, t.to_account_id, t.to_owner_id, t.asset, t.amount, t.created_at
	FROM users u
	LEFT JOIN (SELECT id, kind, status, to_account_id, to_owner_id, asset, amount, created_at FROM transfers
		WHERE from_owner_id = ? ORDER BY id DESC LIMIT ?) t ON 1 = 1
	WHERE u.id = ?
	ORDER BY t.id DESC`

// scannedTransfer is one row of the transfer scan (NULLs when there is none).
type scannedTransfer struct {
	kind, status, to, toOwner, asset sql.NullString
	amount, created                  sql.NullInt64
}

// transferAccumulator folds the scanned transfers, newest first, into the
// History's transfer figures.
type transferAccumulator struct {
	q                          Query
	lookbackStart, windowStart int64
	sample                     []int64
	recipients                 map[string]bool
}

func newTransferAccumulator(q Query) *transferAccumulator {
	return &transferAccumulator{q: q, lookbackStart: store.Micros(q.Now.Add(-q.Lookback)),
		windowStart: store.Micros(q.Now.Add(-q.Window)), sample: make([]int64, 0, UsualSample), recipients: map[string]bool{}}
}

// add counts one transfer: adjustments (made by administrators) never
// count; KnownRecipient from executed ones; RecentTransfers and
// RecentRecipients (not the customer's own accounts) within the window;
// UsualAmount and Transfers from executed cash ones in the currency within
// the lookback.
func (a *transferAccumulator) add(t scannedTransfer, h *History) {
	if t.kind.String == "adjustment" {
		return
	}
	executed := t.status.String == "executed"
	if executed && t.to.String == a.q.Recipient {
		h.KnownRecipient = true
	}
	if t.created.Int64 >= a.windowStart {
		h.RecentTransfers++
		if t.toOwner.String != a.q.UserID {
			a.recipients[t.to.String] = true
		}
	}
	if t.created.Int64 >= a.lookbackStart && executed && t.kind.String == "cash" && t.asset.String == a.q.Currency {
		h.Transfers++
		if len(a.sample) < UsualSample {
			a.sample = append(a.sample, t.amount.Int64)
		}
	}
}

func (a *transferAccumulator) finish(h *History) {
	h.RecentRecipients = len(a.recipients)
	h.UsualAmount = median(a.sample)
}

// fromMicros is store.FromMicros with 0 ("never") as the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

// median returns the median of xs (the mean of the middle two, rounded
// down, for an even count), or 0 for none. It sorts xs.
func median(xs []int64) int64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	mid := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[mid]
	}
	lo, hi := xs[mid-1], xs[mid]
	return lo + (hi-lo)/2 // no overflow: both are positive
}

// loadOwnRecipient marks the customer's own accounts as known recipients:
// moving money between them is no sign of fraud.
func loadOwnRecipient(ctx context.Context, db *store.DB, q Query, h *History) error {
	if q.RecipientOwner != "" {
		h.KnownRecipient = q.RecipientOwner == q.UserID
		return nil
	}
	var owner sql.NullString
	err := db.Query(ctx, `SELECT owner_user_id FROM accounts WHERE id = ?`, []any{q.Recipient}, func(rows *sql.Rows) error {
		if rows.Next() {
			return rows.Scan(&owner)
		}
		return nil // the transfer service refuses it; nothing to know
	})
	if err != nil {
		return fmt.Errorf("recipient account: %w", err)
	}
	h.KnownRecipient = owner.Valid && owner.String == q.UserID
	return nil
}
