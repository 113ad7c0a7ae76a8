package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/openapi"
	"github.com/fiscus/fiscus/internal/transfer"
)

// specLedger is the ledger state the ledger cases start from: the spec
// customer's funded checking account and an empty savings account, another
// customer's account, and one executed transfer.
type specLedger struct {
	checking, savings, other string // account IDs
	transferID               string
	// Two transfers above the approval threshold, waiting: one for the
	// approval cases, one for the rejection cases.
	pendingA, pendingB string
}

const specFunding = 1_000_00 // minor units on the customer's checking account

func newSpecLedger(t *testing.T, s *specServer, fx *specFixture) *specLedger {
	t.Helper()
	ctx := context.Background()
	customer, err := s.ids.Authenticate(ctx, s.user)
	if err != nil {
		t.Fatal(err)
	}
	open := func(owner string, kind ledger.Kind, name string) string {
		t.Helper()
		a, err := s.accts.Open(ctx, owner, kind, name, "USD", 0)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		return a.ID
	}
	l := &specLedger{
		checking: open(customer.UserID, ledger.KindChecking, "Spec checking"),
		savings:  open(customer.UserID, ledger.KindSavings, "Spec savings"),
		other:    open(fx.victimID, ledger.KindChecking, "Victim checking"),
	}
	render := func(transfer.Transfer) []byte { return []byte("{}") }
	if _, err := s.transfers.Adjust(ctx, transfer.Actor{UserID: fx.adminID},
		transfer.AdjustmentRequest{AccountID: l.checking, Amount: specFunding, Currency: "USD"},
		transfer.Idem{Key: "spec-fund", Hash: "spec-fund", Render: render}); err != nil {
		t.Fatalf("fund: %v", err)
	}
	out, err := s.transfers.Cash(ctx, transfer.Actor{UserID: customer.UserID},
		transfer.CashRequest{FromAccountID: l.checking, ToAccountID: l.other, Amount: 1_00, Currency: "USD", Memo: "fixture"},
		transfer.Idem{Key: "spec-fixture-transfer", Hash: "spec-fixture-transfer", Render: render})
	if err != nil {
		t.Fatalf("transfer: %v", err)
	}
	l.transferID = out.Transfer.ID
	// The savings account sends two transfers that wait for approval.
	if _, err := s.transfers.Adjust(ctx, transfer.Actor{UserID: fx.adminID},
		transfer.AdjustmentRequest{AccountID: l.savings, Amount: 50_000_00, Currency: "USD"},
		transfer.Idem{Key: "spec-fund-savings", Hash: "spec-fund-savings", Render: render}); err != nil {
		t.Fatalf("fund savings: %v", err)
	}
	for i, dst := range []*string{&l.pendingA, &l.pendingB} {
		key := fmt.Sprintf("spec-pending-%d", i)
		out, err := s.transfers.Cash(ctx, transfer.Actor{UserID: customer.UserID},
			transfer.CashRequest{FromAccountID: l.savings, ToAccountID: l.other, Amount: 20_000_00, Currency: "USD"},
			transfer.Idem{Key: key, Hash: key, Render: render})
		if err != nil || out.Transfer.Status != transfer.StatusPendingApproval {
			t.Fatalf("pending transfer: %+v %v", out.Transfer, err)
		}
		*dst = out.Transfer.ID
	}
	return l
}

// specStaff signs in a user of role on the default server once per server.
func specStaffToken(role authz.Role) func(*specServer) string {
	return func(s *specServer) string {
		email := "spec-ledger-" + string(role) + "@example.com"
		if tok, ok := s.staff[email]; ok {
			return tok
		}
		ctx := context.Background()
		if _, err := s.ids.SeedUser(ctx, identity.RegisterInput{Email: email, Password: specPassword, Name: "Spec " + string(role)},
			[]authz.Role{role}); err != nil {
			panic(err)
		}
		res, err := s.ids.Login(ctx, identity.Meta{IP: "127.0.0.1"}, identity.LoginInput{Email: email, Password: specPassword})
		if err != nil {
			panic(err)
		}
		s.staff[email] = res.Tokens.AccessToken
		return res.Tokens.AccessToken
	}
}

func specKey(key string) func(*specServer, *openapi.Spec) http.Header {
	return func(*specServer, *openapi.Spec) http.Header { return http.Header{"Idempotency-Key": {key}} }
}

// specBodyHas checks that the response body contains every fragment.
func specBodyHas(fragments ...string) func(*testing.T, *openapi.Spec, *http.Response, []byte) {
	return func(t *testing.T, _ *openapi.Spec, _ *http.Response, body []byte) {
		t.Helper()
		for _, f := range fragments {
			if !strings.Contains(string(body), f) {
				t.Errorf("body lacks %q: %s", f, body)
			}
		}
	}
}

func specLedgerCases() []specCase {
	l := func(pick func(*specLedger) string) func(*specServer) string {
		return func(s *specServer) string { return pick(s.fx.ledger) }
	}
	checking := l(func(x *specLedger) string { return x.checking })
	acctPath := func(pick func(*specServer) string, suffix string) func(*specServer) string {
		return func(s *specServer) string { return "/api/v1/accounts/" + pick(s) + suffix }
	}
	other := l(func(x *specLedger) string { return x.other })
	cash := func(to func(*specServer) string, amount int64) func(*specServer) any {
		return func(s *specServer) any {
			return map[string]any{"kind": "cash", "from_account_id": checking(s), "to_account_id": to(s), "amount": amount, "currency": "USD", "memo": "spec"}
		}
	}
	savings := l(func(x *specLedger) string { return x.savings })
	admin := specStaffToken(authz.Admin)
	auditor := specStaffToken(authz.Auditor)
	complianceUser := specStaffToken(authz.Compliance)
	const unknownAcct = "acct_01JD0000000000000000000000"
	return []specCase{
		// Accounts.
		{name: "accounts: list", method: "GET", path: "/api/v1/accounts", status: 200, bearer: specUser,
			check: specBodyHas(`"type":"checking"`, `"available_balance":`)},
		{name: "accounts: anonymous", method: "GET", path: "/api/v1/accounts", status: 401, badRequest: true},
		{name: "accounts: staff list another user's", method: "GET", status: 200, bearer: admin,
			pathOf: func(s *specServer) string { return "/api/v1/accounts?owner_id=" + s.fx.victimID }},
		{name: "accounts: customer lists another user's", method: "GET", status: 403, bearer: specUser,
			pathOf: func(s *specServer) string { return "/api/v1/accounts?owner_id=" + s.fx.victimID }},
		{name: "accounts: open", method: "POST", path: "/api/v1/accounts", status: 201, bearer: specUser,
			body:  specJSON(map[string]any{"type": "credit", "name": "Spec card", "currency": "USD", "credit_limit": 50_000}),
			check: specHeaderHas("Location", "/api/v1/accounts/acct_")},
		{name: "accounts: open a system account", method: "POST", path: "/api/v1/accounts", status: 422, bearer: specUser, badRequest: true,
			body: specJSON(map[string]any{"type": "external", "name": "Mine", "currency": "USD"})},
		{name: "accounts: open with an unknown currency", method: "POST", path: "/api/v1/accounts", status: 422, bearer: specUser,
			body: specJSON(map[string]any{"type": "savings", "name": "Mine", "currency": "ABC"})},
		{name: "accounts: open with an unknown field", method: "POST", path: "/api/v1/accounts", status: 400, bearer: specUser, badRequest: true,
			body: specJSON(map[string]any{"type": "savings", "name": "Mine", "currency": "USD", "balance": 100})},
		{name: "accounts: staff cannot open", method: "POST", path: "/api/v1/accounts", status: 403, bearer: admin,
			body: specJSON(map[string]any{"type": "savings", "name": "Mine", "currency": "USD"})},
		{name: "account: own", method: "GET", pathOf: acctPath(checking, ""), status: 200, bearer: specUser},
		{name: "account: someone else's", method: "GET", pathOf: acctPath(other, ""), status: 404, bearer: specUser},
		{name: "account: unknown", method: "GET", path: "/api/v1/accounts/" + unknownAcct, status: 404, bearer: specUser},
		{name: "account: staff reads anyone's", method: "GET", pathOf: acctPath(other, ""), status: 200, bearer: auditor},
		{name: "statement", method: "GET", pathOf: acctPath(checking, "/statement"), status: 200, bearer: specUser,
			check: specBodyHas(`"balance_after":`, `"kind":"adjustment"`)},
		{name: "statement: csv", method: "GET", pathOf: acctPath(checking, "/statement?format=csv&from=2000-01-01"), status: 200, bearer: specUser,
			check: specBodyHas("at,entry_id,kind,memo", "# end of statement")},
		{name: "statement: bad limit", method: "GET", pathOf: acctPath(checking, "/statement?limit=0"), status: 422, bearer: specUser, badRequest: true},
		{name: "statement: bad date", method: "GET", pathOf: acctPath(checking, "/statement?from=yesterday"), status: 422, bearer: specUser},
		{name: "statement: someone else's", method: "GET", pathOf: acctPath(other, "/statement"), status: 404, bearer: specUser},

		// Transfers.
		{name: "transfer", method: "POST", path: "/api/v1/transfers", status: 201, bearer: specUser,
			header: specKey("spec-transfer-1"), body: cash(savings, 2_50),
			check: specBodyHas(`"status":"executed"`, `"balance_after":`)},
		{name: "transfer: replayed", method: "POST", path: "/api/v1/transfers", status: 201, bearer: specUser,
			header: specKey("spec-transfer-1"), body: cash(savings, 2_50),
			check: specHeaderHas("Idempotent-Replayed", "true")},
		{name: "transfer: key reused with another body", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser,
			header: specKey("spec-transfer-1"), body: cash(savings, 3_00), check: specBodyHas(`"code":"idempotency_key_reused"`)},
		{name: "transfer: no key", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser, badRequest: true,
			body: cash(savings, 1_00)},
		{name: "transfer: insufficient funds", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser,
			header: specKey("spec-transfer-2"), body: cash(other, specFunding),
			check: specBodyHas(`"code":"insufficient_funds"`, `"needed":100000`, `"available":`)},
		{name: "transfer: to oneself", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser,
			header: specKey("spec-transfer-3"), body: cash(checking, 1_00), check: specBodyHas(`"same_account"`)},
		{name: "transfer: unknown recipient", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser,
			header: specKey("spec-transfer-4"), body: func(s *specServer) any {
				return map[string]any{"kind": "cash", "from_account_id": checking(s), "to_email": "nobody@example.com", "amount": 100, "currency": "USD"}
			}, check: specBodyHas(`"recipient_not_found"`)},
		{name: "transfer: from someone else's account", method: "POST", path: "/api/v1/transfers", status: 404, bearer: specUser,
			header: specKey("spec-transfer-5"), body: func(s *specServer) any {
				return map[string]any{"kind": "cash", "from_account_id": other(s), "to_account_id": checking(s), "amount": 100, "currency": "USD"}
			}},
		{name: "transfer: zero", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser, badRequest: true,
			header: specKey("spec-transfer-6"), body: cash(savings, 0)},
		{name: "transfer: a fraction", method: "POST", path: "/api/v1/transfers", status: 400, bearer: specUser, badRequest: true,
			header: specKey("spec-transfer-7"), body: func(s *specServer) any {
				return `{"kind":"cash","from_account_id":"` + checking(s) + `","to_account_id":"` + savings(s) + `","amount":1.5,"currency":"USD"}`
			}},
		{name: "transfer: shares not yet", method: "POST", path: "/api/v1/transfers", status: 422, bearer: specUser,
			header: specKey("spec-transfer-8"), body: specJSON(map[string]any{"kind": "shares", "from_account_id": unknownAcct,
				"to_email": "bob@example.com", "symbol": "ACME", "quantity": 1, "price_per_share": 100, "amount": 100, "currency": "USD"})},
		{name: "transfer: staff cannot", method: "POST", path: "/api/v1/transfers", status: 403, bearer: admin,
			header: specKey("spec-transfer-9"), body: cash(savings, 1_00)},
		{name: "transfers: list", method: "GET", path: "/api/v1/transfers?limit=1", status: 200, bearer: specUser,
			check: specBodyHas(`"next_cursor":"`)},
		{name: "transfers: filtered", method: "GET", path: "/api/v1/transfers?status=executed&from=2000-01-01&to=2999-12-31", status: 200, bearer: auditor},
		{name: "transfers: bad status", method: "GET", path: "/api/v1/transfers?status=done", status: 422, bearer: specUser, badRequest: true},
		{name: "transfer: one", method: "GET", status: 200, bearer: specUser,
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.transferID }},
		{name: "transfer: unknown", method: "GET", path: "/api/v1/transfers/trf_01JD0000000000000000000000", status: 404, bearer: specUser},

		// Approvals and reversals.
		{name: "approve", method: "POST", status: 200, bearer: admin, body: specJSON(map[string]any{"reason": "checked"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingA + "/approve" },
			check:  specBodyHas(`"status":"executed"`, `"decisions":[`)},
		{name: "approve: no longer waiting", method: "POST", status: 409, bearer: complianceUser,
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingA + "/approve" }},
		{name: "approve: customer", method: "POST", status: 403, bearer: specUser,
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingB + "/approve" }},
		{name: "approve: unknown", method: "POST", status: 404, bearer: admin, path: "/api/v1/transfers/trf_01JD0000000000000000000000/approve"},
		{name: "reject: no reason", method: "POST", status: 422, bearer: admin, badRequest: true, body: specJSON(map[string]any{}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingB + "/reject" }},
		{name: "reject", method: "POST", status: 200, bearer: admin, body: specJSON(map[string]any{"reason": "not today"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingB + "/reject" },
			check:  specBodyHas(`"status":"rejected"`, `"reason":"not today"`)},
		{name: "reverse", method: "POST", status: 201, bearer: admin, header: specKey("spec-reverse-1"),
			body:   specJSON(map[string]any{"reason": "sent twice"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.transferID + "/reverse" },
			check:  specBodyHas(`"kind":"reversal"`, `"status":"executed"`)},
		{name: "reverse: above the threshold waits", method: "POST", status: 202, bearer: admin, header: specKey("spec-reverse-2"),
			body:   specJSON(map[string]any{"reason": "wrong recipient"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.pendingA + "/reverse" },
			check:  specBodyHas(`"status":"pending_approval"`)},
		{name: "reverse: already reversed", method: "POST", status: 409, bearer: admin, header: specKey("spec-reverse-3"),
			body:   specJSON(map[string]any{"reason": "again"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.transferID + "/reverse" }},
		{name: "reverse: customer", method: "POST", status: 403, bearer: specUser, header: specKey("spec-reverse-4"),
			body:   specJSON(map[string]any{"reason": "mine"}),
			pathOf: func(s *specServer) string { return "/api/v1/transfers/" + s.fx.ledger.transferID + "/reverse" }},

		// Tiers.
		{name: "tier", method: "PUT", status: 200, bearer: admin, body: specJSON(map[string]any{"tier": "premium"}),
			pathOf: func(s *specServer) string { return "/api/v1/admin/users/" + s.fx.victimID + "/tier" },
			check:  specBodyHas(`"tier":"premium"`)},
		{name: "tier: unknown", method: "PUT", status: 422, bearer: admin, body: specJSON(map[string]any{"tier": "gold"}),
			pathOf: func(s *specServer) string { return "/api/v1/admin/users/" + s.fx.victimID + "/tier" }},
		{name: "tier: customer", method: "PUT", status: 403, bearer: specUser, body: specJSON(map[string]any{"tier": "premium"}),
			pathOf: func(s *specServer) string { return "/api/v1/admin/users/" + s.fx.victimID + "/tier" }},

		// Ledger administration.
		{name: "adjustment", method: "POST", path: "/api/v1/admin/adjustments", status: 201, bearer: admin,
			header: specKey("spec-adjust-1"), body: func(s *specServer) any {
				return map[string]any{"account_id": other(s), "amount": 5_00, "currency": "USD", "memo": "Deposit"}
			}, check: specBodyHas(`"kind":"adjustment"`)},
		{name: "adjustment: zero", method: "POST", path: "/api/v1/admin/adjustments", status: 422, bearer: admin, badRequest: true,
			header: specKey("spec-adjust-2"), body: func(s *specServer) any {
				return map[string]any{"account_id": other(s), "amount": 0, "currency": "USD"}
			}},
		{name: "adjustment: unknown account", method: "POST", path: "/api/v1/admin/adjustments", status: 404, bearer: admin,
			header: specKey("spec-adjust-3"), body: specJSON(map[string]any{"account_id": unknownAcct, "amount": 100, "currency": "USD"})},
		{name: "adjustment: customer", method: "POST", path: "/api/v1/admin/adjustments", status: 403, bearer: specUser,
			header: specKey("spec-adjust-4"), body: func(s *specServer) any {
				return map[string]any{"account_id": checking(s), "amount": 100, "currency": "USD"}
			}},
		{name: "ledger verify", method: "POST", path: "/api/v1/admin/ledger/verify", status: 200, bearer: auditor,
			check: specBodyHas(`"ok":true`)},
		{name: "ledger verify: customer", method: "POST", path: "/api/v1/admin/ledger/verify", status: 403, bearer: specUser},
	}
}
