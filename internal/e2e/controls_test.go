package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/outbox"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/testapp"
)

// controlsEnv: default approval thresholds (USD: auto ≤ 10,000.00, two
// approvers above 50,000.00), no limits, fraud rules out of the way (each
// rule test sets its own).
var controlsEnv = map[string]string{"TRANSFER_LIMITS": "standard:USD:0:0:0", "RISK_REVIEW_SCORE": "1000000"}

func withEnv(extra map[string]string) testapp.Options {
	env := map[string]string{}
	for k, v := range controlsEnv {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return testapp.Options{Env: env}
}

// controls is a server with a funded customer, a recipient, and two
// approvers.
type controls struct {
	*ledgerEnv
	alice, bob         *client.Client
	from, to           string
	compliance, admin2 *client.Client
}

func newControls(t *testing.T, env *testapp.Env, funding int64) *controls {
	t.Helper()
	l := newLedgerEnv(t, env)
	c := &controls{ledgerEnv: l}
	c.alice, _ = register(t, env, "ctl-alice@example.com")
	c.bob, _ = register(t, env, "ctl-bob@example.com")
	c.from = openAccount(t, c.alice, "checking", "USD")
	c.to = openAccount(t, c.bob, "checking", "USD")
	l.fund(t, c.from, funding)
	c.compliance, _ = staff(t, env, "ctl-compliance@example.com", authz.Compliance)
	c.admin2, _ = staff(t, env, "ctl-admin2@example.com", authz.Admin)
	return c
}

// relogin signs everyone in again after the clock jumped past the access
// tokens' lifetime.
func (c *controls) relogin(t *testing.T) {
	t.Helper()
	for _, x := range []struct {
		c     *client.Client
		email string
	}{{c.alice, "ctl-alice@example.com"}, {c.bob, "ctl-bob@example.com"}, {c.compliance, "ctl-compliance@example.com"},
		{c.admin2, "ctl-admin2@example.com"}, {c.admin, "ledger-admin@example.com"}} {
		_, resp, err := x.c.Login(ctx, x.email, goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
	}
}

type decidedBody struct {
	transferBody
	RequiredApprovals int    `json:"required_approvals"`
	Approvals         int    `json:"approvals"`
	Reason            string `json:"reason"`
	ReversesID        string `json:"reverses_id"`
	ReversalID        string `json:"reversal_id"`
	RiskScore         *int   `json:"risk_score"`
	RiskReasons       []struct {
		Rule    string `json:"rule"`
		Points  int    `json:"points"`
		Message string `json:"message"`
	} `json:"risk_reasons"`
	Decisions []struct {
		UserID   string `json:"user_id"`
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	} `json:"decisions"`
}

func decode[T any](t testing.TB, resp *client.Response) T {
	t.Helper()
	var v T
	if err := resp.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", resp.Body, err)
	}
	return v
}

func (c *controls) send(t *testing.T, amount int64, want int) decidedBody {
	t.Helper()
	resp, err := sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, amount))
	mustStatus(t, resp, err, want)
	return decode[decidedBody](t, resp)
}

func decide(who *client.Client, id, action, reason string) (*client.Response, error) {
	var body any
	if reason != "" {
		body = map[string]any{"reason": reason}
	}
	return who.Post(ctx, "/api/v1/transfers/"+id+"/"+action, body)
}

func (c *controls) balances(t *testing.T) (from, fromAvail, to int64) {
	t.Helper()
	a, b := getAccount(t, c.alice, c.from), getAccount(t, c.bob, c.to)
	return a.Balance, a.AvailableBalance, b.Balance
}

func TestApprovalThresholds(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 200_000_00)

		// At the threshold: executes at once.
		tr := c.send(t, 10_000_00, http.StatusCreated)
		if tr.Status != "executed" || tr.RequiredApprovals != 0 {
			t.Fatalf("auto-approved transfer: %+v", tr)
		}

		// Above it: waits with its funds held.
		tr = c.send(t, 15_000_00, http.StatusAccepted)
		if tr.Status != "pending_approval" || tr.RequiredApprovals != 1 || tr.EntryID != nil {
			t.Fatalf("single-approval transfer: %+v", tr)
		}
		if bal, avail, to := c.balances(t); bal != 190_000_00 || avail != 175_000_00 || to != 10_000_00 {
			t.Fatalf("while pending: balance %d available %d recipient %d", bal, avail, to)
		}
		// The maker cannot approve (a customer lacks the permission anyway);
		// an admin who made a transfer cannot approve it either: see below.
		resp, err := decide(c.alice, tr.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusForbidden, "forbidden")
		resp, err = decide(c.compliance, tr.ID, "approve", "checked")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "executed" || got.Approvals != 1 || got.EntryID == nil ||
			len(got.Decisions) != 1 || got.Decisions[0].Decision != "approve" {
			t.Fatalf("approved: %s", resp.Body)
		}
		resp, err = decide(c.compliance, tr.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusConflict, "not_pending")
		if bal, avail, to := c.balances(t); bal != 175_000_00 || avail != 175_000_00 || to != 25_000_00 {
			t.Fatalf("after approval: balance %d available %d recipient %d", bal, avail, to)
		}

		// Above the dual threshold: two different approvers.
		tr = c.send(t, 60_000_00, http.StatusAccepted)
		if tr.RequiredApprovals != 2 {
			t.Fatalf("dual-approval transfer: %+v", tr)
		}
		resp, err = decide(c.compliance, tr.ID, "approve", "")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "pending_approval" || got.Approvals != 1 {
			t.Fatalf("after the first of two approvals: %s", resp.Body)
		}
		resp, err = decide(c.compliance, tr.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusConflict, "already_decided")
		resp, err = decide(c.admin2, tr.ID, "approve", "")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "executed" || got.Approvals != 2 || len(got.Decisions) != 2 {
			t.Fatalf("after the second approval: %s", resp.Body)
		}
		if bal, _, to := c.balances(t); bal != 115_000_00 || to != 85_000_00 {
			t.Fatalf("after dual approval: %d / %d", bal, to)
		}
		// The review queue shows what waits, with the maker.
		tr = c.send(t, 20_000_00, http.StatusAccepted)
		resp, err = c.compliance.Get(ctx, "/api/v1/transfers?status=pending_approval")
		mustStatus(t, resp, err, http.StatusOK)
		if !strings.Contains(string(resp.Body), tr.ID) || !strings.Contains(string(resp.Body), `"maker_id"`) {
			t.Fatalf("review queue: %s", resp.Body)
		}
		l := c.ledgerEnv
		l.verifyClean(t)
		wantEvents(t, env, tr.ID, "transfer.created")
	})
}

func TestAdminCannotApproveOwnReversal(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 100_000_00)
		tr := c.send(t, 20_000_00, http.StatusAccepted)
		resp, err := decide(c.compliance, tr.ID, "approve", "")
		mustStatus(t, resp, err, http.StatusOK)
		// A reversal above the threshold waits for someone other than its maker.
		resp, err = c.compliance.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/transfers/" + tr.ID + "/reverse",
			Header: http.Header{"Idempotency-Key": {"rev-1"}}, Body: map[string]any{"reason": "sent by mistake"}})
		mustStatus(t, resp, err, http.StatusAccepted)
		rev := decode[decidedBody](t, resp)
		if rev.Kind != "reversal" || rev.ReversesID != tr.ID || rev.Status != "pending_approval" || rev.FromAccountID != c.to {
			t.Fatalf("reversal: %s", resp.Body)
		}
		resp, err = decide(c.compliance, rev.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusForbidden, "self_approval")
		// A second reversal while one waits is refused.
		resp, err = c.admin2.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/transfers/" + tr.ID + "/reverse",
			Header: http.Header{"Idempotency-Key": {"rev-2"}}, Body: map[string]any{"reason": "again"}})
		mustProblem(t, resp, err, http.StatusConflict, "not_pending")
		resp, err = decide(c.admin2, rev.ID, "approve", "ok")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "executed" {
			t.Fatalf("approved reversal: %s", resp.Body)
		}
		resp, err = c.compliance.Get(ctx, "/api/v1/transfers/"+tr.ID)
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "reversed" || got.ReversalID != rev.ID {
			t.Fatalf("original after reversal: %s", resp.Body)
		}
		if bal, _, to := c.balances(t); bal != 100_000_00 || to != 0 {
			t.Fatalf("after reversal: %d / %d", bal, to)
		}
		c.verifyClean(t)
	})
}

func TestRejectAndExpiryReleaseTheHold(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 100_000_00)
		tr := c.send(t, 30_000_00, http.StatusAccepted)
		resp, err := decide(c.compliance, tr.ID, "reject", "")
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		resp, err = decide(c.compliance, tr.ID, "reject", "Unusual recipient")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "rejected" || got.Reason != "Unusual recipient" {
			t.Fatalf("rejected: %s", resp.Body)
		}
		if bal, avail, to := c.balances(t); bal != 100_000_00 || avail != 100_000_00 || to != 0 {
			t.Fatalf("after rejection: %d %d %d", bal, avail, to)
		}
		resp, err = decide(c.admin2, tr.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusConflict, "not_pending")

		// Expiry: 72 hours later the hold is released by the sweeper.
		tr = c.send(t, 40_000_00, http.StatusAccepted)
		if _, avail, _ := c.balances(t); avail != 60_000_00 {
			t.Fatalf("held: available %d", avail)
		}
		env.Clock.Advance(71 * time.Hour)
		c.relogin(t) // access tokens last minutes
		if n, err := env.App.Transfers().ExpireDue(ctx, env.Clock.Now()); err != nil || n != 0 {
			t.Fatalf("expired %d early: %v", n, err)
		}
		env.Clock.Advance(2 * time.Hour)
		c.relogin(t)
		// The server's own sweeper (every second, on the same clock) may
		// have expired it first: exactly one of the two does, which the
		// status and the single transfer.expired event below show.
		if n, err := env.App.Transfers().ExpireDue(ctx, env.Clock.Now()); err != nil || n > 1 {
			t.Fatalf("expired %d, want at most 1: %v", n, err)
		}
		resp, err = c.alice.Get(ctx, "/api/v1/transfers/"+tr.ID)
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "expired" {
			t.Fatalf("after expiry: %s", resp.Body)
		}
		if bal, avail, _ := c.balances(t); bal != 100_000_00 || avail != 100_000_00 {
			t.Fatalf("after expiry: %d %d", bal, avail)
		}
		resp, err = decide(c.compliance, tr.ID, "approve", "")
		mustProblem(t, resp, err, http.StatusConflict, "not_pending")
		wantEvents(t, env, tr.ID, "transfer.created", "transfer.expired")
		c.verifyClean(t)
	})
}

// TestApproveRejectRace: of an approval and a rejection sent at the same
// moment exactly one wins, and the ledger agrees with the winner.
func TestApproveRejectRace(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 1_000_000_00)
		const n = 8
		var approved, rejected int
		for i := range n {
			tr := c.send(t, 20_000_00+int64(i), http.StatusAccepted)
			var wg sync.WaitGroup
			var okApprove, okReject atomic.Bool
			wg.Go(func() {
				resp, err := decide(c.compliance, tr.ID, "approve", "")
				if err == nil && resp.Status == http.StatusOK {
					okApprove.Store(true)
				} else if err != nil || resp.Status != http.StatusConflict {
					t.Errorf("approve: %v %v", err, resp)
				}
			})
			wg.Go(func() {
				resp, err := decide(c.admin2, tr.ID, "reject", "race")
				if err == nil && resp.Status == http.StatusOK {
					okReject.Store(true)
				} else if err != nil || resp.Status != http.StatusConflict {
					t.Errorf("reject: %v %v", err, resp)
				}
			})
			wg.Wait()
			if okApprove.Load() == okReject.Load() {
				t.Fatalf("transfer %d: approve won %t, reject won %t; want exactly one", i, okApprove.Load(), okReject.Load())
			}
			if okApprove.Load() {
				approved++
			} else {
				rejected++
			}
		}
		var moved int64
		resp, err := c.compliance.Get(ctx, "/api/v1/transfers?account_id="+c.from+"&status=executed&limit=200")
		mustStatus(t, resp, err, http.StatusOK)
		for _, tr := range decode[struct{ Data []decidedBody }](t, resp).Data {
			if tr.Kind == "cash" {
				moved += tr.Amount
			}
		}
		if bal, avail, to := c.balances(t); bal+to != 1_000_000_00 || to != moved || avail != bal {
			t.Fatalf("after the races (%d approved, %d rejected): %d %d %d, moved %d", approved, rejected, bal, avail, to, moved)
		}
		c.verifyClean(t)
	})
}

// TestLimitsUnderConcurrency: a daily limit holds when many transfers race
// for it, and a per-transfer maximum refuses at once.
func TestLimitsUnderConcurrency(t *testing.T) {
	eachEngine(t, withEnv(map[string]string{"TRANSFER_LIMITS": "standard:USD:500.00:1000.00:5000.00"}), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 100_000_00)
		resp, err := sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, 500_01))
		p := mustProblem(t, resp, err, http.StatusUnprocessableEntity, "limit_exceeded")
		if p.Extra["period"] != "per_transfer" || p.Extra["limit"] != float64(500_00) {
			t.Fatalf("per-transfer refusal: %s", resp.Body)
		}
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				resp, err := sendTransfer(c.alice, fmt.Sprintf("limit-%d", i), cashBody(c.from, c.to, 100_00))
				switch {
				case err != nil:
					t.Error(err)
				case resp.Status == http.StatusCreated:
					ok.Add(1)
				case resp.Problem != nil && resp.Problem.Code == "limit_exceeded" && resp.Problem.Extra["period"] == "daily":
					refused.Add(1)
				default:
					t.Errorf("%d %s", resp.Status, resp.Body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 10 || refused.Load() != 20 {
			t.Fatalf("%d went through and %d were refused; the daily limit allows exactly 10", ok.Load(), refused.Load())
		}
		// The next day the limit is fresh.
		env.Clock.Advance(24 * time.Hour)
		c.relogin(t)
		resp, err = sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, 100_00))
		mustStatus(t, resp, err, http.StatusCreated)
		if _, _, to := c.balances(t); to != 1_100_00 {
			t.Fatalf("recipient has %d", to)
		}
		c.verifyClean(t)
	})
}

// TestTierSelectsLimits: an administrator moves a customer to another tier
// and the customer's limits follow at once.
func TestTierSelectsLimits(t *testing.T) {
	eachEngine(t, withEnv(map[string]string{"TRANSFER_LIMITS": "standard:USD:100.00:0:0,premium:USD:1000.00:0:0"}), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 10_000_00)
		resp, err := sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, 500_00))
		p := mustProblem(t, resp, err, http.StatusUnprocessableEntity, "limit_exceeded")
		if p.Extra["limit"] != float64(100_00) {
			t.Fatalf("standard limit: %s", resp.Body)
		}
		resp, err = c.alice.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)
		aliceID := decode[struct {
			ID string `json:"id"`
		}](t, resp).ID
		resp, err = c.compliance.Do(ctx, client.Request{Method: "PUT", Path: "/api/v1/admin/users/" + aliceID + "/tier", Body: map[string]any{"tier": "premium"}})
		mustProblem(t, resp, err, http.StatusForbidden, "forbidden")
		resp, err = c.admin.Do(ctx, client.Request{Method: "PUT", Path: "/api/v1/admin/users/" + aliceID + "/tier", Body: map[string]any{"tier": "gold"}})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		resp, err = c.admin.Do(ctx, client.Request{Method: "PUT", Path: "/api/v1/admin/users/" + aliceID + "/tier", Body: map[string]any{"tier": "premium"}})
		mustStatus(t, resp, err, http.StatusOK)
		if got := auditActions(t, env, aliceID); !contains(got, "user.tier_changed") {
			t.Fatalf("audit of the user: %v", got)
		}
		resp, err = sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, 500_00))
		mustStatus(t, resp, err, http.StatusCreated)
		resp, err = sendTransfer(c.alice, c.key(), cashBody(c.from, c.to, 1_000_01))
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "limit_exceeded")
	})
}

// TestReversalOnce: a reversal below the threshold executes at once, and of
// many concurrent reversal requests exactly one is applied.
func TestReversalOnce(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 10_000_00)
		tr := c.send(t, 2_500_00, http.StatusCreated)
		resp, err := c.alice.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/transfers/" + tr.ID + "/reverse",
			Header: http.Header{"Idempotency-Key": {"cust"}}, Body: map[string]any{"reason": "mine"}})
		mustProblem(t, resp, err, http.StatusForbidden, "forbidden")
		var applied atomic.Int64
		var wg sync.WaitGroup
		for i := range 10 {
			who := c.compliance
			if i%2 == 1 {
				who = c.admin2
			}
			wg.Go(func() {
				resp, err := who.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/transfers/" + tr.ID + "/reverse",
					Header: http.Header{"Idempotency-Key": {fmt.Sprintf("rev-%d", i)}}, Body: map[string]any{"reason": "duplicate payment"}})
				switch {
				case err != nil:
					t.Error(err)
				case resp.Status == http.StatusCreated:
					applied.Add(1)
				case resp.Status != http.StatusConflict:
					t.Errorf("reverse: %d %s", resp.Status, resp.Body)
				}
			})
		}
		wg.Wait()
		if applied.Load() != 1 {
			t.Fatalf("%d reversals applied, want exactly 1", applied.Load())
		}
		if bal, _, to := c.balances(t); bal != 10_000_00 || to != 0 {
			t.Fatalf("after reversal: %d / %d", bal, to)
		}
		c.verifyClean(t)
	})
}

// TestFraudRulesSendToReview: above the review score a transfer waits in
// under_review with its reasons, shown to staff only.
func TestFraudRulesSendToReview(t *testing.T) {
	// The default rules: a fresh customer's first session is a new device
	// (25) right after sign-in (10); a first transfer to someone else's
	// account adds new_recipient (15).
	eachEngine(t, withEnv(map[string]string{"RISK_REVIEW_SCORE": "45"}), func(t *testing.T, env *testapp.Env) {
		// Noon UTC, whatever the hour the test runs at: the default
		// unusual_hour rule (00:00-05:00 UTC, 10 points) stays out of the sums.
		now := env.Clock.Now()
		env.Clock.Advance(now.Truncate(24*time.Hour).Add(36*time.Hour).Sub(now) % (24 * time.Hour))
		if h := env.Clock.Now().UTC().Hour(); h != 12 {
			t.Fatalf("clock at %d:00, want noon", h)
		}
		c := newControls(t, env, 10_000_00)
		// Between one's own accounts: 35, below the review score.
		own := openAccount(t, c.alice, "savings", "USD")
		resp, err := sendTransfer(c.alice, c.key(), cashBody(c.from, own, 1_00))
		mustStatus(t, resp, err, http.StatusCreated)
		// To someone else: 50.
		tr := c.send(t, 1_00, http.StatusAccepted)
		if tr.Status != "under_review" || tr.RiskScore != nil || tr.RiskReasons != nil {
			t.Fatalf("the maker's view of a reviewed transfer: %+v", tr)
		}
		resp, err = c.compliance.Get(ctx, "/api/v1/transfers?status=under_review")
		mustStatus(t, resp, err, http.StatusOK)
		queue := decode[struct{ Data []decidedBody }](t, resp).Data
		if len(queue) != 1 || queue[0].ID != tr.ID || queue[0].RiskScore == nil || *queue[0].RiskScore != 50 {
			t.Fatalf("review queue: %s", resp.Body)
		}
		found := false
		for _, r := range queue[0].RiskReasons {
			found = found || (r.Rule == "new_recipient" && r.Message != "")
		}
		if !found {
			t.Fatalf("reasons lack new_recipient: %s", resp.Body)
		}
		resp, err = decide(c.compliance, tr.ID, "approve", "known customer")
		mustStatus(t, resp, err, http.StatusOK)
		if got := decode[decidedBody](t, resp); got.Status != "executed" {
			t.Fatalf("approved review: %s", resp.Body)
		}
		c.verifyClean(t)
	})
}

// TestFraudHistoryIsCurrent: with the history cached far longer than the
// test runs, the rules still see this instance's transfers and credential
// changes at once.
func TestFraudHistoryIsCurrent(t *testing.T) {
	eachEngine(t, withEnv(map[string]string{"RISK_HISTORY_CACHE_MS": "60000"}), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 10_000_00)
		rules := func(id string) map[string]bool {
			t.Helper()
			resp, err := c.compliance.Get(ctx, "/api/v1/transfers/"+id)
			mustStatus(t, resp, err, http.StatusOK)
			out := map[string]bool{}
			for _, r := range decode[decidedBody](t, resp).RiskReasons {
				out[r.Rule] = true
			}
			return out
		}
		if r := rules(c.send(t, 1_00, http.StatusCreated).ID); !r["new_recipient"] || r["after_credential_change"] {
			t.Fatalf("first transfer to bob: rules %v", r)
		}
		// The first one is cached history now, and bob a known recipient.
		if r := rules(c.send(t, 1_00, http.StatusCreated).ID); r["new_recipient"] {
			t.Fatalf("second transfer to bob: rules %v", r)
		}
		env.Clock.Advance(time.Minute) // a change at the instant of registration is none
		resp, err := c.alice.Post(ctx, "/api/v1/me/password", map[string]any{
			"current_password": goodPassword, "new_password": goodPassword + " again"})
		mustStatus(t, resp, err, http.StatusNoContent)
		if r := rules(c.send(t, 1_00, http.StatusCreated).ID); !r["after_credential_change"] || r["new_recipient"] {
			t.Fatalf("transfer after the password change: rules %v", r)
		}
	})
}

// TestStepUpForLargeTransfers: a maker with 2FA needs a recent second-factor
// check above the step-up threshold.
func TestStepUpForLargeTransfers(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 100_000_00)
		resp, err := c.alice.Post(ctx, "/api/v1/2fa/setup", nil)
		mustStatus(t, resp, err, http.StatusOK)
		secret := decode[struct {
			Secret string `json:"secret"`
		}](t, resp).Secret
		resp, err = c.alice.Post(ctx, "/api/v1/2fa/enable", map[string]any{"code": totpCode(t, secret, env.Clock.Now())})
		mustStatus(t, resp, err, http.StatusOK)
		env.Clock.Advance(6 * time.Minute) // the check at enable is stale now
		c.send(t, 5_000_00, http.StatusCreated)
		resp, err = sendTransfer(c.alice, "big", cashBody(c.from, c.to, 5_000_01))
		mustProblem(t, resp, err, http.StatusForbidden, "mfa_step_up_required")
		resp, err = c.alice.Post(ctx, "/api/v1/auth/step-up", map[string]any{"code": totpCode(t, secret, env.Clock.Now())})
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = sendTransfer(c.alice, "big", cashBody(c.from, c.to, 5_000_01))
		mustStatus(t, resp, err, http.StatusCreated)
	})
}

// wantEvents checks the outbox holds exactly these events for an
// aggregate, in order.
func wantEvents(t *testing.T, env *testapp.Env, aggregateID string, want ...string) {
	t.Helper()
	got := storetest.Column[string](t, env.App.DB(), `SELECT type FROM `+outbox.Table+` WHERE aggregate_id = ? ORDER BY pos`, aggregateID)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events of %s: %v, want %v", aggregateID, got, want)
	}
}

// TestLiveEventsInOrder: the domain events of a transfer reach the
// in-process live hub in the order they happened.
func TestLiveEventsInOrder(t *testing.T) {
	eachEngine(t, withEnv(nil), func(t *testing.T, env *testapp.Env) {
		c := newControls(t, env, 100_000_00)
		events, cancel := env.App.Live().Subscribe(0, func(d outbox.Delivery) bool { return d.Event.Aggregate == "transfer" })
		defer cancel()
		tr := c.send(t, 20_000_00, http.StatusAccepted)
		resp, err := decide(c.compliance, tr.ID, "approve", "")
		mustStatus(t, resp, err, http.StatusOK)
		small := c.send(t, 1_00, http.StatusCreated)
		want := []string{tr.ID + " transfer.created", tr.ID + " transfer.approved", tr.ID + " transfer.executed", small.ID + " transfer.executed"}
		var got []string
		var last int64
		timeout := time.After(2 * time.Minute)
		for len(got) < len(want) {
			select {
			case d, ok := <-events:
				if !ok {
					t.Fatal("the hub cut the listener off")
				}
				if d.Seq <= last {
					t.Fatalf("seq %d after %d", d.Seq, last)
				}
				last = d.Seq
				if d.Event.AggregateID == tr.ID || d.Event.AggregateID == small.ID { // not the funding
					got = append(got, d.Event.AggregateID+" "+d.Event.Type)
				}
			case <-timeout:
				t.Fatalf("events so far %v, want %v", got, want)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}
