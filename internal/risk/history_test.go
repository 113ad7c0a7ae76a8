package risk_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/risk"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/transfer"
)

// seed writes rows straight into a fresh database, the way the services
// would have left them.
type seed struct {
	t   *testing.T
	db  *store.DB
	ctx context.Context
}

func (s seed) exec(query string, args ...any) {
	s.t.Helper()
	err := s.db.Write(s.ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(s.ctx, query, args...)
		return err
	})
	if err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

// user inserts a user; zero times are stored as 0 ("never"), and a zero
// passwordChanged means the password set at registration.
func (s seed) user(id string, created, passwordChanged, mfaChanged, lastLogin time.Time) {
	s.t.Helper()
	if passwordChanged.IsZero() {
		passwordChanged = created
	}
	s.exec(`INSERT INTO users (id, email, name, password_hash, roles, password_changed_at, mfa_changed_at,
		last_login_at, created_at, updated_at) VALUES (?, ?, ?, 'x', 'customer', ?, ?, ?, ?, ?)`,
		id, id+"@example.com", id, micros(passwordChanged), micros(mfaChanged), micros(lastLogin),
		micros(created), micros(created))
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Micros(t)
}

func (s seed) account(id, owner string, at time.Time) {
	s.t.Helper()
	s.exec(`INSERT INTO accounts (id, owner_user_id, kind, name, currency, created_at) VALUES (?, ?, 'checking', 'Main', 'USD', ?)`,
		id, owner, store.Micros(at))
}

type trf struct {
	kind, status, from, to, fromOwner, toOwner, asset string
	amount                                            int64
	at                                                time.Time
}

func (s seed) transfers(ts ...trf) {
	s.t.Helper()
	err := s.db.Write(s.ctx, func(tx *store.Tx) error {
		for _, x := range ts {
			tid := id.New("trf", x.at) // IDs sort by creation time, as the service makes them
			var entry, toOwner sql.NullString
			if x.status == "executed" {
				entry = sql.NullString{String: "ent_" + tid, Valid: true}
			}
			if x.toOwner != "" {
				toOwner = sql.NullString{String: x.toOwner, Valid: true}
			}
			if _, err := tx.Exec(s.ctx, `INSERT INTO transfers (id, kind, status, maker_user_id, from_account_id,
				to_account_id, from_owner_id, to_owner_id, asset, amount, entry_id, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				tid, x.kind, x.status, x.fromOwner, x.from, x.to, x.fromOwner, toOwner, x.asset, x.amount, entry,
				store.Micros(x.at), store.Micros(x.at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.t.Fatalf("insert transfers: %v", err)
	}
}

type ses struct {
	id, user, ip, ua, revokedReason string
	at                              time.Time
}

func (s seed) sessions(ss ...ses) {
	s.t.Helper()
	for _, x := range ss {
		var revokedAt int64
		if x.revokedReason != "" {
			revokedAt = store.Micros(x.at.Add(time.Minute))
		}
		s.exec(`INSERT INTO sessions (id, user_id, kind, ip, user_agent, created_at, last_seen_at, expires_at,
			revoked_at, revoked_reason) VALUES (?, ?, 'bearer', ?, ?, ?, ?, ?, ?, ?)`,
			x.id, x.user, x.ip, x.ua, store.Micros(x.at), store.Micros(x.at), store.Micros(x.at.Add(30*24*time.Hour)),
			revokedAt, x.revokedReason)
	}
}

// hnow is the "now" of the history tests.
var hnow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const (
	lookback = 90 * 24 * time.Hour
	window   = 10 * time.Minute
)

func query(user, recipient string) risk.Query {
	return risk.Query{UserID: user, Currency: "USD", Recipient: recipient, IP: "203.0.113.1", UserAgent: "Firefox",
		SessionID: "ses_current", Now: hnow, Lookback: lookback, Window: window}
}

// load reads q's history, and on SQLite reads it again once the
// transfers' parties are indexed (the first read took the transfers past
// the bulk index's mark): both must be the same.
func load(t *testing.T, db *store.DB, q risk.Query) risk.History {
	t.Helper()
	ctx := context.Background()
	h, err := risk.LoadHistory(ctx, db, q)
	if err != nil {
		t.Fatalf("LoadHistory(%+v): %v", q, err)
	}
	if err := store.NewIndexer(db, slog.New(slog.DiscardHandler), transfer.PartiesIndex).CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	indexed, err := risk.LoadHistory(ctx, db, q)
	if err != nil {
		t.Fatalf("LoadHistory(%+v), indexed: %v", q, err)
	}
	if !reflect.DeepEqual(indexed, h) {
		t.Fatalf("LoadHistory(%+v): indexed\n%+v\nbefore\n%+v", q, indexed, h)
	}
	return h
}

// seedAlice gives alice (accounts acct_a1 and acct_a2) a past: payments to
// bob and carol, around the lookback and window boundaries, and sessions.
func seedAlice(t *testing.T, db *store.DB) {
	t.Helper()
	s := seed{t, db, context.Background()}
	created := hnow.Add(-400 * 24 * time.Hour)
	s.user("usr_alice", created, time.Time{}, hnow.Add(-30*time.Hour), hnow.Add(-time.Minute))
	s.user("usr_bob", created, time.Time{}, time.Time{}, time.Time{})
	s.account("acct_a1", "usr_alice", created)
	s.account("acct_a2", "usr_alice", created)
	s.account("acct_bob", "usr_bob", created)
	day := 24 * time.Hour
	cash := func(status, to, toOwner, asset string, amount int64, at time.Time) trf {
		return trf{"cash", status, "acct_a1", to, "usr_alice", toOwner, asset, amount, at}
	}
	s.transfers(
		// Older than the lookback by 1µs: ignored for the usual amount, but
		// bob is a known recipient.
		cash("executed", "acct_bob", "usr_bob", "USD", 1_000_000_00, hnow.Add(-lookback-time.Microsecond)),
		// Exactly at the lookback: counted.
		cash("executed", "acct_bob", "usr_bob", "USD", 400, hnow.Add(-lookback)),
		cash("executed", "acct_bob", "usr_bob", "USD", 100, hnow.Add(-60*day)),
		cash("executed", "acct_bob", "usr_bob", "USD", 300, hnow.Add(-30*day)),
		cash("executed", "acct_bob", "usr_bob", "USD", 200, hnow.Add(-2*day)),
		// Not executed, another currency, shares, an adjustment: none counts.
		cash("rejected", "acct_bob", "usr_bob", "USD", 50_000, hnow.Add(-3*day)),
		cash("reversed", "acct_bob", "usr_bob", "USD", 50_000, hnow.Add(-3*day)),
		cash("executed", "acct_bob", "usr_bob", "EUR", 50_000, hnow.Add(-3*day)),
		trf{"shares", "executed", "acct_a1", "acct_bob", "usr_alice", "usr_bob", "ACME", 50_000, hnow.Add(-3 * day)},
		trf{"adjustment", "executed", "acct_a1", "acct_ext", "usr_alice", "", "USD", 50_000, hnow.Add(-3 * day)},
		// carol was only ever sent a transfer that was rejected.
		cash("rejected", "acct_carol", "usr_carol", "USD", 900, hnow.Add(-5*day)),
		// The velocity window: 1µs too early, then exactly at its start and
		// inside it, of any status; acct_a2 is alice's own.
		cash("executed", "acct_dave", "usr_dave", "EUR", 10, hnow.Add(-window-time.Microsecond)),
		cash("executed", "acct_erin", "usr_erin", "EUR", 10, hnow.Add(-window)),
		cash("under_review", "acct_frank", "usr_frank", "EUR", 10, hnow.Add(-5*time.Minute)),
		cash("rejected", "acct_erin", "usr_erin", "EUR", 10, hnow.Add(-4*time.Minute)),
		cash("executed", "acct_a2", "usr_alice", "EUR", 10, hnow.Add(-3*time.Minute)),
		trf{"adjustment", "executed", "acct_a1", "acct_ext", "usr_alice", "", "EUR", 10, hnow.Add(-2 * time.Minute)},
	)
	s.sessions(
		ses{"ses_current", "usr_alice", "198.51.100.9", "NewPhone", "", hnow.Add(-time.Minute)},
		ses{"ses_old", "usr_alice", "203.0.113.1", "Firefox", "logout", hnow.Add(-10 * day)},
		ses{"ses_stolen", "usr_alice", "192.0.2.66", "EvilBrowser", "refresh_token_reuse", hnow.Add(-9 * day)},
		ses{"ses_later", "usr_alice", "192.0.2.50", "LaterBrowser", "", hnow.Add(time.Second)},
		ses{"ses_bob", "usr_bob", "192.0.2.77", "BobBrowser", "", hnow.Add(-day)},
	)
}

func TestLoadHistory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seedAlice(t, db)

		t.Run("transfers, sign-in and credentials", func(t *testing.T) {
			h := load(t, db, query("usr_alice", "acct_bob"))
			want := risk.History{
				UsualAmount:      250, // median of 400, 100, 300, 200
				Transfers:        4,
				KnownRecipient:   true,
				RecentTransfers:  4, // erin (at the window start), frank, erin again, own account; not the adjustment
				RecentRecipients: 2, // erin, frank
				LastLoginAt:      hnow.Add(-time.Minute),
				MFAChangedAt:     hnow.Add(-30 * time.Hour),
				// The password is the one set at registration: no change.
				KnownIP:     true,
				KnownDevice: true,
			}
			if h != want {
				t.Fatalf("got  %+v\nwant %+v", h, want)
			}
		})

		t.Run("recipients", func(t *testing.T) {
			for _, tc := range []struct {
				recipient string
				known     bool
			}{
				{"acct_bob", true},    // executed transfers, some beyond the lookback
				{"acct_carol", false}, // only a rejected one
				{"acct_a2", true},     // alice's own
				{"acct_erin", true},   // executed, in the window
				{"acct_frank", false}, // under review
				{"acct_ext", false},   // only adjustments
				{"acct_nobody", false},
				{"", false},
			} {
				if h := load(t, db, query("usr_alice", tc.recipient)); h.KnownRecipient != tc.known {
					t.Errorf("recipient %q: known %t, want %t", tc.recipient, h.KnownRecipient, tc.known)
				}
			}
			// A caller that knows the destination's owner spares the lookup:
			// the answer is the same as the lookup's.
			for _, tc := range []struct {
				recipient, owner string
				known            bool
			}{
				{"acct_a2", "usr_alice", true},
				{"acct_carol", "usr_carol", false},
				{"acct_bob", "usr_bob", true}, // known from the transfers, whoever owns it
			} {
				q := query("usr_alice", tc.recipient)
				q.RecipientOwner = tc.owner
				if h := load(t, db, q); h.KnownRecipient != tc.known {
					t.Errorf("recipient %q owned by %q: known %t, want %t", tc.recipient, tc.owner, h.KnownRecipient, tc.known)
				}
			}
		})

		t.Run("IP and device", func(t *testing.T) {
			for _, tc := range []struct {
				name, ip, ua         string
				knownIP, knownDevice bool
			}{
				{"seen in an earlier (logged out) session", "203.0.113.1", "Firefox", true, true},
				{"only in the current session", "198.51.100.9", "NewPhone", false, false},
				{"only in a session revoked as stolen", "192.0.2.66", "EvilBrowser", false, false},
				{"only in a session created after now", "192.0.2.50", "LaterBrowser", false, false},
				{"only in another user's session", "192.0.2.77", "BobBrowser", false, false},
				{"known IP, new device", "203.0.113.1", "NewPhone", true, false},
				{"unknown to the caller", "", "", true, true},
			} {
				q := query("usr_alice", "acct_bob")
				q.IP, q.UserAgent = tc.ip, tc.ua
				h := load(t, db, q)
				if h.KnownIP != tc.knownIP || h.KnownDevice != tc.knownDevice {
					t.Errorf("%s: known IP %t device %t, want %t %t", tc.name, h.KnownIP, h.KnownDevice, tc.knownIP, tc.knownDevice)
				}
			}
			// Without excluding the current session, its IP would be known:
			// the exclusion is what makes the case above fail.
			q := query("usr_alice", "acct_bob")
			q.IP, q.SessionID = "198.51.100.9", "ses_other"
			if h := load(t, db, q); !h.KnownIP {
				t.Error("the IP of a session that is not the current one is not known")
			}
		})

		t.Run("assessment of a takeover-looking transfer", func(t *testing.T) {
			c := risk.Default()
			// Six hours later: sign-in long past, and the transfer at exactly
			// the lookback has fallen out of it (usual 200, 3 transfers).
			in := risk.Input{Now: hnow.Add(6 * time.Hour), Amount: 2_000, Currency: "USD", UserID: "usr_alice",
				Recipient: "acct_carol", IP: "198.51.100.9", UserAgent: "NewPhone"}
			in.History = risk.History{KnownIP: true, KnownDevice: true, KnownRecipient: true} // ignored
			a, err := risk.NewScorer(db, c, nil).Assess(context.Background(), in, "ses_current")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{risk.RuleAmountAboveUsual, risk.RuleNewRecipient, risk.RuleNewIPDevice}
			if len(a.Reasons) != len(want) || !a.Review || a.Score != 75 {
				t.Fatalf("got %+v, want reasons %v and review", a, want)
			}
			for i, r := range a.Reasons {
				if r.Rule != want[i] {
					t.Fatalf("reason %d is %s, want %s: %+v", i, r.Rule, want[i], a)
				}
			}
			if got := a.Reasons[0].Message; got != "Amount 20.00 USD is 10x the customer's usual 2.00 USD" {
				t.Errorf("message %q", got)
			}
		})
	})
}

func TestLoadHistoryCredentialsAndNewCustomer(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := seed{t, db, context.Background()}
		created := hnow.Add(-time.Hour)
		s.user("usr_new", created, time.Time{}, time.Time{}, time.Time{})
		s.user("usr_changed", created, hnow.Add(-10*time.Minute), time.Time{}, time.Time{})

		h := load(t, db, query("usr_new", "acct_x"))
		if h != (risk.History{}) {
			t.Errorf("a customer with no past: %+v", h)
		}
		h = load(t, db, query("usr_changed", "acct_x"))
		if !h.PasswordChangedAt.Equal(hnow.Add(-10*time.Minute)) || h.PasswordChangedAt.Location() != time.UTC {
			t.Errorf("password changed at %v", h.PasswordChangedAt)
		}

		_, err := risk.LoadHistory(context.Background(), db, query("usr_ghost", "acct_x"))
		if !store.IsNotFound(err) {
			t.Errorf("unknown user: %v, want not found", err)
		}
		bad := query("usr_new", "acct_x")
		bad.Window = 0
		if _, err := risk.LoadHistory(context.Background(), db, bad); err == nil {
			t.Error("a query without a window was accepted")
		}
	})
}

// TestLoadHistoryIsBounded: a customer with more transfers than MaxScanned
// gets figures from the most recent MaxScanned, and the usual amount from the
// most recent UsualSample of those.
func TestLoadHistoryIsBounded(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := seed{t, db, context.Background()}
		s.user("usr_busy", hnow.Add(-400*24*time.Hour), time.Time{}, time.Time{}, time.Time{})
		n := risk.MaxScanned + 20
		ts := make([]trf, 0, n)
		for i := range n {
			// Amount i+1, one an hour, the newest last; the oldest ones go to
			// acct_old, which falls out of the scan.
			to := "acct_new"
			if i < 20 {
				to = "acct_old"
			}
			at := hnow.Add(-time.Duration(n-i) * time.Hour)
			ts = append(ts, trf{"cash", "executed", "acct_b", to, "usr_busy", "usr_other", "USD", int64(i + 1), at})
		}
		s.transfers(ts...)

		h := load(t, db, query("usr_busy", "acct_old"))
		// The newest UsualSample amounts are n-49 … n; their median is the
		// mean of the middle two, rounded down.
		lo, hi := int64(n-risk.UsualSample+1), int64(n)
		if want := lo + (hi-lo)/2; h.UsualAmount != want {
			t.Errorf("usual amount %d, want %d", h.UsualAmount, want)
		}
		if h.Transfers != risk.MaxScanned {
			t.Errorf("transfers %d, want %d", h.Transfers, risk.MaxScanned)
		}
		if h.KnownRecipient {
			t.Error("a recipient beyond the scanned transfers is known")
		}
		if h := load(t, db, query("usr_busy", "acct_new")); !h.KnownRecipient {
			t.Error("a recent recipient is not known")
		}
	})
}

// Example of the figures a compliance officer sees.
func ExampleConfig_Assess() {
	c := risk.Default()
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.UTC)
	a := c.Assess(risk.Input{
		Now: now, Amount: 12_500_00, Currency: "USD", UserID: "usr_1", Recipient: "acct_2",
		IP: "198.51.100.9", UserAgent: "NewPhone/1.0",
		History: risk.History{UsualAmount: 500_00, Transfers: 12, KnownIP: true, LastLoginAt: now.Add(-time.Hour)},
	})
	fmt.Println(a.Score, a.Review)
	for _, r := range a.Reasons {
		fmt.Printf("%s +%d: %s\n", r.Rule, r.Points, r.Message)
	}
	// Output:
	// 75 true
	// amount_above_usual +35: Amount 12,500.00 USD is 25x the customer's usual 500.00 USD
	// new_recipient +15: First transfer to account "acct_2"
	// new_ip_device +25: New device (user agent "NewPhone/1.0"): not seen in the customer's earlier sessions
}

// TestScorerWithoutRulesReadsNothing: with every rule off there is nothing
// to feed, so no history is loaded (an unknown user, which LoadHistory
// refuses, passes), and nothing is reviewed.
func TestScorerWithoutRulesReadsNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		off, err := risk.Parse([]byte(`{"rules": []}`))
		if err != nil {
			t.Fatal(err)
		}
		in := risk.Input{Now: hnow, Amount: 1, Currency: "USD", UserID: "usr_nobody", Recipient: "acct_x"}
		a, err := risk.NewScorer(db, off, nil).Assess(context.Background(), in, "ses_x")
		if err != nil || a.Score != 0 || a.Review || len(a.Reasons) != 0 {
			t.Fatalf("no rules: %+v %v", a, err)
		}
		if _, err := risk.NewScorer(db, risk.Default(), nil).Assess(context.Background(), in, "ses_x"); !store.IsNotFound(err) {
			t.Fatalf("with rules, an unknown user: %v, want not found", err)
		}
	})
}
