// Package seed fills a fresh dev-mode installation with the demo data the
// product brief names, so a newcomer can sign in at once. It is idempotent
// and never runs in production mode (configuration refuses it).
package seed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/policy"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/transfer"
)

// DemoUser is one seeded sign-in.
type DemoUser struct {
	Email, Password, Name string
	Roles                 []authz.Role
	Trader                bool // also gets a funded investment account
}

// DemoUsers are the brief's demo sign-ins. Their passwords are deliberately
// weak and documented; they exist only in dev mode.
var DemoUsers = []DemoUser{
	{"alice@fintrade.com", "alice123", "Alice Trader", []authz.Role{authz.Customer}, true},
	{"bob@fintrade.com", "bob123", "Bob Trader", []authz.Role{authz.Customer}, true},
	{"compliance@fintrade.com", "comply123", "Casey Compliance", []authz.Role{authz.Compliance}, false},
	{"admin@fintrade.com", "admin123", "Ada Admin", []authz.Role{authz.Admin}, false},
}

// Demo funding, in minor units of USD.
const (
	CheckingFunding   = 100_000_00 // every demo user's checking account
	InvestmentFunding = 50_000_00  // the traders' investment accounts
	demoAdminEmail    = "admin@fintrade.com"
)

// Deps are what seeding needs.
type Deps struct {
	DB       *store.DB
	Identity *identity.Service
	Accounts *accounts.Service
	Now      func() time.Time
	Logger   *slog.Logger
}

// Demo seeds the demo users and, for a user that has none yet, their funded
// USD accounts. Funding goes through the posting engine as an administrator's
// adjustment, like any deposit.
func Demo(ctx context.Context, d Deps) error {
	users := make(map[string]identity.User, len(DemoUsers))
	for _, du := range DemoUsers {
		u, err := d.Identity.SeedUser(ctx, identity.RegisterInput{Email: du.Email, Password: du.Password, Name: du.Name}, du.Roles)
		if err != nil {
			return fmt.Errorf("seed user %s: %w", du.Email, err)
		}
		users[du.Email] = u
		d.Logger.Debug("demo user ready", "email", du.Email, "id", u.ID)
	}

	// A short-lived engine of its own: the app's starts with the server.
	eng := journal.New(d.DB, journal.Options{Logger: d.Logger})
	engCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- eng.Run(engCtx) }()
	defer func() { stop(); <-done }()
	transfers := transfer.New(transfer.Deps{DB: d.DB, Engine: eng, Accounts: d.Accounts, Policy: policy.Default(),
		Keys: idempotency.New(d.DB, 24*time.Hour), Now: d.Now})
	admin := transfer.Actor{UserID: users[demoAdminEmail].ID}

	opened := 0
	for _, du := range DemoUsers {
		u := users[du.Email]
		have, err := d.Accounts.List(ctx, u.ID)
		if err != nil {
			return err
		}
		want := []demoAccount{{ledger.KindChecking, "Checking", CheckingFunding}}
		if du.Trader {
			want = append(want, demoAccount{ledger.KindInvestment, "Investment", InvestmentFunding})
		}
		for _, w := range want {
			if hasAccount(have, w.kind, "USD") {
				continue
			}
			a, err := d.Accounts.Open(ctx, u.ID, w.kind, w.name, "USD", 0)
			if err != nil {
				return fmt.Errorf("seed %s account of %s: %w", w.kind, du.Email, err)
			}
			opened++
			idem := transfer.Idem{Key: "demo-funding-" + a.ID, Hash: "demo-funding-" + a.ID,
				Render: func(t transfer.Transfer) []byte { return []byte(`{"id":"` + t.ID + `"}`) }}
			if _, err := transfers.Adjust(ctx, admin, transfer.AdjustmentRequest{AccountID: a.ID, Amount: w.amount,
				Currency: "USD", Memo: "Demo funding"}, idem); err != nil {
				return fmt.Errorf("fund %s account of %s: %w", w.kind, du.Email, err)
			}
		}
	}
	d.Logger.Info("demo data ready (dev mode)", "users", len(DemoUsers), "accounts_opened", opened)
	return nil
}

// demoAccount is a USD account a demo user gets, funded with amount.
type demoAccount struct {
	kind   ledger.Kind
	name   string
	amount int64
}

func hasAccount(list []accounts.Account, kind ledger.Kind, currency string) bool {
	for _, a := range list {
		if a.Kind == kind && a.Currency == currency {
			return true
		}
	}
	return false
}
