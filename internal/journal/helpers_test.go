package journal_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
	"github.com/fiscus/fiscus/internal/store"
)

var (
	usd  = money.MustCurrency("USD")
	eur  = money.MustCurrency("EUR")
	acme = money.MustSecurity("ACME")
	t0   = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

// env is an engine on a fresh database, with helpers to open and fund
// accounts and read back what was written.
type env struct {
	t     testing.TB
	db    *store.DB
	eng   *journal.Engine
	accts *accounts.Service
	reg   *money.Registry
	users atomic.Int64
}

func newEnv(t testing.TB, db *store.DB, opt journal.Options) *env {
	t.Helper()
	reg, err := money.NewRegistry("ACME", "GLOBEX")
	if err != nil {
		t.Fatal(err)
	}
	if opt.Assets == nil {
		opt.Assets = func() *money.Registry { return reg }
	}
	return &env{
		t: t, db: db, reg: reg,
		eng:   journal.New(db, opt),
		accts: accounts.New(accounts.Deps{DB: db, Now: func() time.Time { return t0 }}),
	}
}

// start runs the engine until the test ends.
func (e *env) start() {
	e.t.Helper()
	startEngine(e.t, e.eng)
}

func startEngine(t testing.TB, eng *journal.Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
}

// user inserts a customer directly (identity is not under test here).
func (e *env) user() string {
	e.t.Helper()
	n := e.users.Add(1)
	uid := id.New("usr", t0)
	err := e.db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO users (id, email, name, password_hash, roles, password_changed_at, created_at, updated_at)
			VALUES (?, ?, ?, 'x', 'customer', 0, 0, 0)`, uid, fmt.Sprintf("u%d@example.com", n), "User")
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return uid
}

// open opens a customer account of a fresh user and returns it as the
// ledger sees it.
func (e *env) open(kind ledger.Kind, cur money.Asset, creditLimit int64) ledger.Account {
	e.t.Helper()
	a, err := e.accts.Open(context.Background(), e.user(), kind, "Test", cur.Code(), creditLimit)
	if err != nil {
		e.t.Fatal(err)
	}
	return ledgerAccount(e.t, a)
}

func (e *env) system(kind ledger.Kind, cur money.Asset) ledger.Account {
	e.t.Helper()
	a, err := e.accts.SystemAccount(context.Background(), kind, cur.Code())
	if err != nil {
		e.t.Fatal(err)
	}
	return ledgerAccount(e.t, a)
}

func ledgerAccount(t testing.TB, a accounts.Account) ledger.Account {
	t.Helper()
	cur, err := money.Currency(a.Currency)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.Account{ID: a.ID, Kind: a.Kind, Status: a.Status, Currency: cur, CreditLimit: a.CreditLimit}
}

// transfer is a 2-posting entry moving units of asset from one account to
// another.
func transfer(from, to string, units int64, asset money.Asset) ledger.Entry {
	return ledger.Entry{Postings: []ledger.Posting{
		{Account: from, Amount: money.New(-units, asset)},
		{Account: to, Amount: money.New(units, asset)},
	}}
}

func (e *env) post(entry ledger.Entry) (journal.Result, error) {
	return e.eng.Submit(context.Background(), journal.Post{Entry: entry, Kind: "transfer", Now: t0})
}

func (e *env) mustPost(entry ledger.Entry) journal.Result {
	e.t.Helper()
	r, err := e.post(entry)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	return r
}

// balance reads a cached balance.
func (e *env) balance(account string, asset money.Asset) ledger.Balance {
	e.t.Helper()
	b := ledger.Balance{Account: account, Asset: asset}
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		err := tx.QueryRow(context.Background(), `SELECT posted, held FROM balances WHERE account_id = ? AND asset = ?`,
			account, asset.Code()).Scan(&b.Posted, &b.Held)
		if store.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// count runs a SELECT count(*) query.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	err := e.db.Read(context.Background(), func(tx *store.Tx) error {
		return tx.QueryRow(context.Background(), q, args...).Scan(&n)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// verify fails the test if the ledger verifier finds anything.
func (e *env) verify() {
	e.t.Helper()
	rep, err := e.accts.Verify(context.Background(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range rep.Violations {
		e.t.Errorf("violation: %s", v)
	}
}

// wantCode fails unless err carries code.
func wantCode(t testing.TB, err error, code fault.Code) *fault.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	fe, ok := fault.As(err)
	if !ok || fe.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return fe
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runtimeGosched yields while polling a counter another goroutine moves.
func runtimeGosched() { runtime.Gosched() }
