package risk

import (
	"context"
	"database/sql"
	"errors"
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
// in one read transaction of three indexed, bounded queries (see MaxScanned,
// UsualSample, MaxSessions). Call it before the transfer is stored: it
// counts every stored outgoing transfer as an earlier one.
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
	err := db.Read(ctx, func(tx *store.Tx) error {
		h = History{} // the function may run again
		if err := loadUserAndSessions(ctx, tx, q, &h); err != nil {
			return err
		}
		if err := loadTransfers(ctx, tx, q, &h); err != nil {
			return err
		}
		return loadOwnRecipient(ctx, tx, q, &h)
	})
	if err != nil {
		return History{}, fmt.Errorf("risk: load history of %s: %w", q.UserID, err)
	}
	return h, nil
}

// loadUserAndSessions reads the user's row and compares the IP and user
// agent with their earlier sessions, in one statement. The index
// sessions_user (user_id, created_at) yields the newest sessions first; the
// inner LIMIT bounds the scan, the outer query only compares.
func loadUserAndSessions(ctx context.Context, tx *store.Tx, q Query, h *History) error {
	var pwd, mfa, login, created, knownIP, knownDevice int64
	err := tx.QueryRowCached(ctx, `SELECT u.password_changed_at, u.mfa_changed_at, u.last_login_at, u.created_at,
			COALESCE((SELECT MAX(CASE WHEN ip = ? AND revoked_reason <> ? THEN 1 ELSE 0 END) FROM (
				SELECT ip, revoked_reason FROM sessions WHERE user_id = ? AND created_at <= ? AND id <> ?
				ORDER BY created_at DESC LIMIT ?) e1), 0),
			COALESCE((SELECT MAX(CASE WHEN user_agent = ? AND revoked_reason <> ? THEN 1 ELSE 0 END) FROM (
				SELECT user_agent, revoked_reason FROM sessions WHERE user_id = ? AND created_at <= ? AND id <> ?
				ORDER BY created_at DESC LIMIT ?) e2), 0)
		FROM users u WHERE u.id = ?`,
		q.IP, sessionRevokedAsStolen, q.UserID, store.Micros(q.Now), q.SessionID, MaxSessions,
		q.UserAgent, sessionRevokedAsStolen, q.UserID, store.Micros(q.Now), q.SessionID, MaxSessions,
		q.UserID).Scan(&pwd, &mfa, &login, &created, &knownIP, &knownDevice)
	if err != nil {
		return fmt.Errorf("user: %w", err)
	}
	if pwd > created {
		h.PasswordChangedAt = store.FromMicros(pwd)
	}
	h.MFAChangedAt = fromMicros(mfa)
	h.LastLoginAt = fromMicros(login)
	h.KnownIP = q.IP == "" || knownIP == 1
	h.KnownDevice = q.UserAgent == "" || knownDevice == 1
	return nil
}

// fromMicros is store.FromMicros with 0 ("never") as the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

func loadTransfers(ctx context.Context, tx *store.Tx, q Query, h *History) error {
	// The index transfers_from_owner (from_owner_id, id) yields the newest
	// first (IDs sort by creation time); LIMIT bounds the scan however many
	// transfers the customer has. Filters are applied to those rows, not in
	// the WHERE clause, so that they cannot make the scan run longer.
	rows, err := tx.QueryCached(ctx, `SELECT kind, status, to_account_id, to_owner_id, asset, amount, created_at
		FROM transfers WHERE from_owner_id = ? ORDER BY id DESC LIMIT ?`, q.UserID, MaxScanned)
	if err != nil {
		return fmt.Errorf("transfers: %w", err)
	}
	defer rows.Close()
	lookbackStart := store.Micros(q.Now.Add(-q.Lookback))
	windowStart := store.Micros(q.Now.Add(-q.Window))
	sample := make([]int64, 0, UsualSample)
	recipients := map[string]bool{}
	for rows.Next() {
		var (
			kind, status, to, asset string
			toOwner                 sql.NullString
			amount, created         int64
		)
		if err := rows.Scan(&kind, &status, &to, &toOwner, &asset, &amount, &created); err != nil {
			return fmt.Errorf("transfers: %w", err)
		}
		if kind == "adjustment" {
			continue
		}
		executed := status == "executed"
		if executed && to == q.Recipient {
			h.KnownRecipient = true
		}
		if created >= windowStart {
			h.RecentTransfers++
			if toOwner.String != q.UserID {
				recipients[to] = true
			}
		}
		if created >= lookbackStart && executed && kind == "cash" && asset == q.Currency {
			h.Transfers++
			if len(sample) < UsualSample {
				sample = append(sample, amount)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("transfers: %w", err)
	}
	h.RecentRecipients = len(recipients)
	h.UsualAmount = median(sample)
	return nil
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
func loadOwnRecipient(ctx context.Context, tx *store.Tx, q Query, h *History) error {
	if h.KnownRecipient || q.Recipient == "" {
		return nil
	}
	if q.RecipientOwner != "" {
		h.KnownRecipient = q.RecipientOwner == q.UserID
		return nil
	}
	var owner sql.NullString
	err := tx.QueryRowCached(ctx, `SELECT owner_user_id FROM accounts WHERE id = ?`, q.Recipient).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the transfer service refuses it; nothing to know
	}
	if err != nil {
		return fmt.Errorf("recipient account: %w", err)
	}
	h.KnownRecipient = owner.Valid && owner.String == q.UserID
	return nil
}
