package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/testapp"
)

// noRisk keeps the fraud and velocity rules from sending these tests'
// bursts of transfers to review (their own tests are in controls_test.go).
var noRisk = testapp.Options{Env: map[string]string{"RISK_REVIEW_SCORE": "1000000"}}

// ledgerEnv is a server with an administrator who funds accounts.
type ledgerEnv struct {
	*testapp.Env
	admin *client.Client
	keys  atomic.Int64
}

func newLedgerEnv(t testing.TB, env *testapp.Env) *ledgerEnv {
	t.Helper()
	admin, _ := staff(t, env, "ledger-admin@example.com", authz.Admin)
	return &ledgerEnv{Env: env, admin: admin}
}

// key returns a fresh Idempotency-Key.
func (l *ledgerEnv) key() string { return fmt.Sprintf("e2e-key-%d", l.keys.Add(1)) }

type accountBody struct {
	ID               string `json:"id"`
	Type             string `json:"type"`
	Currency         string `json:"currency"`
	Balance          int64  `json:"balance"`
	AvailableBalance int64  `json:"available_balance"`
}

type transferBody struct {
	ID                    string  `json:"id"`
	Kind                  string  `json:"kind"`
	Status                string  `json:"status"`
	FromAccountID         string  `json:"from_account_id"`
	ToAccountID           string  `json:"to_account_id"`
	Amount                int64   `json:"amount"`
	EntryID               *string `json:"entry_id"`
	BalanceAccountID      string  `json:"balance_account_id"`
	BalanceAfter          *int64  `json:"balance_after"`
	AvailableBalanceAfter *int64  `json:"available_balance_after"`
}

func openAccount(t testing.TB, c *client.Client, typ, currency string) string {
	t.Helper()
	resp, err := c.Post(ctx, "/api/v1/accounts", map[string]any{"type": typ, "name": "E2E " + typ, "currency": currency})
	mustStatus(t, resp, err, http.StatusCreated)
	var a accountBody
	if err := resp.Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func (l *ledgerEnv) fund(t testing.TB, accountID string, amount int64) {
	t.Helper()
	resp, err := l.admin.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/admin/adjustments",
		Header: http.Header{"Idempotency-Key": {l.key()}},
		Body:   map[string]any{"account_id": accountID, "amount": amount, "currency": "USD", "memo": "funding"}})
	mustStatus(t, resp, err, http.StatusCreated)
}

func sendTransfer(c *client.Client, key string, body any) (*client.Response, error) {
	return c.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/transfers", Header: http.Header{"Idempotency-Key": {key}}, Body: body})
}

func cashBody(from, to string, amount int64) map[string]any {
	return map[string]any{"kind": "cash", "from_account_id": from, "to_account_id": to, "amount": amount, "currency": "USD"}
}

func getAccount(t testing.TB, c *client.Client, id string) accountBody {
	t.Helper()
	resp, err := c.Get(ctx, "/api/v1/accounts/"+id)
	mustStatus(t, resp, err, http.StatusOK)
	var a accountBody
	if err := resp.Decode(&a); err != nil {
		t.Fatal(err)
	}
	return a
}

// verifyClean runs the ledger verifier over the API and fails on any violation.
func (l *ledgerEnv) verifyClean(t testing.TB) {
	t.Helper()
	resp, err := l.admin.Post(ctx, "/api/v1/admin/ledger/verify", nil)
	mustStatus(t, resp, err, http.StatusOK)
	var rep struct {
		OK         bool             `json:"ok"`
		Violations []map[string]any `json:"violations"`
	}
	if err := resp.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("ledger verify found violations: %v", rep.Violations)
	}
}

// counts are the rows a money movement writes; a refused request changes none.
type counts struct{ entries, postings, transfers, keys, events int64 }

func (l *ledgerEnv) counts(t testing.TB) counts {
	t.Helper()
	var c counts
	err := l.App.DB().Read(ctx, func(tx *store.Tx) error {
		for _, q := range []struct {
			sql string
			dst *int64
		}{
			{`SELECT count(*) FROM entries`, &c.entries},
			{`SELECT count(*) FROM postings`, &c.postings},
			{`SELECT count(*) FROM transfers`, &c.transfers},
			{`SELECT count(*) FROM idempotency_keys`, &c.keys},
			{`SELECT count(*) FROM audit_events WHERE action LIKE 'transfer.%' OR action LIKE 'ledger.%'`, &c.events},
		} {
			if err := tx.QueryRow(ctx, q.sql).Scan(q.dst); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTransferRaceExactlyFifty: 200 concurrent transfers out of an account
// that covers exactly 50 of them.
func TestTransferRaceExactlyFifty(t *testing.T) {
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		alice, _ := register(t, env, "race-alice@example.com")
		bob, _ := register(t, env, "race-bob@example.com")
		from := openAccount(t, alice, "checking", "USD")
		to := openAccount(t, bob, "checking", "USD")
		const each, covered, attempts = 1_00, 50, 200
		l.fund(t, from, each*covered)

		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range attempts {
			wg.Go(func() {
				resp, err := sendTransfer(alice, fmt.Sprintf("race-%d", i), cashBody(from, to, each))
				switch {
				case err != nil:
					t.Errorf("transfer %d: %v", i, err)
				case resp.Status == http.StatusCreated:
					ok.Add(1)
				case resp.Status == http.StatusUnprocessableEntity && resp.Problem != nil && resp.Problem.Code == "insufficient_funds":
					if resp.Problem.Extra["needed"] != float64(each) || resp.Problem.Extra["available"] == nil {
						t.Errorf("insufficient_funds without needed/available: %s", resp.Body)
					}
					refused.Add(1)
				default:
					t.Errorf("transfer %d: %d %s", i, resp.Status, resp.Body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != covered || refused.Load() != attempts-covered {
			t.Fatalf("%d succeeded and %d were refused, want exactly %d and %d", ok.Load(), refused.Load(), covered, attempts-covered)
		}
		if a := getAccount(t, alice, from); a.Balance != 0 || a.AvailableBalance != 0 {
			t.Errorf("source ends at %d (available %d), want 0", a.Balance, a.AvailableBalance)
		}
		if b := getAccount(t, bob, to); b.Balance != each*covered {
			t.Errorf("destination ends at %d, want %d", b.Balance, each*covered)
		}
		if c := l.counts(t); c.transfers != covered+1 { // the funding adjustment is a transfer too
			t.Errorf("%d transfer rows, want %d", c.transfers, covered+1)
		}
		l.verifyClean(t)
	})
}

// TestTransferStormConservesMoney: random concurrent transfers among 20
// accounts of 5 customers; money is neither created nor lost, every
// acknowledged transfer is recorded once, and the verifier is clean.
func TestTransferStormConservesMoney(t *testing.T) {
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		const customers, perCustomer, funding = 5, 4, 10_000
		type owner struct {
			c     *client.Client
			accts []string
		}
		owners := make([]owner, customers)
		var all []string
		for i := range owners {
			c, _ := register(t, env, fmt.Sprintf("storm-%d@example.com", i))
			owners[i].c = c
			for range perCustomer {
				id := openAccount(t, c, "checking", "USD")
				l.fund(t, id, funding)
				owners[i].accts = append(owners[i].accts, id)
				all = append(all, id)
			}
		}
		before := l.counts(t)
		var acked atomic.Int64
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 42))
				for n := range 40 {
					o := owners[rng.IntN(customers)]
					from := o.accts[rng.IntN(perCustomer)]
					to := all[rng.IntN(len(all))]
					if to == from {
						continue
					}
					resp, err := sendTransfer(o.c, fmt.Sprintf("storm-%d-%d", w, n), cashBody(from, to, 1+rng.Int64N(3_000)))
					switch {
					case err != nil:
						t.Errorf("transfer: %v", err)
					case resp.Status == http.StatusCreated:
						var tr transferBody
						if err := resp.Decode(&tr); err != nil || tr.BalanceAfter == nil || *tr.BalanceAfter < 0 {
							t.Errorf("bad transfer answer: %s", resp.Body)
						}
						acked.Add(1)
					case resp.Problem != nil && resp.Problem.Code == "insufficient_funds":
					default:
						t.Errorf("transfer: %d %s", resp.Status, resp.Body)
					}
				}
			})
		}
		wg.Wait()
		var total int64
		for _, o := range owners {
			for _, id := range o.accts {
				a := getAccount(t, o.c, id)
				if a.Balance < 0 {
					t.Errorf("account %s below zero: %d", id, a.Balance)
				}
				total += a.Balance
			}
		}
		if want := int64(customers * perCustomer * funding); total != want {
			t.Errorf("money not conserved: %d in the accounts, want %d", total, want)
		}
		after := l.counts(t)
		if got := after.transfers - before.transfers; got != acked.Load() {
			t.Errorf("%d transfers recorded, %d acknowledged", got, acked.Load())
		}
		if got := after.entries - before.entries; got != acked.Load() {
			t.Errorf("%d entries written, %d transfers acknowledged", got, acked.Load())
		}
		if acked.Load() == 0 {
			t.Error("no transfer succeeded")
		}
		l.verifyClean(t)
	})
}

// TestTransferIdempotency: the same key sent 20 times at once makes one
// transfer and 20 identical answers; the same key with another body is
// refused; the answer is replayed even after the account drained.
func TestTransferIdempotency(t *testing.T) {
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		alice, _ := register(t, env, "idem-alice@example.com")
		bob, _ := register(t, env, "idem-bob@example.com")
		from := openAccount(t, alice, "checking", "USD")
		to := openAccount(t, bob, "checking", "USD")
		l.fund(t, from, 10_00)
		before := l.counts(t)

		body := cashBody(from, to, 7_00)
		bodies := make([][]byte, 20)
		var wg sync.WaitGroup
		for i := range bodies {
			wg.Go(func() {
				resp, err := sendTransfer(alice, "same-key", body)
				if err != nil || resp.Status != http.StatusCreated {
					t.Errorf("duplicate %d: %v %v", i, err, resp)
					return
				}
				bodies[i] = resp.Body
			})
		}
		wg.Wait()
		for i, b := range bodies {
			if !bytes.Equal(b, bodies[0]) {
				t.Fatalf("answer %d differs:\n%s\n%s", i, b, bodies[0])
			}
		}
		after := l.counts(t)
		if after.transfers-before.transfers != 1 || after.entries-before.entries != 1 || after.keys-before.keys != 1 {
			t.Fatalf("20 duplicates wrote %+v, want one transfer, entry and key", after)
		}
		if a := getAccount(t, alice, from); a.Balance != 3_00 {
			t.Fatalf("balance %d after one 7.00 transfer out of 10.00", a.Balance)
		}

		// Same key, different body: refused, nothing written.
		resp, err := sendTransfer(alice, "same-key", cashBody(from, to, 1_00))
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "idempotency_key_reused")
		// The account can no longer pay 7.00, yet the retry still gets the
		// original answer.
		resp, err = sendTransfer(alice, "same-key", body)
		mustStatus(t, resp, err, http.StatusCreated)
		if !bytes.Equal(resp.Body, bodies[0]) || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("late retry: %s (replayed %q)", resp.Body, resp.Header.Get("Idempotent-Replayed"))
		}
		// Field order and white space do not make a different request.
		raw := []byte(fmt.Sprintf(`{ "currency":"USD", "amount":700, "to_account_id":%q, "from_account_id":%q, "kind":"cash" }`, to, from))
		resp, err = sendTransfer(alice, "same-key", raw)
		mustStatus(t, resp, err, http.StatusCreated)
		// Keys are scoped to the caller: Bob's "same-key" is his own.
		back := openAccount(t, bob, "savings", "USD")
		resp, err = sendTransfer(bob, "same-key", cashBody(to, back, 1_00))
		mustStatus(t, resp, err, http.StatusCreated)
		if c := l.counts(t); c.transfers != after.transfers+1 {
			t.Fatalf("transfers %d, want %d", c.transfers, after.transfers+1)
		}
		l.verifyClean(t)
	})
}

// TestTransferRefusalsWriteNothing: bad amounts, currencies and accounts are
// refused with a problem document and leave no trace.
func TestTransferRefusalsWriteNothing(t *testing.T) {
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		alice, _ := register(t, env, "refuse-alice@example.com")
		bob, _ := register(t, env, "refuse-bob@example.com")
		from := openAccount(t, alice, "checking", "USD")
		eur := openAccount(t, alice, "savings", "EUR")
		to := openAccount(t, bob, "checking", "USD")
		l.fund(t, from, 100_00)
		before := l.counts(t)
		raw := func(amount string) []byte {
			return []byte(fmt.Sprintf(`{"kind":"cash","from_account_id":%q,"to_account_id":%q,"amount":%s,"currency":"USD"}`, from, to, amount))
		}
		with := func(change func(map[string]any)) map[string]any {
			b := cashBody(from, to, 1_00)
			change(b)
			return b
		}
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"negative", cashBody(from, to, -1_00), 422, "validation_failed"},
			{"zero", cashBody(from, to, 0), 422, "validation_failed"},
			{"overflowing", raw("92233720368547758070"), 400, "invalid_type"},
			{"fraction", raw("1.5"), 400, "invalid_type"},
			{"decimal string", raw(`"1.00"`), 400, "invalid_type"},
			{"exponent", raw("1e2"), 400, "invalid_type"},
			{"more than the balance", cashBody(from, to, 100_01), 422, "insufficient_funds"},
			{"unknown currency", with(func(b map[string]any) { b["currency"] = "XYZ" }), 422, "validation_failed"},
			{"wrong currency", with(func(b map[string]any) { b["currency"] = "EUR" }), 422, "validation_failed"},
			{"into an account of another currency", cashBody(from, eur, 1_00), 422, "validation_failed"},
			{"to the same account", cashBody(from, from, 1_00), 422, "validation_failed"},
			{"to an unknown account", cashBody(from, "acct_01JD0000000000000000000000", 1_00), 422, "validation_failed"},
			{"to a malformed account", cashBody(from, "'; DROP TABLE accounts; --", 1_00), 422, "validation_failed"},
			{"from someone else's account", cashBody(to, from, 1_00), 404, "not_found"},
			{"from an unknown account", cashBody("acct_01JD0000000000000000000000", to, 1_00), 404, "not_found"},
			{"to an unknown email", with(func(b map[string]any) { delete(b, "to_account_id"); b["to_email"] = "nobody@example.com" }), 422, "validation_failed"},
			{"to both an account and an email", with(func(b map[string]any) { b["to_email"] = "refuse-bob@example.com" }), 422, "validation_failed"},
			{"to nobody", with(func(b map[string]any) { delete(b, "to_account_id") }), 422, "validation_failed"},
			{"no kind", with(func(b map[string]any) { delete(b, "kind") }), 422, "validation_failed"},
			{"an unknown field", with(func(b map[string]any) { b["fee"] = 1 }), 400, "unknown_field"},
			{"a control character in the memo", with(func(b map[string]any) { b["memo"] = "a\x00b" }), 422, "validation_failed"},
			{"an overlong memo", with(func(b map[string]any) { b["memo"] = strings.Repeat("m", 141) }), 422, "validation_failed"},
		}
		for _, tc := range cases {
			resp, err := sendTransfer(alice, l.key(), tc.body)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if resp.Status != tc.status || resp.Problem == nil || resp.Problem.Code != tc.code {
				t.Errorf("%s: %d %s, want %d %s", tc.name, resp.Status, resp.Body, tc.status, tc.code)
			}
		}
		// Without a key.
		resp, err := alice.Post(ctx, "/api/v1/transfers", cashBody(from, to, 1_00))
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		if after := l.counts(t); after != before {
			t.Fatalf("refused requests wrote rows: before %+v, after %+v", before, after)
		}
		if a := getAccount(t, alice, from); a.Balance != 100_00 {
			t.Fatalf("balance moved to %d", a.Balance)
		}
		l.verifyClean(t)
	})
}

// TestTransfersReadSide: who sees what, statements with running balances,
// CSV export, filters and adjustments in both directions.
func TestTransfersReadSide(t *testing.T) {
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		alice, _ := register(t, env, "read-alice@example.com")
		bob, _ := register(t, env, "read-bob@example.com")
		carol, _ := register(t, env, "read-carol@example.com")
		a1 := openAccount(t, alice, "checking", "USD")
		b1 := openAccount(t, bob, "checking", "USD")
		l.fund(t, a1, 50_00)

		// By email: Bob's checking account receives it.
		env.Clock.Advance(time.Millisecond)
		resp, err := sendTransfer(alice, "by-email", map[string]any{"kind": "cash", "from_account_id": a1,
			"to_email": "  READ-Bob@Example.com ", "amount": 12_34, "currency": "USD", "memo": "=HYPERLINK(\"x\")"})
		mustStatus(t, resp, err, http.StatusCreated)
		var tr transferBody
		if err := resp.Decode(&tr); err != nil {
			t.Fatal(err)
		}
		if tr.ToAccountID != b1 || tr.Status != "executed" || tr.BalanceAfter == nil || *tr.BalanceAfter != 37_66 ||
			tr.BalanceAccountID != a1 || tr.EntryID == nil {
			t.Fatalf("transfer by email: %s", resp.Body)
		}
		if got := auditActions(t, env, tr.ID); !contains(got, "transfer.executed") {
			t.Errorf("audit actions of the transfer: %v", got)
		}
		// The recipient sees it without the sender's balance; a stranger does not see it.
		resp, err = bob.Get(ctx, "/api/v1/transfers/"+tr.ID)
		mustStatus(t, resp, err, http.StatusOK)
		if strings.Contains(string(resp.Body), "balance_after") {
			t.Errorf("the recipient sees the sender's balance: %s", resp.Body)
		}
		resp, err = carol.Get(ctx, "/api/v1/transfers/"+tr.ID)
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		resp, err = carol.Get(ctx, "/api/v1/accounts/"+a1)
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		resp, err = carol.Get(ctx, "/api/v1/accounts/"+a1+"/statement")
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")

		// A debit adjustment, then lists and filters. (The clock moves on so
		// that newest-first is well defined: the server's clock is frozen.)
		env.Clock.Advance(time.Millisecond)
		resp, err = l.admin.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/admin/adjustments",
			Header: http.Header{"Idempotency-Key": {"debit-1"}}, Body: map[string]any{"account_id": a1, "amount": -7_66, "currency": "USD"}})
		mustStatus(t, resp, err, http.StatusCreated)
		resp, err = l.admin.Do(ctx, client.Request{Method: "POST", Path: "/api/v1/admin/adjustments",
			Header: http.Header{"Idempotency-Key": {"debit-2"}}, Body: map[string]any{"account_id": a1, "amount": -1_000_00, "currency": "USD"}})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "insufficient_funds")
		var page struct {
			Data       []transferBody `json:"data"`
			NextCursor *string        `json:"next_cursor"`
		}
		resp, err = alice.Get(ctx, "/api/v1/transfers?limit=2")
		mustStatus(t, resp, err, http.StatusOK)
		if err := resp.Decode(&page); err != nil || len(page.Data) != 2 || page.NextCursor == nil ||
			page.Data[0].Kind != "adjustment" || page.Data[1].ID != tr.ID {
			t.Fatalf("first page: %s", resp.Body)
		}
		resp, err = alice.Get(ctx, "/api/v1/transfers?limit=2&cursor="+*page.NextCursor)
		mustStatus(t, resp, err, http.StatusOK)
		if err := resp.Decode(&page); err != nil || len(page.Data) != 1 || page.NextCursor != nil || page.Data[0].Amount != 50_00 {
			t.Fatalf("last page: %s", resp.Body)
		}
		resp, err = bob.Get(ctx, "/api/v1/transfers?account_id="+b1+"&status=executed&from=2000-01-01")
		mustStatus(t, resp, err, http.StatusOK)
		if err := resp.Decode(&page); err != nil || len(page.Data) != 1 || page.Data[0].ID != tr.ID {
			t.Fatalf("Bob's transfers: %s", resp.Body)
		}
		resp, err = carol.Get(ctx, "/api/v1/transfers")
		mustStatus(t, resp, err, http.StatusOK)
		if err := resp.Decode(&page); err != nil || len(page.Data) != 0 {
			t.Fatalf("a stranger lists others' transfers: %s", resp.Body)
		}

		// The statement: running balance after each line.
		resp, err = alice.Get(ctx, "/api/v1/accounts/"+a1+"/statement")
		mustStatus(t, resp, err, http.StatusOK)
		var st struct {
			OpeningBalance int64 `json:"opening_balance"`
			Data           []struct {
				Amount       int64 `json:"amount"`
				BalanceAfter int64 `json:"balance_after"`
			} `json:"data"`
		}
		if err := resp.Decode(&st); err != nil || len(st.Data) != 3 {
			t.Fatalf("statement: %s", resp.Body)
		}
		run := st.OpeningBalance
		for _, line := range st.Data {
			run += line.Amount
			if line.BalanceAfter != run {
				t.Fatalf("running balance %d, line says %d: %s", run, line.BalanceAfter, resp.Body)
			}
		}
		if run != 30_00 || getAccount(t, alice, a1).Balance != 30_00 {
			t.Fatalf("statement ends at %d", run)
		}
		resp, err = alice.Get(ctx, "/api/v1/accounts/"+a1+"/statement?format=csv")
		mustStatus(t, resp, err, http.StatusOK)
		csv := string(resp.Body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || strings.Count(csv, "\n") != 5 ||
			!strings.Contains(csv, `,"'=HYPERLINK(""x"")",`) || !strings.Contains(csv, ",-12.34,37.66,USD,-1234,3766") ||
			!strings.HasSuffix(csv, "# end of statement,3 lines\n") {
			t.Fatalf("CSV statement:\n%s", csv)
		}
		l.verifyClean(t)
	})
}

// TestTransfersListParts: a customer's list is read as the transfers they
// sent and those they received from someone else; every transfer they
// are a party to comes exactly once (transfers between their own accounts
// are in both owner indexes), newest first, across pages and filters. On
// SQLite the parts come from the bulk index transfer_parties up to its
// mark and from the transfers past it: the lists are checked with no
// transfer indexed, with all of them, and with the newest past the mark.
func TestTransfersListParts(t *testing.T) {
	opt := noRisk
	opt.ManualIndex = true
	eachEngine(t, opt, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		alice, _ := register(t, env, "parts-alice@example.com")
		bob, _ := register(t, env, "parts-bob@example.com")
		a1 := openAccount(t, alice, "checking", "USD")
		a2 := openAccount(t, alice, "savings", "USD")
		b1 := openAccount(t, bob, "checking", "USD")
		var aliceWant, bobWant, ownWant []string
		env.Clock.Advance(time.Millisecond)
		l.fund(t, a1, 1_000_00)
		env.Clock.Advance(time.Millisecond)
		l.fund(t, b1, 1_000_00)
		// The funding transfers are the first two of the admin's list.
		resp, err := l.admin.Get(ctx, "/api/v1/transfers?limit=2")
		mustStatus(t, resp, err, http.StatusOK)
		funding := decode[struct {
			Data []transferBody `json:"data"`
		}](t, resp).Data
		if len(funding) != 2 || funding[0].ToAccountID != b1 || funding[1].ToAccountID != a1 {
			t.Fatalf("funding transfers: %s", resp.Body)
		}
		aliceWant, bobWant = append(aliceWant, funding[1].ID), append(bobWant, funding[0].ID)
		send := func(rounds int) {
			t.Helper()
			for i := range rounds {
				for _, tr := range []struct {
					who      *client.Client
					from, to string
				}{{alice, a1, a2}, {alice, a1, b1}, {bob, b1, a1}, {alice, a2, a1}} {
					env.Clock.Advance(time.Millisecond)
					resp, err := sendTransfer(tr.who, l.key(), cashBody(tr.from, tr.to, int64(1_00+i)))
					mustStatus(t, resp, err, http.StatusCreated)
					id := decode[transferBody](t, resp).ID
					aliceWant = append(aliceWant, id)
					if tr.from == b1 || tr.to == b1 {
						bobWant = append(bobWant, id)
					} else {
						ownWant = append(ownWant, id)
					}
				}
			}
		}
		check := func(state string) {
			t.Helper()
			for _, c := range []struct {
				name  string
				who   *client.Client
				query string
				want  []string
			}{
				{"alice", alice, "", aliceWant},
				{"bob", bob, "", bobWant},
				{"alice's own", alice, "&account_id=" + a2 + "&status=executed", ownWant},
			} {
				var got []string
				cursor := ""
				for page := 0; ; page++ {
					if page > len(c.want) {
						t.Fatalf("%s, %s: more pages than transfers", state, c.name)
					}
					resp, err := c.who.Get(ctx, "/api/v1/transfers?limit=3"+c.query+cursor)
					mustStatus(t, resp, err, http.StatusOK)
					body := decode[struct {
						Data       []transferBody `json:"data"`
						NextCursor *string        `json:"next_cursor"`
					}](t, resp)
					for _, tr := range body.Data {
						got = append(got, tr.ID)
					}
					if body.NextCursor == nil {
						break
					}
					cursor = "&cursor=" + *body.NextCursor
				}
				want := slices.Clone(c.want)
				slices.Reverse(want) // newest first
				if !slices.Equal(got, want) {
					t.Errorf("%s, %s: listed\n%v\nwant\n%v", state, c.name, got, want)
				}
			}
		}
		send(4)
		check("none indexed")
		if err := env.App.IndexNow(ctx); err != nil {
			t.Fatal(err)
		}
		check("all indexed")
		send(3)
		check("the newest past the mark")
		if err := env.App.IndexNow(ctx); err != nil {
			t.Fatal(err)
		}
		check("all indexed again")
		if storeOf(env) == store.SQLite {
			var parties, mark, last int64
			err := env.App.DB().Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM transfer_parties p JOIN transfers t
						ON t.seq = p.seq AND t.id = p.transfer_id),
					(SELECT upto FROM index_marks WHERE name = 'transfer_parties'), (SELECT max(seq) FROM transfers)`).
					Scan(&parties, &mark, &last)
			})
			if err != nil {
				t.Fatal(err)
			}
			// Two funding transfers (one party each), 7 rounds of two
			// transfers between alice and bob (two parties) and two
			// between alice's own accounts (one).
			if want := int64(2 + 7*(2*2+2)); parties != want || mark != last {
				t.Errorf("transfer_parties holds %d rows (naming their transfers' seq) up to seq %d of %d, want %d up to the last",
					parties, mark, last, want)
			}
		}
	})
}

// TestDemoAccountsFundedOnce: dev-mode demo users get their funded accounts,
// and seeding again (a restart) neither opens nor funds anything twice.
func TestDemoAccountsFundedOnce(t *testing.T) {
	eachEngine(t, testapp.Options{Env: map[string]string{"SEED_DEMO_DATA": "true"}}, func(t *testing.T, env *testapp.Env) {
		check := func(env *testapp.Env) {
			t.Helper()
			for _, u := range []struct {
				email, pw string
				want      map[string]int64
			}{
				{"alice@fintrade.com", "alice123", map[string]int64{"checking": 100_000_00, "investment": 50_000_00}},
				{"bob@fintrade.com", "bob123", map[string]int64{"checking": 100_000_00, "investment": 50_000_00}},
				{"compliance@fintrade.com", "comply123", map[string]int64{"checking": 100_000_00}},
				{"admin@fintrade.com", "admin123", map[string]int64{"checking": 100_000_00}},
			} {
				c := env.Client()
				_, resp, err := c.Login(ctx, u.email, u.pw)
				mustStatus(t, resp, err, http.StatusOK)
				resp, err = c.Get(ctx, "/api/v1/accounts")
				mustStatus(t, resp, err, http.StatusOK)
				var list struct{ Data []accountBody }
				if err := resp.Decode(&list); err != nil {
					t.Fatal(err)
				}
				got := map[string]int64{}
				for _, a := range list.Data {
					if a.Currency != "USD" {
						t.Errorf("%s has a %s account", u.email, a.Currency)
					}
					got[a.Type] += a.Balance
				}
				if len(list.Data) != len(u.want) || fmt.Sprint(got) != fmt.Sprint(u.want) {
					t.Errorf("%s: %d accounts with %v, want %v", u.email, len(list.Data), got, u.want)
				}
			}
		}
		check(env)
		again := testapp.Start(t, storeOf(env), testapp.Options{Env: map[string]string{"SEED_DEMO_DATA": "true", "DATABASE_URL": env.DatabaseURL}})
		check(again)
		newLedgerEnv(t, again).verifyClean(t)
	})
}

// storeOf is the engine of env's database.
func storeOf(env *testapp.Env) store.Dialect { return env.App.DB().Dialect() }
