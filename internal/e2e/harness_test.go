// Package e2e holds black-box tests: the real app on both engines, driven
// over HTTP through internal/client. Every client comes from
// testapp.Env.Client, which validates each response against the OpenAPI
// document, so a test also fails on any status, field or header the
// document does not describe.
package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/testapp"
)

var ctx = context.Background()

// eachEngine runs fn against a fresh server on SQLite and on PostgreSQL.
func eachEngine(t *testing.T, opt testapp.Options, fn func(t *testing.T, env *testapp.Env)) {
	t.Helper()
	for _, e := range storetest.Engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, testapp.Start(t, e, opt))
		})
	}
}

const goodPassword = "correct horse battery staple"

// register creates a customer over the API and returns a signed-in client.
func register(t testing.TB, env *testapp.Env, email string) (*client.Client, client.Tokens) {
	t.Helper()
	c := env.Client()
	resp, err := c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": email, "password": goodPassword, "name": "Test " + email})
	mustStatus(t, resp, err, http.StatusCreated)
	tok, resp, err := c.Login(ctx, email, goodPassword)
	mustStatus(t, resp, err, http.StatusOK)
	return c, tok
}

// staff creates a user with roles through the service (no API creates staff)
// and signs them in.
func staff(t testing.TB, env *testapp.Env, email string, roles ...authz.Role) (*client.Client, identity.User) {
	t.Helper()
	u, err := env.App.Identity().SeedUser(ctx, identity.RegisterInput{Email: email, Password: goodPassword, Name: "Staff"}, roles)
	if err != nil {
		t.Fatal(err)
	}
	c := env.Client()
	_, resp, err := c.Login(ctx, email, goodPassword)
	mustStatus(t, resp, err, http.StatusOK)
	return c, u
}

func mustStatus(t testing.TB, resp *client.Response, err error, want int) *client.Response {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	if resp.Status != want {
		t.Fatalf("status %d, want %d: %s", resp.Status, want, resp.Body)
	}
	return resp
}

func mustProblem(t testing.TB, resp *client.Response, err error, status int, code string) *client.Problem {
	t.Helper()
	mustStatus(t, resp, err, status)
	if resp.Problem == nil || resp.Problem.Code != code {
		t.Fatalf("want problem %q, got %s", code, resp.Body)
	}
	return resp.Problem
}

// totpCode computes an RFC 6238 code (SHA-1, 6 digits, 30 s) independently
// of the production implementation.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		t.Fatalf("secret is not base32: %v", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1_000_000)
}

// auditActions lists the actions recorded for a target, oldest first.
func auditActions(t *testing.T, env *testapp.Env, targetID string) []string {
	t.Helper()
	var out []string
	err := env.App.DB().Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT action FROM audit_events WHERE target_id = ? ORDER BY pos`, targetID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
