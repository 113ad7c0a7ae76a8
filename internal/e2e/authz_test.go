package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/testapp"
)

// TestEveryRouteEveryRole calls every registered route as nobody and as each
// role and compares the outcome with the permission matrix: anonymous callers
// get 401 on every non-public route, a role without the permission gets 403,
// and a role with it gets past authorization (whatever the handler then says).
func TestEveryRouteEveryRole(t *testing.T) {
	t.Parallel()
	env := testapp.Start(t, store.SQLite, testapp.Options{})
	users := map[authz.Role]string{}
	for _, r := range authz.AllRoles {
		email := string(r) + "@walk.example.com"
		_, u := staff(t, env, email, r)
		users[r] = email
		_ = u
	}
	_, target := staff(t, env, "target@walk.example.com", authz.Customer)

	perms := env.App.Server().Permissions()
	if len(perms) < 20 {
		t.Fatalf("only %d routes registered", len(perms))
	}
	for pattern, perm := range perms {
		method, path, _ := strings.Cut(pattern, " ")
		path = strings.ReplaceAll(path, "{id}", target.ID)
		req := client.Request{Method: method, Path: path}
		if method == http.MethodPost || method == http.MethodPut {
			req.Body = map[string]any{}
		}
		// Anonymous.
		resp, err := env.Client().Do(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if perm == authz.Public {
			// A public endpoint may still refuse a bad credential in the body
			// (401 invalid_refresh_token), but never for lack of a session.
			if resp.Problem != nil && (resp.Problem.Code == "unauthenticated" || resp.Problem.Code == "forbidden") {
				t.Errorf("%s is public but anonymous got %d: %s", pattern, resp.Status, resp.Body)
			}
		} else if resp.Status != http.StatusUnauthorized || resp.Problem == nil || resp.Problem.Code != "unauthenticated" {
			t.Errorf("%s: anonymous got %d, want 401", pattern, resp.Status)
		}
		if perm == authz.Public {
			continue
		}
		for _, role := range authz.AllRoles {
			c := env.Client()
			_, lr, err := c.Login(ctx, users[role], goodPassword)
			mustStatus(t, lr, err, http.StatusOK)
			resp, err := c.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			allowed := authz.Allows([]authz.Role{role}, perm)
			denied := resp.Status == http.StatusForbidden && resp.Problem != nil && resp.Problem.Code == "forbidden"
			switch {
			case allowed && (denied || resp.Status == http.StatusUnauthorized):
				t.Errorf("%s as %s: got %d, but the matrix allows %s: %s", pattern, role, resp.Status, perm, resp.Body)
			case !allowed && !denied:
				t.Errorf("%s as %s: got %d, want 403 forbidden (matrix denies %s)", pattern, role, resp.Status, perm)
			}
		}
	}
}
