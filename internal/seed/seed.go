// Package seed fills a fresh dev-mode installation with the demo data the
// product brief names, so a newcomer can sign in at once. It is idempotent
// and never runs in production mode (configuration refuses it).
package seed

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/identity"
)

// DemoUser is one seeded sign-in.
type DemoUser struct {
	Email, Password, Name string
	Roles                 []authz.Role
}

// DemoUsers are the brief's demo sign-ins. Their passwords are deliberately
// weak and documented; they exist only in dev mode.
var DemoUsers = []DemoUser{
	{"alice@fintrade.com", "alice123", "Alice Trader", []authz.Role{authz.Customer}},
	{"bob@fintrade.com", "bob123", "Bob Trader", []authz.Role{authz.Customer}},
	{"compliance@fintrade.com", "comply123", "Casey Compliance", []authz.Role{authz.Compliance}},
	{"admin@fintrade.com", "admin123", "Ada Admin", []authz.Role{authz.Admin}},
}

// Demo seeds the demo users.
func Demo(ctx context.Context, ids *identity.Service, log *slog.Logger) error {
	for _, d := range DemoUsers {
		u, err := ids.SeedUser(ctx, identity.RegisterInput{Email: d.Email, Password: d.Password, Name: d.Name}, d.Roles)
		if err != nil {
			return fmt.Errorf("seed user %s: %w", d.Email, err)
		}
		log.Debug("demo user ready", "email", d.Email, "id", u.ID)
	}
	log.Info("demo data ready (dev mode)", "users", len(DemoUsers))
	return nil
}
