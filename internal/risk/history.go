package risk

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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
	if err := q.check(); err != nil {
		return History{}, err
	}
	snap, err := loadSnapshot(ctx, db, q.UserID, q.Now)
	if err != nil {
		return History{}, err
	}
	return snap.history(ctx, db, q)
}

func (q Query) check() error {
	if q.UserID == "" || q.Now.IsZero() || q.Lookback <= 0 || q.Window <= 0 {
		return fmt.Errorf("risk: incomplete history query (user %q, now %v, lookback %s, window %s)",
			q.UserID, q.Now, q.Lookback, q.Window)
	}
	return nil
}

// Outgoing is one of a customer's outgoing transfers as the rules see it
// (times in Unix microseconds).
type Outgoing struct {
	ID, Kind, Status string
	To, ToOwner      string // destination account and its owner ("" for a system account)
	Asset            string
	Amount           int64
	CreatedAt        int64
}

// sessionSeen is one of a customer's sessions as the rules see it.
type sessionSeen struct {
	id, ip, userAgent string
	stolen            bool // revoked for refresh-token reuse
	createdAt         int64
}

// snapshot is what one read of the database tells about a customer: the
// user row, the MaxSessions+1 most recent sessions created at or before
// at, and the MaxScanned most recent outgoing transfers. history applies a
// Query to it; the cache keeps it.
type snapshot struct {
	at                                     int64 // Unix µs: the Now it was read for
	passwordChanged, mfaChanged, lastLogin int64
	created                                int64
	sessions                               []sessionSeen // newest first
	transfers                              []Outgoing    // by ID, newest first
}

// historyQuery reads a snapshot in one statement (one consistent view):
// the user's row (k = 0); their MaxSessions+1 most recent sessions created
// at or before Now (k = 1, index sessions_user); and their MaxScanned most
// recent outgoing transfers (k = 2; IDs sort by creation time). On
// PostgreSQL those are read through the covering index
// transfers_from_owner; on SQLite through the "sent" range of the bulk
// index transfer_parties (transfer.PartiesIndex) and the transfers past
// its mark, read by seq only.
func historyQuery(d store.Dialect) string {
	sent := `SELECT id, kind, status, to_account_id, to_owner_id, asset, amount, created_at FROM transfers
		WHERE from_owner_id = ? ORDER BY id DESC LIMIT ?`
	if d == store.SQLite {
		// ?5 and ?6 are the statement's fifth and sixth arguments, the
		// user and MaxScanned, each used in both parts.
		sent = `SELECT * FROM (SELECT t.id, t.kind, t.status, t.to_account_id, t.to_owner_id, t.asset, t.amount, t.created_at
			FROM transfer_parties p CROSS JOIN transfers t ON t.seq = p.seq
			WHERE p.owner_id = ?5 AND p.sent = 1 ORDER BY p.transfer_id DESC LIMIT ?6)
		UNION ALL SELECT * FROM (SELECT id, kind, status, to_account_id, to_owner_id, asset, amount, created_at
			FROM transfers NOT INDEXED WHERE seq > ` + store.BulkMark("transfer_parties") + ` AND from_owner_id = ?5
			ORDER BY id DESC LIMIT ?6)
		ORDER BY 1 DESC LIMIT ?6`
	}
	return `SELECT 0 AS k, '' AS id, '' AS a, '' AS b, '' AS c, '' AS d, '' AS e,
		u.password_changed_at AS n1, u.mfa_changed_at AS n2, u.last_login_at AS n3, u.created_at AS n4
	FROM users u WHERE u.id = ?
	UNION ALL
	SELECT 1, s.id, s.ip, s.user_agent, s.revoked_reason, '', '', s.created_at, 0, 0, 0
	FROM (SELECT id, ip, user_agent, revoked_reason, created_at FROM sessions
		WHERE user_id = ? AND created_at <= ? ORDER BY created_at DESC LIMIT ?) s
	UNION ALL
	SELECT 2, t.id, t.kind, t.status, t.to_account_id, COALESCE(t.to_owner_id, ''), t.asset, t.amount, t.created_at, 0, 0
	FROM (` + sent + `) t`
}

// loadSnapshot reads userID's snapshot as of now. An unknown user is an
// error satisfying store.IsNotFound.
func loadSnapshot(ctx context.Context, db *store.DB, userID string, now time.Time) (*snapshot, error) {
	snap := &snapshot{at: store.Micros(now)}
	found := false
	err := db.Query(ctx, historyQuery(db.Dialect()), []any{userID, userID, snap.at, MaxSessions + 1, userID, MaxScanned},
		func(rows *sql.Rows) error {
			for rows.Next() {
				var (
					k                 int
					id, a, b, c, d, e string
					n1, n2, n3, n4    int64
				)
				if err := rows.Scan(&k, &id, &a, &b, &c, &d, &e, &n1, &n2, &n3, &n4); err != nil {
					return err
				}
				switch k {
				case 0:
					found = true
					snap.passwordChanged, snap.mfaChanged, snap.lastLogin, snap.created = n1, n2, n3, n4
				case 1:
					snap.sessions = append(snap.sessions, sessionSeen{id: id, ip: a, userAgent: b,
						stolen: c == sessionRevokedAsStolen, createdAt: n1})
				case 2:
					snap.transfers = append(snap.transfers, Outgoing{ID: id, Kind: a, Status: b, To: c, ToOwner: d,
						Asset: e, Amount: n1, CreatedAt: n2})
				}
			}
			return rows.Err()
		})
	if err == nil && !found {
		err = fmt.Errorf("user: %w", sql.ErrNoRows)
	}
	if err != nil {
		return nil, fmt.Errorf("risk: load history of %s: %w", userID, err)
	}
	// The branches of a UNION come in no promised order.
	slices.SortStableFunc(snap.sessions, func(x, y sessionSeen) int { return cmp.Compare(y.createdAt, x.createdAt) })
	slices.SortFunc(snap.transfers, func(x, y Outgoing) int { return strings.Compare(y.ID, x.ID) })
	return snap, nil
}

// history applies q to the snapshot (see LoadHistory for which rows
// count), looking up whether the customer owns q.Recipient when neither
// the transfers nor q tell.
func (s *snapshot) history(ctx context.Context, db *store.DB, q Query) (History, error) {
	var h History
	if s.passwordChanged > s.created {
		h.PasswordChangedAt = store.FromMicros(s.passwordChanged)
	}
	h.MFAChangedAt = fromMicros(s.mfaChanged)
	h.LastLoginAt = fromMicros(s.lastLogin)
	h.KnownIP, h.KnownDevice = q.IP == "", q.UserAgent == ""
	now, earlier := store.Micros(q.Now), 0
	for _, e := range s.sessions {
		if earlier == MaxSessions || h.KnownIP && h.KnownDevice {
			break // nothing later can change either answer
		}
		if e.createdAt > now || e.id == q.SessionID {
			continue
		}
		earlier++
		if !e.stolen {
			h.KnownIP = h.KnownIP || e.ip == q.IP
			h.KnownDevice = h.KnownDevice || e.userAgent == q.UserAgent
		}
	}
	acc := newTransferAccumulator(q)
	for _, t := range s.transfers {
		acc.add(t, &h)
	}
	acc.finish(&h)
	if !h.KnownRecipient && q.Recipient != "" {
		if err := loadOwnRecipient(ctx, db, q, &h); err != nil {
			return History{}, fmt.Errorf("risk: load history of %s: %w", q.UserID, err)
		}
	}
	return h, nil
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
func (a *transferAccumulator) add(t Outgoing, h *History) {
	if t.Kind == "adjustment" {
		return
	}
	executed := t.Status == "executed"
	if executed && t.To == a.q.Recipient {
		h.KnownRecipient = true
	}
	if t.CreatedAt >= a.windowStart {
		h.RecentTransfers++
		if t.ToOwner != a.q.UserID {
			a.recipients[t.To] = true
		}
	}
	if t.CreatedAt >= a.lookbackStart && executed && t.Kind == "cash" && t.Asset == a.q.Currency {
		h.Transfers++
		if len(a.sample) < UsualSample {
			a.sample = append(a.sample, t.Amount)
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
