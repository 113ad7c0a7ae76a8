package e2e

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/app"
	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/testapp"
)

func TestAuthRateLimits(t *testing.T) {
	t.Parallel()
	opt := testapp.Options{Env: map[string]string{"AUTH_RATE_PER_MINUTE_IP": "1000", "AUTH_RATE_PER_MINUTE_ACCOUNT": "4"}}
	eachEngine(t, opt, func(t *testing.T, env *testapp.Env) {
		register(t, env, "mallory-target@example.com")
		c := env.Client()
		var last int
		var retry string
		for i := range 10 {
			_, resp, err := c.Login(ctx, "mallory-target@example.com", "guess "+strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			last = resp.Status
			if resp.Status == http.StatusTooManyRequests {
				retry = resp.Header.Get("Retry-After")
				if resp.Problem == nil || resp.Problem.Code != "rate_limited" {
					t.Fatalf("429 without a rate_limited problem: %s", resp.Body)
				}
				break
			}
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("10 rapid logins for one account never hit the limit (last %d)", last)
		}
		if n, err := strconv.Atoi(retry); err != nil || n < 1 {
			t.Fatalf("Retry-After = %q", retry)
		}
		// Another account from the same client is not affected.
		_, resp, err := c.Login(ctx, "someone-else@example.com", "whatever")
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
	})
}

func TestPerIPRateLimit(t *testing.T) {
	t.Parallel()
	env := testapp.Start(t, store.SQLite, testapp.Options{Env: map[string]string{"AUTH_RATE_PER_MINUTE_IP": "6"}})
	c := env.Client()
	limited := false
	for i := range 20 {
		resp, err := c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": "x" + strconv.Itoa(i) + "@example.com", "password": goodPassword, "name": "X"})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("20 registrations from one IP never hit a limit of 6/minute")
	}
}

// A PBKDF2-SHA256 hash from a legacy system verifies, and the next successful
// login upgrades it to Argon2id.
func TestLegacyPBKDF2HashIsUpgraded(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		_, tok := register(t, env, "olga@example.com")
		userID := tok.User["id"].(string)
		// Produced independently with Python:
		// hashlib.pbkdf2_hmac('sha256', b'correct horse battery staple', b'legacysalt123', 260000), base64.
		legacy := "pbkdf2_sha256$260000$legacysalt123$zViwtDZ7OaaP47zFz4AgxJB/yrihloQeZw1ijN7lf1Y="
		setHash := func(h string) {
			err := env.App.DB().Write(ctx, func(tx *store.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, h, userID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		getHash := func() string {
			var h string
			err := env.App.DB().Read(ctx, func(tx *store.Tx) error {
				return tx.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = ?`, userID).Scan(&h)
			})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		setHash(legacy)
		_, resp, err := env.Client().Login(ctx, "olga@example.com", "wrong password")
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		if getHash() != legacy {
			t.Fatal("a failed login changed the hash")
		}
		_, resp, err = env.Client().Login(ctx, "olga@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		if h := getHash(); !strings.HasPrefix(h, "$argon2id$v=19$") {
			t.Fatalf("hash after login = %q, want Argon2id", h)
		}
		_, resp, err = env.Client().Login(ctx, "olga@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		if acts := auditActions(t, env, userID); !contains(acts, "auth.password_rehashed") {
			t.Fatalf("rehash not audited: %v", acts)
		}
	})
}

func TestDemoUsersInDevMode(t *testing.T) {
	t.Parallel()
	env := testapp.Start(t, store.SQLite, testapp.Options{Env: map[string]string{"SEED_DEMO_DATA": "true"}})
	for _, u := range []struct{ email, pw, role string }{
		{"alice@fintrade.com", "alice123", "customer"},
		{"bob@fintrade.com", "bob123", "customer"},
		{"compliance@fintrade.com", "comply123", "compliance"},
		{"admin@fintrade.com", "admin123", "admin"},
	} {
		tok, resp, err := env.Client().Login(ctx, u.email, u.pw)
		mustStatus(t, resp, err, http.StatusOK)
		if roles := tok.User["roles"].([]any); len(roles) != 1 || roles[0] != u.role {
			t.Errorf("%s roles = %v", u.email, roles)
		}
	}
}

func TestBadArgon2ParamsStopStartup(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"FISCUS_DATA_DIR": t.TempDir(), "APP_SECRET": testapp.Secret, "SEED_DEMO_DATA": "false",
		"DATABASE_URL": "sqlite:///" + t.TempDir() + "/x.db", "ARGON2_MEMORY_KIB": "1048576", "ARGON2_ITERATIONS": "100",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(ctx, cfg, slog.New(slog.DiscardHandler), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "ARGON2_") {
		t.Fatalf("app.New = %v, want an error naming the ARGON2_ variables", err)
	}
}

// A failed login is the act of an unauthenticated caller: the audit trail
// names no user as its actor, only the attacked account as its target.
func TestFailedLoginAuditActorIsAnonymous(t *testing.T) {
	t.Parallel()
	env := testapp.Start(t, store.SQLite, testapp.Options{})
	_, tok := register(t, env, "pat@example.com")
	_, resp, err := env.Client().Login(ctx, "pat@example.com", "wrong password")
	mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
	var kind, actor string
	err = env.App.DB().Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT actor_kind, actor_id FROM audit_events WHERE action = 'auth.login_failed' AND target_id = ?`,
			tok.User["id"]).Scan(&kind, &actor)
	})
	if err != nil || kind != "anonymous" || actor != "" {
		t.Fatalf("login_failed actor = %q %q (%v), want anonymous", kind, actor, err)
	}
}

// Two replicas share one database: a session revoked through one is refused
// by the other once its session cache entry is older than SESSION_CACHE_TTL_MS
// (seconds, not the access token's lifetime).
func TestRevocationReachesOtherReplicas(t *testing.T) {
	t.Parallel()
	a := testapp.Start(t, store.Postgres, testapp.Options{})
	b := testapp.Start(t, store.Postgres, testapp.Options{Env: map[string]string{"DATABASE_URL": a.DatabaseURL, "SESSION_CACHE_TTL_MS": "2000"}})
	ca, tok := register(t, a, "quinn@example.com")
	cb := b.Client()
	cb.Token = tok.AccessToken
	resp, err := cb.Get(ctx, "/api/v1/me")
	mustStatus(t, resp, err, http.StatusOK) // replica B now caches the session
	resp, err = ca.Post(ctx, "/api/v1/auth/logout", nil)
	mustStatus(t, resp, err, http.StatusNoContent)
	resp, err = ca.Get(ctx, "/api/v1/me")
	mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked") // at once on A
	b.Clock.Advance(2 * time.Second)
	resp, err = cb.Get(ctx, "/api/v1/me")
	mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked") // within the TTL on B
}
