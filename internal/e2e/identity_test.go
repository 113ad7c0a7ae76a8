package e2e

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/client"
	"github.com/fiscus/fiscus/internal/testapp"
)

func TestRegistration(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		c := env.Client()
		resp, err := c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": "  Carol@Example.COM ", "password": goodPassword, "name": "Carol"})
		mustStatus(t, resp, err, http.StatusCreated)
		var u map[string]any
		_ = resp.Decode(&u)
		if u["email"] != "carol@example.com" || u["mfa_enabled"] != false || !strings.HasPrefix(u["id"].(string), "usr_") {
			t.Fatalf("registered user = %v", u)
		}
		if roles := u["roles"].([]any); len(roles) != 1 || roles[0] != "customer" {
			t.Fatalf("roles = %v, want [customer]", roles)
		}
		if strings.Contains(string(resp.Body), "password") {
			t.Fatalf("response mentions the password: %s", resp.Body)
		}
		// The same email in another case is taken.
		resp, err = c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": "carol@example.com", "password": goodPassword, "name": "Carol 2"})
		mustProblem(t, resp, err, http.StatusConflict, "email_taken")

		bad := []struct {
			body  map[string]any
			field string
			code  string
		}{
			{map[string]any{"email": "x@example.com", "password": "short", "name": "X"}, "password", "weak_password"},
			{map[string]any{"email": "x@example.com", "password": "password123", "name": "X"}, "password", "weak_password"},
			{map[string]any{"email": "dave@example.com", "password": "dave@example.com-pw", "name": "Dave"}, "password", "weak_password"},
			{map[string]any{"email": "not-an-email", "password": goodPassword, "name": "X"}, "email", "validation_failed"},
			{map[string]any{"email": "Name <a@b.com>", "password": goodPassword, "name": "X"}, "email", "validation_failed"},
			{map[string]any{"email": "y@example.com", "password": goodPassword, "name": ""}, "name", "validation_failed"},
			{map[string]any{"email": "y@example.com", "password": goodPassword, "name": strings.Repeat("n", 101)}, "name", "validation_failed"},
		}
		for _, b := range bad {
			resp, err := c.Post(ctx, "/api/v1/auth/register", b.body)
			p := mustProblem(t, resp, err, http.StatusUnprocessableEntity, b.code)
			if len(p.Errors) == 0 || p.Errors[0]["field"] != b.field {
				t.Errorf("%v: errors %v, want field %s", b.body, p.Errors, b.field)
			}
		}
		resp, err = c.Post(ctx, "/api/v1/auth/register", map[string]any{"email": "z@example.com", "password": goodPassword, "name": "Z", "roles": []string{"admin"}})
		mustProblem(t, resp, err, http.StatusBadRequest, "unknown_field")
	})
}

func TestLoginFailuresAreUniform(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		register(t, env, "erin@example.com")
		c := env.Client()
		_, wrong, err := c.Login(ctx, "erin@example.com", "not the password")
		p1 := mustProblem(t, wrong, err, http.StatusUnauthorized, "invalid_credentials")
		_, unknown, err := c.Login(ctx, "nobody@example.com", "not the password")
		p2 := mustProblem(t, unknown, err, http.StatusUnauthorized, "invalid_credentials")
		if p1.Detail != p2.Detail || p1.Title != p2.Title || p1.Type != p2.Type || len(wrong.Body) != len(unknown.Body) {
			t.Fatalf("unknown email and wrong password differ:\n%s\n%s", wrong.Body, unknown.Body)
		}
	})
}

func TestTokensSessionsAndRevocation(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		c1, tok1 := register(t, env, "frank@example.com")
		if tok1.TokenType != "Bearer" || tok1.ExpiresIn != 900 || !strings.HasPrefix(tok1.SessionID, "ses_") {
			t.Fatalf("tokens = %+v", tok1)
		}
		resp, err := c1.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)

		// A second device.
		c2 := env.Client()
		tok2, resp, err := c2.Login(ctx, "frank@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)

		var list struct {
			Data []map[string]any `json:"data"`
		}
		resp, err = c1.Get(ctx, "/api/v1/sessions")
		mustStatus(t, resp, err, http.StatusOK)
		_ = resp.Decode(&list)
		if len(list.Data) != 2 {
			t.Fatalf("sessions = %s", resp.Body)
		}
		currents := 0
		for _, s := range list.Data {
			if s["current"] == true {
				currents++
				if s["id"] != tok1.SessionID {
					t.Fatalf("current session is %v, want %s", s["id"], tok1.SessionID)
				}
			}
		}
		if currents != 1 {
			t.Fatalf("%d sessions marked current", currents)
		}

		// Refresh rotates; the spent refresh token, presented again, kills the session.
		c2b := env.Client()
		resp, err = c2b.Post(ctx, "/api/v1/auth/refresh", map[string]any{"refresh_token": tok2.RefreshToken})
		mustStatus(t, resp, err, http.StatusOK)
		var rotated client.Tokens
		_ = resp.Decode(&rotated)
		if rotated.RefreshToken == tok2.RefreshToken || rotated.AccessToken == "" || rotated.SessionID != tok2.SessionID {
			t.Fatalf("refresh did not rotate: %+v", rotated)
		}
		c2b.Token = rotated.AccessToken
		resp, err = c2b.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = env.Client().Post(ctx, "/api/v1/auth/refresh", map[string]any{"refresh_token": tok2.RefreshToken})
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_refresh_token")
		resp, err = c2b.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		resp, err = env.Client().Post(ctx, "/api/v1/auth/refresh", map[string]any{"refresh_token": rotated.RefreshToken})
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_refresh_token")
		if acts := auditActions(t, env, tok2.SessionID); !contains(acts, "session.refresh_token_reused") {
			t.Fatalf("reuse not audited: %v", acts)
		}

		// A third device, revoked from the first: refused on its very next request.
		c3 := env.Client()
		tok3, resp, err := c3.Login(ctx, "frank@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = c3.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK) // warms any cache
		resp, err = c1.Do(ctx, client.Request{Method: http.MethodDelete, Path: "/api/v1/sessions/" + tok3.SessionID})
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = c3.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")

		// Someone else's session, or a made-up one, is not found.
		other, otherTok := register(t, env, "grace@example.com")
		resp, err = c1.Do(ctx, client.Request{Method: http.MethodDelete, Path: "/api/v1/sessions/" + otherTok.SessionID})
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		resp, err = c1.Do(ctx, client.Request{Method: http.MethodDelete, Path: "/api/v1/sessions/ses_nonsense"})
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		resp, err = other.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)

		// Revoke all but the current one.
		c4 := env.Client()
		_, resp, err = c4.Login(ctx, "frank@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = c1.Post(ctx, "/api/v1/sessions/revoke-all", map[string]any{"keep_current": true})
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = c4.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		resp, err = c1.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)

		// Logout ends the session at once.
		resp, err = c1.Post(ctx, "/api/v1/auth/logout", nil)
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = c1.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		resp, err = env.Client().Post(ctx, "/api/v1/auth/refresh", map[string]any{"refresh_token": tok1.RefreshToken})
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_refresh_token")
	})
}

func TestForgedAndExpiredTokens(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		_, tok := register(t, env, "heidi@example.com")
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, claims); err != nil {
			t.Fatal(err)
		}
		try := func(token string) *client.Response {
			c := env.Client()
			c.Token = token
			resp, err := c.Get(ctx, "/api/v1/me")
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		// alg "none".
		none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
		none.Header["kid"] = "v1"
		s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if r := try(s); r.Status != http.StatusUnauthorized {
			t.Fatalf("alg none accepted: %d", r.Status)
		}
		// Signed with another key.
		other := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		other.Header["kid"] = "v1"
		s, _ = other.SignedString([]byte("some-other-key-0123456789abcdef"))
		if r := try(s); r.Status != http.StatusUnauthorized {
			t.Fatalf("foreign key accepted: %d", r.Status)
		}
		// Algorithm confusion: HS512 with the right-looking structure.
		hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, claims)
		hs512.Header["kid"] = "v1"
		s, _ = hs512.SignedString([]byte(testapp.Secret))
		if r := try(s); r.Status != http.StatusUnauthorized {
			t.Fatalf("HS512 accepted: %d", r.Status)
		}
		// Tampered payload with the original signature.
		parts := strings.Split(tok.AccessToken, ".")
		claims["sub"] = "usr_01JD0000000000000000000000"
		forged := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		fs, _ := forged.SigningString()
		if r := try(strings.Split(fs, ".")[0] + "." + strings.Split(fs, ".")[1] + "." + parts[2]); r.Status != http.StatusUnauthorized {
			t.Fatalf("tampered token accepted: %d", r.Status)
		}
		for _, junk := range []string{"", "x", "a.b.c", strings.Repeat("A", 5000)} {
			if r := try(junk); r.Status != http.StatusUnauthorized {
				t.Fatalf("junk token %q → %d", junk[:min(len(junk), 10)], r.Status)
			}
		}
		// The real token works, then expires.
		if r := try(tok.AccessToken); r.Status != http.StatusOK {
			t.Fatalf("genuine token refused: %s", r.Body)
		}
		env.Clock.Advance(16 * time.Minute)
		r := try(tok.AccessToken)
		if r.Status != http.StatusUnauthorized || r.Problem.Code != "invalid_token" {
			t.Fatalf("expired token: %d %s", r.Status, r.Body)
		}
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Fatalf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
		// No token at all.
		resp, err := env.Client().Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "unauthenticated")
	})
}

func TestLockoutAndUnlock(t *testing.T) {
	t.Parallel()
	opt := testapp.Options{Env: map[string]string{"LOCKOUT_THRESHOLD": "3", "LOCKOUT_BASE_SECONDS": "60", "LOCKOUT_MAX_SECONDS": "600"}}
	eachEngine(t, opt, func(t *testing.T, env *testapp.Env) {
		victim, _ := register(t, env, "ivan@example.com")
		resp, err := victim.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)
		var me map[string]any
		_ = resp.Decode(&me)
		userID := me["id"].(string)

		c := env.Client()
		for range 3 {
			_, resp, err := c.Login(ctx, "ivan@example.com", "wrong password!")
			mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		}
		// Locked: even the right password fails, identically.
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		if acts := auditActions(t, env, userID); !contains(acts, "auth.lockout") {
			t.Fatalf("lockout not audited: %v", acts)
		}
		// Lockouts grow while failures continue: after the first (60 s) one
		// ends, three more failures lock for 120 s.
		env.Clock.Advance(61 * time.Second)
		for range 3 {
			_, resp, err := c.Login(ctx, "ivan@example.com", "wrong password!")
			mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		}
		env.Clock.Advance(61 * time.Second)
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		// The lock expires on its own, and a success resets the growth.
		env.Clock.Advance(60 * time.Second)
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		for range 3 {
			_, resp, err := c.Login(ctx, "ivan@example.com", "wrong password!")
			mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		}
		env.Clock.Advance(61 * time.Second)
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)
		// Lock again, for the administrator to lift.
		for range 3 {
			_, resp, err := c.Login(ctx, "ivan@example.com", "wrong password!")
			mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		}

		// An admin unlocks it.
		admin, _ := staff(t, env, "root@example.com", authz.Admin)
		resp, err = admin.Post(ctx, "/api/v1/admin/users/"+userID+"/unlock", nil)
		mustStatus(t, resp, err, http.StatusOK)
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusOK)

		// An administrative lock kills live sessions at once and blocks login.
		resp, err = admin.Post(ctx, "/api/v1/admin/users/"+userID+"/lock", nil)
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = victim.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		_, resp, err = c.Login(ctx, "ivan@example.com", goodPassword)
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_credentials")
		for _, want := range []string{"user.locked", "user.unlocked", "auth.login_failed", "auth.lockout"} {
			if acts := auditActions(t, env, userID); !contains(acts, want) {
				t.Errorf("%s not audited: %v", want, acts)
			}
		}
	})
}

func TestTOTPLifecycle(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		c, tok := register(t, env, "judy@example.com")
		resp, err := c.Post(ctx, "/api/v1/2fa/setup", nil)
		mustStatus(t, resp, err, http.StatusOK)
		var setup struct {
			Secret     string `json:"secret"`
			OTPAuthURL string `json:"otpauth_url"`
			QRPNG      string `json:"qr_png"`
		}
		_ = resp.Decode(&setup)
		u, err := url.Parse(setup.OTPAuthURL)
		if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != setup.Secret {
			t.Fatalf("otpauth URL %q", setup.OTPAuthURL)
		}
		raw, err := base64.StdEncoding.DecodeString(setup.QRPNG)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Fatalf("qr_png is not a PNG: %v", err)
		}
		// A wrong code does not enable 2FA.
		resp, err = c.Post(ctx, "/api/v1/2fa/enable", map[string]any{"code": "000000"})
		if resp.Status != http.StatusUnprocessableEntity {
			// 000000 might be the right code once in a million; then the next line shows it.
			mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")
		}
		now := env.Clock.Now()
		resp, err = c.Post(ctx, "/api/v1/2fa/enable", map[string]any{"code": totpCode(t, setup.Secret, now)})
		mustStatus(t, resp, err, http.StatusOK)
		var rc struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		_ = resp.Decode(&rc)
		if len(rc.RecoveryCodes) != 10 {
			t.Fatalf("recovery codes = %v", rc.RecoveryCodes)
		}

		// Password login now needs the second factor.
		c2 := env.Client()
		first, resp, err := c2.Login(ctx, "judy@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusAccepted)
		if !first.MFARequired || first.MFAToken == "" || first.AccessToken != "" {
			t.Fatalf("202 body = %s", resp.Body)
		}
		// The code used to enable is spent: the same time step is refused.
		resp, err = c2.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": first.MFAToken, "code": totpCode(t, setup.Secret, now)})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")
		// The next step's code works (±1 step is accepted).
		env.Clock.Advance(30 * time.Second)
		code := totpCode(t, setup.Secret, env.Clock.Now())
		resp, err = c2.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": first.MFAToken, "code": code})
		mustStatus(t, resp, err, http.StatusOK)
		var signed client.Tokens
		_ = resp.Decode(&signed)
		c2.Token = signed.AccessToken
		resp, err = c2.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)
		// The challenge is spent.
		resp, err = env.Client().Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": first.MFAToken, "code": code})
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_mfa_token")

		// A recovery code works once.
		third := env.Client()
		ch, resp, err := third.Login(ctx, "judy@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusAccepted)
		resp, err = third.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": ch.MFAToken, "recovery_code": strings.ToUpper(rc.RecoveryCodes[0])})
		mustStatus(t, resp, err, http.StatusOK)
		ch, resp, err = third.Login(ctx, "judy@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusAccepted)
		resp, err = third.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": ch.MFAToken, "recovery_code": rc.RecoveryCodes[0]})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")

		// A challenge allows five wrong codes (the spent recovery code above
		// was the first), then it is burnt even for a valid code.
		for range 4 {
			resp, err = third.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": ch.MFAToken, "code": "12345x"})
			mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")
		}
		resp, err = third.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": ch.MFAToken, "recovery_code": rc.RecoveryCodes[1]})
		mustProblem(t, resp, err, http.StatusUnauthorized, "invalid_mfa_token")

		// Step-up: the first session's MFA check (at enable) is now stale.
		env.Clock.Advance(6 * time.Minute)
		resp, err = c.Post(ctx, "/api/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "another fine passphrase"})
		mustProblem(t, resp, err, http.StatusForbidden, "mfa_step_up_required")
		resp, err = c.Post(ctx, "/api/v1/2fa/recovery-codes", nil)
		mustProblem(t, resp, err, http.StatusForbidden, "mfa_step_up_required")
		resp, err = c.Post(ctx, "/api/v1/auth/step-up", map[string]any{"code": totpCode(t, setup.Secret, env.Clock.Now())})
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = c.Post(ctx, "/api/v1/2fa/recovery-codes", nil)
		mustStatus(t, resp, err, http.StatusOK)
		var rc2 struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		_ = resp.Decode(&rc2)
		// Old codes no longer work.
		ch, resp, err = third.Login(ctx, "judy@example.com", goodPassword)
		mustStatus(t, resp, err, http.StatusAccepted)
		resp, err = third.Post(ctx, "/api/v1/auth/mfa", map[string]any{"mfa_token": ch.MFAToken, "recovery_code": rc.RecoveryCodes[2]})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")

		// Password change signs out the other sessions.
		resp, err = c.Post(ctx, "/api/v1/me/password", map[string]any{"current_password": goodPassword, "new_password": "another fine passphrase"})
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = c2.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		resp, err = c.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)

		// Disabling needs a valid code.
		resp, err = c.Post(ctx, "/api/v1/2fa/disable", map[string]any{"code": "999999x"})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "invalid_mfa_code")
		resp, err = c.Post(ctx, "/api/v1/2fa/disable", map[string]any{"recovery_code": rc2.RecoveryCodes[0]})
		mustStatus(t, resp, err, http.StatusNoContent)
		_, resp, err = env.Client().Login(ctx, "judy@example.com", "another fine passphrase")
		mustStatus(t, resp, err, http.StatusOK)

		userID := signed.User["id"].(string)
		acts := auditActions(t, env, userID)
		for _, want := range []string{"mfa.setup_started", "mfa.enabled", "mfa.recovery_codes_regenerated", "mfa.disabled", "user.password_changed", "auth.mfa_failed"} {
			if !contains(acts, want) {
				t.Errorf("%s not audited: %v", want, acts)
			}
		}
		_ = tok
	})
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		register(t, env, "ken@example.com")
		web := env.Client()
		resp, err := web.Post(ctx, "/api/v1/auth/login", map[string]any{"email": "ken@example.com", "password": goodPassword, "cookie": true})
		mustStatus(t, resp, err, http.StatusOK)
		var body map[string]any
		_ = resp.Decode(&body)
		if body["token_type"] != "cookie" || body["csrf_token"] == "" || body["access_token"] != nil {
			t.Fatalf("cookie login body = %s", resp.Body)
		}
		var sessionCookie *http.Cookie
		for _, ck := range (&http.Response{Header: resp.Header}).Cookies() {
			if ck.Name == "fiscus_session" {
				sessionCookie = ck
			}
		}
		if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteStrictMode {
			t.Fatalf("session cookie = %+v", sessionCookie)
		}
		resp, err = web.Get(ctx, "/api/v1/me")
		mustStatus(t, resp, err, http.StatusOK)
		// Unsafe request without the CSRF header is refused.
		resp, err = web.Post(ctx, "/api/v1/auth/logout", nil)
		mustProblem(t, resp, err, http.StatusForbidden, "csrf_failed")
		web.CSRF = "forged"
		resp, err = web.Post(ctx, "/api/v1/auth/logout", nil)
		mustProblem(t, resp, err, http.StatusForbidden, "csrf_failed")
		web.CSRF = body["csrf_token"].(string)
		resp, err = web.Post(ctx, "/api/v1/auth/logout", nil)
		mustStatus(t, resp, err, http.StatusNoContent)
		resp, err = web.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "unauthenticated")
	})
}

func TestAdminUserManagement(t *testing.T) {
	t.Parallel()
	eachEngine(t, testapp.Options{}, func(t *testing.T, env *testapp.Env) {
		customer, _ := register(t, env, "leo@example.com")
		admin, adminUser := staff(t, env, "boss@example.com", authz.Admin)
		support, _ := staff(t, env, "help@example.com", authz.Support)

		resp, err := customer.Get(ctx, "/api/v1/admin/users")
		mustProblem(t, resp, err, http.StatusForbidden, "forbidden")

		resp, err = admin.Get(ctx, "/api/v1/admin/users?limit=2")
		mustStatus(t, resp, err, http.StatusOK)
		var page struct {
			Data       []map[string]any `json:"data"`
			NextCursor string           `json:"next_cursor"`
		}
		_ = resp.Decode(&page)
		if len(page.Data) != 2 || page.NextCursor == "" {
			t.Fatalf("page 1 = %s", resp.Body)
		}
		resp, err = admin.Get(ctx, "/api/v1/admin/users?limit=2&cursor="+page.NextCursor)
		mustStatus(t, resp, err, http.StatusOK)
		var page2 struct {
			Data       []map[string]any `json:"data"`
			NextCursor string           `json:"next_cursor"`
		}
		_ = resp.Decode(&page2)
		if len(page2.Data) != 1 || page2.NextCursor != "" || page2.Data[0]["id"] == page.Data[1]["id"] {
			t.Fatalf("page 2 = %s", resp.Body)
		}
		for _, bad := range []string{"?limit=0", "?limit=abc", "?limit=201", "?cursor=%%%", "?cursor=bm9wZQ"} {
			resp, err = admin.Get(ctx, "/api/v1/admin/users"+bad)
			mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		}

		var me map[string]any
		resp, _ = customer.Get(ctx, "/api/v1/me")
		_ = resp.Decode(&me)
		leo := me["id"].(string)

		resp, err = admin.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/admin/users/" + leo + "/roles", Body: map[string]any{"roles": []string{"customer", "auditor"}}})
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = admin.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/admin/users/" + leo + "/roles", Body: map[string]any{"roles": []string{"root"}}})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		resp, err = admin.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/admin/users/" + leo + "/roles", Body: map[string]any{"roles": []string{}}})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "validation_failed")
		// The role change applies to the live session: leo, now an auditor, may list users.
		resp, err = customer.Get(ctx, "/api/v1/admin/users")
		mustStatus(t, resp, err, http.StatusOK)
		// Support may lock but not assign roles.
		resp, err = support.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/admin/users/" + leo + "/roles", Body: map[string]any{"roles": []string{"admin"}}})
		mustProblem(t, resp, err, http.StatusForbidden, "forbidden")
		resp, err = support.Post(ctx, "/api/v1/admin/users/"+leo+"/logout", nil)
		mustStatus(t, resp, err, http.StatusOK)
		resp, err = customer.Get(ctx, "/api/v1/me")
		mustProblem(t, resp, err, http.StatusUnauthorized, "session_revoked")
		// Admins cannot demote or lock themselves.
		resp, err = admin.Do(ctx, client.Request{Method: http.MethodPut, Path: "/api/v1/admin/users/" + adminUser.ID + "/roles", Body: map[string]any{"roles": []string{"customer"}}})
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "self_action_refused")
		resp, err = admin.Post(ctx, "/api/v1/admin/users/"+adminUser.ID+"/lock", nil)
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "self_action_refused")
		// Unknown users are not found.
		resp, err = admin.Post(ctx, "/api/v1/admin/users/usr_01JD0000000000000000000000/lock", nil)
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		resp, err = admin.Post(ctx, "/api/v1/admin/users/garbage/lock", nil)
		mustProblem(t, resp, err, http.StatusNotFound, "not_found")
		if acts := auditActions(t, env, leo); !contains(acts, "user.roles_changed") || !contains(acts, "session.revoked_all") {
			t.Fatalf("admin actions not audited: %v", acts)
		}
	})
}
