package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/fiscus/fiscus/internal/accounts"
	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/config"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/identity"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/logging"
	"github.com/fiscus/fiscus/internal/openapi"
	"github.com/fiscus/fiscus/internal/openapi/openapitest"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
	"github.com/fiscus/fiscus/internal/transfer"
)

// The OpenAPI document (internal/openapi/openapi.yaml) is the contract. These
// tests fail when it and the server drift apart:
//
//   - TestSpecMatchesRoutes: every registered route is an operation in the
//     document and every operation is a registered route;
//   - TestSpecResponses: every case in specCases runs through the real
//     handler chain on both engines and its response must validate; every
//     operation needs at least one case;
//   - TestSpecDocument: the document is valid OpenAPI 3.1 and keeps the
//     conventions every operation shares.
//
// Adding an endpoint: register it, describe it in openapi.yaml, and add at
// least one case for it to specCases (a success case whenever one is cheap).

// specServer is a server wired the way internal/app wires it, so that every
// route the process serves is registered, on a database of the test's engine.
type specServer struct {
	srv   *Server
	deps  Deps
	ids   *identity.Service
	admin string // bearer access token of a user with the admin role
	user  string // bearer access token of a customer
	fx    *specFixture
	staff map[string]string // bearer tokens of staff users signed in by the ledger cases, by email

	accts     *accounts.Service
	transfers *transfer.Service
}

const specPassword = "correct horse battery staple"

func newSpecServer(t *testing.T, db *store.DB, cfg config.Config) *specServer {
	t.Helper()
	log := logging.New(io.Discard, slog.LevelDebug)
	// As internal/app builds the identity service, but with cheap password
	// hashing: the production parameters are tested in internal/password.
	cfg.Argon2MemoryKiB, cfg.Argon2Iterations, cfg.Argon2Parallelism = 1024, 1, 1
	ids, err := identity.FromConfig(cfg, db, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng := journal.New(db, journal.Options{Logger: log})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	accts := accounts.New(accounts.Deps{DB: db})
	transfers := transfer.New(transfer.Deps{DB: db, Engine: eng, Accounts: accts, Keys: idempotency.New(db, time.Hour), Policy: cfg.Policy})
	d := Deps{Config: cfg, DB: db, Logger: log, Version: "test", Identity: ids, Accounts: accts, Transfers: transfers}
	return &specServer{srv: New(d), deps: d, ids: ids, accts: accts, transfers: transfers, staff: map[string]string{}}
}

// specOptionalDeps are the Deps fields New fills in itself when they are nil;
// every other field must be wired in newSpecServer, because routes may be
// registered only when their dependency is present.
var specOptionalDeps = []string{"Registry", "Now"}

func TestSpecServerWiresEveryDependency(t *testing.T) {
	s := newSpecServer(t, storetest.Open(t, store.SQLite), testConfig(t))
	d := reflect.ValueOf(s.deps)
	for i := range d.NumField() {
		name := d.Type().Field(i).Name
		if d.Field(i).IsZero() && !slices.Contains(specOptionalDeps, name) {
			t.Errorf("newSpecServer leaves Deps.%s unset; wire it so the spec tests see the routes that need it", name)
		}
	}
}

// signIn creates a user with the given role and returns a bearer token.
func (s *specServer) signIn(t *testing.T, email string, role authz.Role) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.ids.SeedUser(ctx, identity.RegisterInput{Email: email, Password: specPassword, Name: "Spec " + string(role)},
		[]authz.Role{role}); err != nil {
		t.Fatalf("seed %s: %v", email, err)
	}
	res, err := s.ids.Login(ctx, identity.Meta{IP: "127.0.0.1"}, identity.LoginInput{Email: email, Password: specPassword})
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return res.Tokens.AccessToken
}

// specFixture is the identity state the identity cases start from, made
// through the service on the default server before any case runs. Cases run
// in order, so a case may spend what the fixture made (a refresh token, a
// recovery code) as long as no later case needs it.
type specFixture struct {
	adminID      string   // the admin's user ID
	victimID     string   // a customer the admin cases lock, unlock, sign out and re-role
	spareSession string   // a second session of the customer, for DELETE /sessions/{id}
	logoutToken  string   // a session to sign out
	revokeToken  string   // a session whose user signs out everywhere
	pwToken      string   // a session whose user changes their password
	refreshToken string   // spent by the refresh case, then replayed
	cookie, csrf string   // a cookie session of the customer
	mfaSecret    string   // TOTP secret of the 2FA user
	mfaFresh     string   // the 2FA user's session that passed the second factor just now
	mfaStale     string   // the 2FA user's session that has not passed the second factor (until the step-up case)
	mfaTokens    []string // sign-in challenges of the 2FA user; [2] is completed by the fixture
	recovery     []string // the 2FA user's recovery codes; [0] is spent
	enableSecret string   // a TOTP secret set up, not yet enabled
	enableToken  string   // its user's session
	ledger       *specLedger
}

// newSpecFixture makes the fixture on s; s.admin and s.user must be signed in.
func newSpecFixture(t *testing.T, s *specServer) *specFixture {
	t.Helper()
	ctx := context.Background()
	meta := identity.Meta{IP: "127.0.0.1", UserAgent: "spec-fixture"}
	principal := func(tok string) authz.Principal {
		t.Helper()
		p, err := s.ids.Authenticate(ctx, tok)
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		return p
	}
	login := func(email string, cookie bool) identity.LoginResult {
		t.Helper()
		res, err := s.ids.Login(ctx, meta, identity.LoginInput{Email: email, Password: specPassword, Cookie: cookie})
		if err != nil {
			t.Fatalf("login %s: %v", email, err)
		}
		return res
	}
	setUp := func(tok string) string {
		t.Helper()
		key, err := s.ids.SetupTOTP(ctx, meta, principal(tok))
		if err != nil {
			t.Fatalf("set up TOTP: %v", err)
		}
		return key.Secret
	}
	fx := &specFixture{adminID: principal(s.admin).UserID}
	victim, err := s.ids.SeedUser(ctx, identity.RegisterInput{Email: "spec-victim@example.com", Password: specPassword, Name: "Spec Victim"},
		[]authz.Role{authz.Customer})
	if err != nil {
		t.Fatal(err)
	}
	fx.victimID = victim.ID
	fx.spareSession = login("spec-customer@example.com", false).Tokens.SessionID
	fx.logoutToken = login("spec-customer@example.com", false).Tokens.AccessToken
	fx.refreshToken = login("spec-customer@example.com", false).Tokens.RefreshToken
	web := login("spec-customer@example.com", true).Tokens
	fx.cookie, fx.csrf = web.Cookie, web.CSRFToken
	fx.revokeToken = s.signIn(t, "spec-revoke@example.com", authz.Customer)
	fx.pwToken = s.signIn(t, "spec-password@example.com", authz.Customer)
	fx.enableToken = s.signIn(t, "spec-enable@example.com", authz.Customer)
	fx.enableSecret = setUp(fx.enableToken)

	// The 2FA user: one session from before 2FA was on (never passed the
	// second factor), one that enables it, then challenges to complete.
	fx.mfaStale = s.signIn(t, "spec-mfa@example.com", authz.Customer)
	enabler := login("spec-mfa@example.com", false).Tokens.AccessToken
	fx.mfaSecret = setUp(enabler)
	if fx.recovery, err = s.ids.EnableTOTP(ctx, meta, principal(enabler), specTOTP(fx.mfaSecret, time.Now())); err != nil {
		t.Fatalf("enable TOTP: %v", err)
	}
	for range 3 {
		res := login("spec-mfa@example.com", false)
		if !res.MFARequired {
			t.Fatal("a 2FA user signed in without the second factor")
		}
		fx.mfaTokens = append(fx.mfaTokens, res.MFAToken)
	}
	done, err := s.ids.CompleteMFA(ctx, meta, identity.MFAInput{Token: fx.mfaTokens[2], RecoveryCode: fx.recovery[0]})
	if err != nil {
		t.Fatalf("complete MFA: %v", err)
	}
	fx.mfaFresh = done.Tokens.AccessToken
	fx.ledger = newSpecLedger(t, s, fx)
	return fx
}

// specTOTP is the TOTP code of secret at the time step of at. The secrets
// come from the server, so a failure is a broken server: it panics, which
// fails the case that asked.
func specTOTP(secret string, at time.Time) string {
	code, err := pqtotp.GenerateCode(secret, at)
	if err != nil {
		panic(fmt.Sprintf("TOTP code of a server-made secret: %v", err))
	}
	return code
}

// specWrongTOTP is a well-formed code that no time step near now accepts.
func specWrongTOTP(secret string) string {
	near := map[string]bool{}
	for d := -3; d <= 3; d++ {
		near[specTOTP(secret, time.Now().Add(time.Duration(d)*30*time.Second))] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !near[c] {
			return c
		}
	}
}

// specCase is one request and the status it must get. Its response must
// validate against the document whatever the status.
type specCase struct {
	name   string
	server string // "" (default), "metrics-token", "unmigrated" or "rate-limited"
	method string
	path   string
	pathOf func(s *specServer) string // the path, when it holds an ID of the fixture
	header func(s *specServer, spec *openapi.Spec) http.Header
	// bearer, when set, picks the access token to send.
	bearer func(s *specServer) string
	// body, when set, is the request body: a string as is, anything else
	// as JSON; Content-Type is application/json unless header sets it.
	body   func(s *specServer) any
	status int
	// badRequest marks a request that deliberately breaks the document (an
	// unknown path or method, missing credentials, an asset not in the enum);
	// it is not validated, its response still is.
	badRequest bool
	check      func(t *testing.T, spec *openapi.Spec, res *http.Response, body []byte)
}

const specMetricsToken = "spec-metrics-token"

func specBearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func specAdmin(s *specServer) string { return s.admin }
func specUser(s *specServer) string  { return s.user }

// specJSON is a fixed request body.
func specJSON(v any) func(*specServer) any { return func(*specServer) any { return v } }

// specCookie sends the customer's session cookie, and the CSRF token when csrf.
func specCookie(csrf bool) func(*specServer, *openapi.Spec) http.Header {
	return func(s *specServer, _ *openapi.Spec) http.Header {
		h := http.Header{"Cookie": {sessionCookie + "=" + s.fx.cookie}}
		if csrf {
			h.Set(csrfHeader, s.fx.csrf)
		}
		return h
	}
}

// specHeaderHas checks that the response has a header value with prefix.
func specHeaderHas(name, prefix string) func(*testing.T, *openapi.Spec, *http.Response, []byte) {
	return func(t *testing.T, _ *openapi.Spec, res *http.Response, _ []byte) {
		t.Helper()
		for _, v := range res.Header.Values(name) {
			if strings.HasPrefix(v, prefix) {
				return
			}
		}
		t.Errorf("no %s header starts with %q: %q", name, prefix, res.Header.Values(name))
	}
}

func specIfNoneMatch(etag string) http.Header { return http.Header{"If-None-Match": {etag}} }

func specBodyIs(want func(*openapi.Spec) []byte) func(*testing.T, *openapi.Spec, *http.Response, []byte) {
	return func(t *testing.T, spec *openapi.Spec, _ *http.Response, body []byte) {
		t.Helper()
		if !bytes.Equal(body, want(spec)) {
			t.Errorf("body differs from the embedded file (%d bytes, want %d)", len(body), len(want(spec)))
		}
	}
}

func specBodyEmpty(t *testing.T, _ *openapi.Spec, _ *http.Response, body []byte) {
	t.Helper()
	if len(body) != 0 {
		t.Errorf("a 304 has a body of %d bytes", len(body))
	}
}

func specCases() []specCase {
	cases := []specCase{
		{name: "liveness", method: "GET", path: "/health", status: 200},
		{name: "liveness HEAD", method: "HEAD", path: "/health", status: 200},
		{name: "ready", method: "GET", path: "/health/ready", status: 200},
		{name: "not ready: migrations pending", server: "unmigrated", method: "GET", path: "/health/ready", status: 503},
		{name: "details: anonymous", method: "GET", path: "/health/detailed", status: 401, badRequest: true},
		{name: "details: customer", method: "GET", path: "/health/detailed", status: 403,
			header: func(s *specServer, _ *openapi.Spec) http.Header { return specBearer(s.user) }},
		{name: "details: admin", method: "GET", path: "/health/detailed", status: 200,
			header: func(s *specServer, _ *openapi.Spec) http.Header { return specBearer(s.admin) }},
		{name: "metrics: text", method: "GET", path: "/metrics", status: 200},
		{name: "metrics: protobuf", method: "GET", path: "/metrics", status: 200,
			header: func(*specServer, *openapi.Spec) http.Header {
				return http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}}
			}},
		{name: "metrics: token missing", server: "metrics-token", method: "GET", path: "/metrics", status: 401},
		{name: "metrics: token given", server: "metrics-token", method: "GET", path: "/metrics", status: 200,
			header: func(*specServer, *openapi.Spec) http.Header { return specBearer(specMetricsToken) }},
		{name: "openapi.yaml", method: "GET", path: "/openapi.yaml", status: 200,
			check: specBodyIs(func(s *openapi.Spec) []byte { return s.YAML().Body })},
		{name: "openapi.yaml: not modified", method: "GET", path: "/openapi.yaml", status: 304, check: specBodyEmpty,
			header: func(_ *specServer, s *openapi.Spec) http.Header { return specIfNoneMatch(s.YAML().ETag) }},
		{name: "openapi.json", method: "GET", path: "/openapi.json", status: 200,
			check: specBodyIs(func(s *openapi.Spec) []byte { return s.JSON().Body })},
		{name: "openapi.json: not modified (weak, in a list)", method: "GET", path: "/openapi.json", status: 304, check: specBodyEmpty,
			header: func(_ *specServer, s *openapi.Spec) http.Header {
				return specIfNoneMatch(`"other", W/` + s.JSON().ETag)
			}},
		{name: "openapi.json: other ETag", method: "GET", path: "/openapi.json", status: 200,
			header: func(_ *specServer, s *openapi.Spec) http.Header { return specIfNoneMatch(s.YAML().ETag) }},
		{name: "docs page", method: "GET", path: "/docs", status: 200,
			check: specBodyIs(func(s *openapi.Spec) []byte { return s.DocsPage().Body })},
		{name: "docs page: not modified", method: "GET", path: "/docs", status: 304, check: specBodyEmpty,
			header: func(_ *specServer, s *openapi.Spec) http.Header { return specIfNoneMatch(s.DocsPage().ETag) }},
		{name: "docs asset: unknown", method: "GET", path: "/docs/evil.js", status: 404, badRequest: true},
		{name: "docs asset: not modified", method: "GET", path: "/docs/swagger-ui.css", status: 304, check: specBodyEmpty,
			header: func(_ *specServer, s *openapi.Spec) http.Header {
				r, _ := s.DocsAsset("swagger-ui.css")
				return specIfNoneMatch(r.ETag)
			}},
		{name: "unknown path", method: "GET", path: "/no/such/thing", status: 404, badRequest: true},
		{name: "unknown method", method: "POST", path: "/health", status: 405, badRequest: true},
		{name: "unknown method on the docs", method: "DELETE", path: "/openapi.json", status: 405, badRequest: true},
		{name: "declared body over the limit", method: "GET", path: "/health", status: 413, badRequest: true,
			header: func(*specServer, *openapi.Spec) http.Header {
				return http.Header{"Content-Length": {strconv.Itoa(64 << 20)}}
			}},
	}
	cases = append(cases, specLedgerCases()...)
	cases = append(cases, specIdentityCases()...)
	for _, name := range openapi.DocsAssetNames() {
		cases = append(cases, specCase{name: "docs asset " + name, method: "GET", path: "/docs/" + name, status: 200,
			check: func(t *testing.T, spec *openapi.Spec, _ *http.Response, body []byte) {
				t.Helper()
				want, _ := spec.DocsAsset(name)
				if !bytes.Equal(body, want.Body) {
					t.Errorf("body differs from the embedded asset")
				}
			}})
	}
	return cases
}

// specIdentityCases exercise the identity operations. They run in this
// order on one server per engine; see specFixture for the state they share.
func specIdentityCases() []specCase {
	const (
		customer   = "spec-customer@example.com"
		unknownUsr = "usr_01JD0000000000000000000000"
		unknownSes = "ses_01JD0000000000000000000000"
	)
	fx := func(pick func(*specFixture) string) func(*specServer) string {
		return func(s *specServer) string { return pick(s.fx) }
	}
	mfaFresh := fx(func(f *specFixture) string { return f.mfaFresh })
	mfaStale := fx(func(f *specFixture) string { return f.mfaStale })
	userPath := func(id func(*specFixture) string, action string) func(*specServer) string {
		return func(s *specServer) string { return "/api/v1/admin/users/" + id(s.fx) + "/" + action }
	}
	victim := func(f *specFixture) string { return f.victimID }
	self := func(f *specFixture) string { return f.adminID }
	nobody := func(*specFixture) string { return unknownUsr }
	login := func(email, pw string) func(*specServer) any {
		return specJSON(map[string]any{"email": email, "password": pw})
	}
	return []specCase{
		// Registration.
		{name: "register", method: "POST", path: "/api/v1/auth/register", status: 201,
			body:  specJSON(map[string]any{"email": " Spec-New@Example.com ", "password": specPassword, "name": "Spec New"}),
			check: specHeaderHas("Location", "/api/v1/me")},
		{name: "register: email taken", method: "POST", path: "/api/v1/auth/register", status: 409,
			body: specJSON(map[string]any{"email": customer, "password": specPassword, "name": "Again"})},
		{name: "register: common password", method: "POST", path: "/api/v1/auth/register", status: 422,
			body: specJSON(map[string]any{"email": "spec-weak@example.com", "password": "password", "name": "Weak"})},
		{name: "register: not an email", method: "POST", path: "/api/v1/auth/register", status: 422,
			body: specJSON(map[string]any{"email": "not-an-email", "password": specPassword, "name": "X"})},
		{name: "register: unknown field", method: "POST", path: "/api/v1/auth/register", status: 400, badRequest: true,
			body: specJSON(map[string]any{"email": "spec-x@example.com", "password": specPassword, "name": "X", "roles": []string{"admin"}})},
		{name: "register: malformed JSON", method: "POST", path: "/api/v1/auth/register", status: 400, badRequest: true,
			body: specJSON(`{"email":`)},
		{name: "register: not JSON", method: "POST", path: "/api/v1/auth/register", status: 415, badRequest: true,
			body: specJSON("email=x"),
			header: func(*specServer, *openapi.Spec) http.Header {
				return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			}},
		{name: "register: wrong method", method: "GET", path: "/api/v1/auth/register", status: 405, badRequest: true},

		// Sign-in.
		{name: "login", method: "POST", path: "/api/v1/auth/login", status: 200, body: login(customer, specPassword)},
		{name: "login: cookie", method: "POST", path: "/api/v1/auth/login", status: 200,
			body:  specJSON(map[string]any{"email": customer, "password": specPassword, "cookie": true}),
			check: specHeaderHas("Set-Cookie", sessionCookie+"=")},
		{name: "login: second factor", method: "POST", path: "/api/v1/auth/login", status: 202, body: login("spec-mfa@example.com", specPassword)},
		{name: "login: wrong password", method: "POST", path: "/api/v1/auth/login", status: 401, body: login(customer, "not the password")},
		{name: "login: unknown email", method: "POST", path: "/api/v1/auth/login", status: 401, body: login("nobody@example.com", specPassword)},
		{name: "login: no password", method: "POST", path: "/api/v1/auth/login", status: 422, badRequest: true,
			body: specJSON(map[string]any{"email": customer}),
			check: func(t *testing.T, _ *openapi.Spec, _ *http.Response, body []byte) {
				t.Helper()
				if !bytes.Contains(body, []byte(`"field":"password"`)) || bytes.Contains(body, []byte(`"field":"email"`)) {
					t.Errorf("errors should name password, and only password: %s", body)
				}
			}},
		{name: "login: within the rate limit", server: "rate-limited", method: "POST", path: "/api/v1/auth/login", status: 401,
			body: login("nobody@example.com", specPassword)},
		{name: "login: rate limited", server: "rate-limited", method: "POST", path: "/api/v1/auth/login", status: 429,
			body: login("nobody@example.com", specPassword), check: specHeaderHas("Retry-After", "")},
		{name: "mfa: recovery code", method: "POST", path: "/api/v1/auth/mfa", status: 200,
			body: func(s *specServer) any {
				return map[string]any{"mfa_token": s.fx.mfaTokens[0], "recovery_code": strings.ToUpper(s.fx.recovery[1])}
			}},
		{name: "mfa: wrong code", method: "POST", path: "/api/v1/auth/mfa", status: 422,
			body: func(s *specServer) any {
				return map[string]any{"mfa_token": s.fx.mfaTokens[1], "code": specWrongTOTP(s.fx.mfaSecret)}
			}},
		{name: "mfa: challenge spent", method: "POST", path: "/api/v1/auth/mfa", status: 401,
			body: func(s *specServer) any {
				return map[string]any{"mfa_token": s.fx.mfaTokens[0], "recovery_code": s.fx.recovery[4]}
			}},
		{name: "mfa: both factors", method: "POST", path: "/api/v1/auth/mfa", status: 422, badRequest: true,
			body: func(s *specServer) any {
				return map[string]any{"mfa_token": s.fx.mfaTokens[1], "code": "123456", "recovery_code": s.fx.recovery[4]}
			}},
		{name: "refresh", method: "POST", path: "/api/v1/auth/refresh", status: 200,
			body: func(s *specServer) any { return map[string]any{"refresh_token": s.fx.refreshToken} }},
		{name: "refresh: spent token replayed", method: "POST", path: "/api/v1/auth/refresh", status: 401,
			body: func(s *specServer) any { return map[string]any{"refresh_token": s.fx.refreshToken} }},
		{name: "refresh: no token", method: "POST", path: "/api/v1/auth/refresh", status: 401, badRequest: true, body: specJSON(map[string]any{})},

		// Profile, with bearer tokens and the cookie.
		{name: "me", method: "GET", path: "/api/v1/me", status: 200, bearer: specUser},
		{name: "me: cookie", method: "GET", path: "/api/v1/me", status: 200, header: specCookie(false)},
		{name: "me: anonymous", method: "GET", path: "/api/v1/me", status: 401, badRequest: true,
			check: specHeaderHas("WWW-Authenticate", "Bearer")},
		{name: "me: invalid token", method: "GET", path: "/api/v1/me", status: 401,
			bearer: func(*specServer) string { return "not-a-token" }},
		{name: "change password", method: "POST", path: "/api/v1/me/password", status: 204,
			bearer: fx(func(f *specFixture) string { return f.pwToken }),
			body:   specJSON(map[string]any{"current_password": specPassword, "new_password": "another fine passphrase"})},
		{name: "change password: wrong current password", method: "POST", path: "/api/v1/me/password", status: 422, bearer: specUser,
			body: specJSON(map[string]any{"current_password": "not the password", "new_password": "another fine passphrase"})},
		{name: "change password: weak", method: "POST", path: "/api/v1/me/password", status: 422, bearer: specUser,
			body: specJSON(map[string]any{"current_password": specPassword, "new_password": "12345678"})},
		{name: "change password: step-up required", method: "POST", path: "/api/v1/me/password", status: 403, bearer: mfaStale,
			body: specJSON(map[string]any{"current_password": specPassword, "new_password": "another fine passphrase"})},

		// Two-factor authentication.
		{name: "2fa setup", method: "POST", path: "/api/v1/2fa/setup", status: 200, bearer: specUser},
		{name: "2fa setup: empty object", method: "POST", path: "/api/v1/2fa/setup", status: 200, bearer: specUser, body: specJSON(map[string]any{})},
		{name: "2fa setup: already enabled", method: "POST", path: "/api/v1/2fa/setup", status: 409, bearer: mfaFresh},
		{name: "2fa setup: unknown field", method: "POST", path: "/api/v1/2fa/setup", status: 400, badRequest: true, bearer: specUser,
			body: specJSON(map[string]any{"issuer": "Evil"})},
		{name: "2fa enable: wrong code", method: "POST", path: "/api/v1/2fa/enable", status: 422,
			bearer: fx(func(f *specFixture) string { return f.enableToken }),
			body:   func(s *specServer) any { return map[string]any{"code": specWrongTOTP(s.fx.enableSecret)} }},
		{name: "2fa enable", method: "POST", path: "/api/v1/2fa/enable", status: 200,
			bearer: fx(func(f *specFixture) string { return f.enableToken }),
			body:   func(s *specServer) any { return map[string]any{"code": specTOTP(s.fx.enableSecret, time.Now())} }},
		{name: "2fa enable: not set up", method: "POST", path: "/api/v1/2fa/enable", status: 409, bearer: specAdmin,
			body: specJSON(map[string]any{"code": "123456"})},
		{name: "recovery codes: step-up required", method: "POST", path: "/api/v1/2fa/recovery-codes", status: 403, bearer: mfaStale},
		{name: "step-up", method: "POST", path: "/api/v1/auth/step-up", status: 204, bearer: mfaStale,
			body: func(s *specServer) any { return map[string]any{"recovery_code": s.fx.recovery[2]} }},
		{name: "step-up: recovery code spent", method: "POST", path: "/api/v1/auth/step-up", status: 422, bearer: mfaFresh,
			body: func(s *specServer) any { return map[string]any{"recovery_code": s.fx.recovery[2]} }},
		{name: "step-up: 2FA not enabled", method: "POST", path: "/api/v1/auth/step-up", status: 409, bearer: specAdmin,
			body: specJSON(map[string]any{"code": "123456"})},
		{name: "step-up: no factor", method: "POST", path: "/api/v1/auth/step-up", status: 422, badRequest: true, bearer: mfaFresh,
			body: specJSON(map[string]any{})},
		{name: "recovery codes", method: "POST", path: "/api/v1/2fa/recovery-codes", status: 200, bearer: mfaFresh},
		{name: "recovery codes: wrong code", method: "POST", path: "/api/v1/2fa/recovery-codes", status: 422, bearer: mfaFresh,
			body: func(s *specServer) any { return map[string]any{"code": specWrongTOTP(s.fx.mfaSecret)} }},
		{name: "recovery codes: 2FA not enabled", method: "POST", path: "/api/v1/2fa/recovery-codes", status: 409, bearer: specAdmin},
		{name: "2fa disable: wrong code", method: "POST", path: "/api/v1/2fa/disable", status: 422, bearer: mfaFresh,
			body: func(s *specServer) any { return map[string]any{"code": specWrongTOTP(s.fx.mfaSecret)} }},
		// The code of the next time step: the current one may be spent.
		{name: "2fa disable", method: "POST", path: "/api/v1/2fa/disable", status: 204, bearer: mfaFresh,
			body: func(s *specServer) any {
				return map[string]any{"code": specTOTP(s.fx.mfaSecret, time.Now().Add(30*time.Second))}
			}},
		{name: "2fa disable: not enabled", method: "POST", path: "/api/v1/2fa/disable", status: 409, bearer: specAdmin,
			body: specJSON(map[string]any{"code": "123456"})},

		// Sessions.
		{name: "sessions", method: "GET", path: "/api/v1/sessions", status: 200, bearer: specUser},
		{name: "sessions: anonymous", method: "GET", path: "/api/v1/sessions", status: 401, badRequest: true},
		{name: "revoke session", method: "DELETE", status: 204, bearer: specUser,
			pathOf: func(s *specServer) string { return "/api/v1/sessions/" + s.fx.spareSession }},
		{name: "revoke session: not found", method: "DELETE", path: "/api/v1/sessions/" + unknownSes, status: 404, bearer: specUser},
		{name: "revoke session: cookie without CSRF token", method: "DELETE", path: "/api/v1/sessions/" + unknownSes, status: 403,
			header: specCookie(false)},
		{name: "revoke all: keep current", method: "POST", path: "/api/v1/sessions/revoke-all", status: 200,
			bearer: fx(func(f *specFixture) string { return f.revokeToken }), body: specJSON(map[string]any{"keep_current": true})},
		{name: "revoke all", method: "POST", path: "/api/v1/sessions/revoke-all", status: 200,
			bearer: fx(func(f *specFixture) string { return f.revokeToken }),
			check:  specHeaderHas("Set-Cookie", sessionCookie+"=;")},
		{name: "revoke all: unknown field", method: "POST", path: "/api/v1/sessions/revoke-all", status: 400, badRequest: true,
			bearer: specUser, body: specJSON(map[string]any{"everything": true})},
		{name: "logout", method: "POST", path: "/api/v1/auth/logout", status: 204,
			bearer: fx(func(f *specFixture) string { return f.logoutToken })},
		{name: "logout: session already ended", method: "POST", path: "/api/v1/auth/logout", status: 401,
			bearer: fx(func(f *specFixture) string { return f.logoutToken })},
		{name: "logout: cookie without CSRF token", method: "POST", path: "/api/v1/auth/logout", status: 403, header: specCookie(false)},
		{name: "logout: cookie", method: "POST", path: "/api/v1/auth/logout", status: 204, header: specCookie(true),
			check: specHeaderHas("Set-Cookie", sessionCookie+"=;")},

		// User administration.
		{name: "users", method: "GET", path: "/api/v1/admin/users", status: 200, bearer: specAdmin},
		{name: "users: first page", method: "GET", path: "/api/v1/admin/users?limit=1", status: 200, bearer: specAdmin,
			check: func(t *testing.T, _ *openapi.Spec, _ *http.Response, body []byte) {
				t.Helper()
				if !bytes.Contains(body, []byte(`"next_cursor":"`)) {
					t.Errorf("a first page of one user has no next_cursor: %s", body)
				}
			}},
		{name: "users: customer", method: "GET", path: "/api/v1/admin/users", status: 403, bearer: specUser},
		{name: "users: anonymous", method: "GET", path: "/api/v1/admin/users", status: 401, badRequest: true},
		{name: "users: limit out of range", method: "GET", path: "/api/v1/admin/users?limit=0", status: 422, badRequest: true, bearer: specAdmin},
		{name: "users: foreign cursor", method: "GET", path: "/api/v1/admin/users?cursor=bm9wZQ", status: 422, bearer: specAdmin},
		{name: "lock user", method: "POST", status: 200, bearer: specAdmin, pathOf: userPath(victim, "lock")},
		{name: "lock user: oneself", method: "POST", status: 422, bearer: specAdmin, pathOf: userPath(self, "lock")},
		{name: "lock user: unknown", method: "POST", status: 404, bearer: specAdmin, pathOf: userPath(nobody, "lock")},
		{name: "lock user: customer", method: "POST", status: 403, bearer: specUser, pathOf: userPath(victim, "lock")},
		{name: "unlock user", method: "POST", status: 200, bearer: specAdmin, pathOf: userPath(victim, "unlock"),
			body: specJSON(map[string]any{})},
		{name: "unlock user: unknown field", method: "POST", status: 400, badRequest: true, bearer: specAdmin,
			pathOf: userPath(victim, "unlock"), body: specJSON(map[string]any{"reason": "x"})},
		{name: "sign out user", method: "POST", status: 200, bearer: specAdmin, pathOf: userPath(victim, "logout")},
		{name: "sign out user: customer", method: "POST", status: 403, bearer: specUser, pathOf: userPath(victim, "logout")},
		{name: "set roles", method: "PUT", status: 200, bearer: specAdmin, pathOf: userPath(victim, "roles"),
			body: specJSON(map[string]any{"roles": []string{"customer", "auditor"}})},
		{name: "set roles: demote oneself", method: "PUT", status: 422, bearer: specAdmin, pathOf: userPath(self, "roles"),
			body: specJSON(map[string]any{"roles": []string{"customer"}})},
		{name: "set roles: unknown role", method: "PUT", status: 422, badRequest: true, bearer: specAdmin, pathOf: userPath(victim, "roles"),
			body: specJSON(map[string]any{"roles": []string{"root"}})},
		{name: "set roles: customer", method: "PUT", status: 403, bearer: specUser, pathOf: userPath(victim, "roles"),
			body: specJSON(map[string]any{"roles": []string{"admin"}})},
	}
}

func TestSpecResponses(t *testing.T) {
	v := openapitest.Load(t)
	spec, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		servers := map[string]*specServer{}
		unlimited := testConfig(t)
		// The cases come from one client address; the limits have their
		// own server below.
		unlimited.AuthRatePerIP, unlimited.AuthRatePerEmail = 0, 0
		servers[""] = newSpecServer(t, db, unlimited)
		servers[""].admin = servers[""].signIn(t, "spec-admin@example.com", authz.Admin)
		servers[""].user = servers[""].signIn(t, "spec-customer@example.com", authz.Customer)
		withToken := testConfig(t)
		withToken.MetricsToken = specMetricsToken
		servers["metrics-token"] = newSpecServer(t, db, withToken)
		servers["unmigrated"] = newSpecServer(t, storetest.OpenEmpty(t, db.Dialect()), testConfig(t))
		limited := testConfig(t)
		limited.AuthRatePerIP = 1 // a burst of one: the second request within a minute is refused
		servers["rate-limited"] = newSpecServer(t, db, limited)
		servers[""].fx = newSpecFixture(t, servers[""])

		covered := map[string]bool{} // operations some case reached
		for _, c := range specCases() {
			t.Run(c.name, func(t *testing.T) {
				s := servers[c.server]
				newRequest := specRequest(t, s, spec, c)
				req := newRequest()
				if _, pattern := s.srv.mux.Handler(req); pattern != "" {
					covered[specOperation(pattern)] = true
				}
				if !c.badRequest {
					if err := v.ValidateRequest(newRequest()); err != nil {
						t.Errorf("the case's request is not valid; fix the case or mark it badRequest: %v", err)
					}
				}
				rec := httptest.NewRecorder()
				s.srv.Handler().ServeHTTP(rec, req)
				res := rec.Result()
				if res.StatusCode != c.status {
					t.Errorf("status %d, want %d: %s", res.StatusCode, c.status, rec.Body)
				}
				if err := v.ValidateResponse(req, res); err != nil {
					t.Error(err)
				}
				body, _ := io.ReadAll(res.Body)
				if c.check != nil {
					c.check(t, spec, res, body)
				}
			})
		}
		var missing []string
		for _, op := range v.Operations() {
			if !covered[op] {
				missing = append(missing, op)
			}
		}
		if len(missing) > 0 {
			t.Errorf("operations no case in specCases exercises (add at least one each):\n  %s", strings.Join(missing, "\n  "))
		}
	})
}

// specRequest returns a function that builds the case's request afresh (the
// validator and the server each read a body).
func specRequest(t *testing.T, s *specServer, spec *openapi.Spec, c specCase) func() *http.Request {
	t.Helper()
	path := c.path
	if c.pathOf != nil {
		path = c.pathOf(s)
	}
	var body []byte
	if c.body != nil {
		switch b := c.body(s).(type) {
		case string:
			body = []byte(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			body = raw
		}
	}
	header := http.Header{}
	if c.header != nil {
		header = c.header(s, spec)
	}
	return func() *http.Request {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req := httptest.NewRequest(c.method, path, r)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.bearer != nil {
			req.Header.Set("Authorization", "Bearer "+c.bearer(s))
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		if n := req.Header.Get("Content-Length"); n != "" {
			req.ContentLength, _ = strconv.ParseInt(n, 10, 64)
		}
		return req
	}
}

// specOperation turns a ServeMux pattern into the "METHOD /path/{param}" form
// of openapitest.Validator.Operations. A trailing {$} anchors the path and a
// {name...} wildcard is one path parameter to OpenAPI.
func specOperation(pattern string) string {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return "ANY " + pattern // a pattern without a method serves every method
	}
	path = strings.TrimSuffix(path, "{$}")
	path = strings.ReplaceAll(path, "...}", "}")
	return method + " " + path
}

func TestSpecMatchesRoutes(t *testing.T) {
	v := openapitest.Load(t)
	s := newSpecServer(t, storetest.Open(t, store.SQLite), testConfig(t))
	registered := map[string]bool{}
	for _, p := range s.srv.Patterns() {
		op := specOperation(p)
		if strings.HasPrefix(op, "ANY ") || !strings.HasPrefix(op[strings.IndexByte(op, ' ')+1:], "/") {
			t.Errorf("route %q has no method or has a host; every route must be METHOD /path", p)
		}
		registered[op] = true
	}
	documented := map[string]bool{}
	for _, op := range v.Operations() {
		documented[op] = true
	}
	var undocumented, unserved []string
	for op := range registered {
		if !documented[op] {
			undocumented = append(undocumented, op)
		}
	}
	for op := range documented {
		if !registered[op] {
			unserved = append(unserved, op)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unserved)
	if len(undocumented) > 0 {
		t.Errorf("routes the server registers but internal/openapi/openapi.yaml does not describe:\n  %s",
			strings.Join(undocumented, "\n  "))
	}
	if len(unserved) > 0 {
		t.Errorf("operations internal/openapi/openapi.yaml describes but the server does not register:\n  %s",
			strings.Join(unserved, "\n  "))
	}
}

func TestSpecDocument(t *testing.T) {
	v := openapitest.Load(t)
	if err := v.ValidateDocument(); err != nil {
		t.Fatal(err)
	}
	if err := v.ValidateExamples(); err != nil {
		t.Error(err)
	}
	model := v.Model()
	ids := map[string]string{}
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			if op.OperationId == "" {
				t.Errorf("%s has no operationId", where)
			} else if other, dup := ids[op.OperationId]; dup {
				t.Errorf("%s and %s share operationId %q", where, other, op.OperationId)
			}
			ids[op.OperationId] = where
			if op.Responses == nil || op.Responses.Codes == nil || op.Responses.Codes.Len() == 0 {
				t.Errorf("%s documents no responses", where)
				continue
			}
			if op.Responses.Default != nil {
				t.Errorf("%s has a default response; list each status it can answer", where)
			}
			for code, res := range op.Responses.Codes.FromOldest() {
				if res.Headers == nil || res.Headers.GetOrZero("X-Request-ID") == nil {
					t.Errorf("%s %s does not declare the X-Request-ID header every response carries", where, code)
				}
			}
		}
	}
	// The {asset} enum and the assets the server embeds are the same list.
	var enum []string
	for _, p := range model.Paths.PathItems.GetOrZero("/docs/{asset}").Get.Parameters {
		if p.Name == "asset" {
			for _, e := range p.Schema.Schema().Enum {
				enum = append(enum, e.Value)
			}
		}
	}
	slices.Sort(enum)
	if want := openapi.DocsAssetNames(); !slices.Equal(enum, want) {
		t.Errorf("/docs/{asset} enum %v, but the server serves %v", enum, want)
	}
}

// TestSpecComponents checks that the shared schemas later endpoints build on
// accept what the API conventions promise and refuse the rest.
func TestSpecComponents(t *testing.T) {
	v := openapitest.Load(t)
	for _, c := range []struct {
		schema, value string
		ok            bool
	}{
		{"Money", `{"amount": 1234, "currency": "USD"}`, true},
		{"Money", `{"amount": -5, "currency": "JPY"}`, true},
		{"Money", `{"amount": 12.34, "currency": "USD"}`, false},
		{"Money", `{"amount": "1234", "currency": "USD"}`, false},
		{"Money", `{"amount": 1234, "currency": "usd"}`, false},
		{"Money", `{"amount": 1234}`, false},
		{"Money", `{"amount": 1234, "currency": "USD", "extra": 1}`, false},
		{"Page", `{"data": [], "next_cursor": null}`, true},
		{"Page", `{"data": [{"id": "x"}], "next_cursor": "abc"}`, true},
		{"Page", `{"data": []}`, false},
		{"Page", `{"items": [], "next_cursor": null}`, false},
		{"ID", `"acct_01JD3V6X4T6ZQ2M8Y7H0K1C9RE"`, true},
		{"ID", `"acct_1"`, false},
		{"Problem", `{"type": "urn:fiscus:problem:x", "title": "T", "status": 422, "code": "x", "request_id": "r", "needed": 5}`, true},
		{"Problem", `{"type": "urn:fiscus:problem:x", "title": "T", "status": 200, "code": "x", "request_id": "r"}`, false},
		{"Problem", `{"title": "T", "status": 422, "code": "x", "request_id": "r"}`, false},
		{"Problem", `{"type": "t", "title": "T", "status": 422, "code": "x", "request_id": "r", "errors": [{"field": "a"}]}`, false},
	} {
		err := v.ValidateSchema(c.schema, []byte(c.value))
		if (err == nil) != c.ok {
			t.Errorf("%s %s: valid = %v, want %v (%v)", c.schema, c.value, err == nil, c.ok, err)
		}
	}
	for _, p := range []string{"Idempotency-Key", "Limit", "Cursor"} {
		if model := v.Model(); model.Components.Parameters.GetOrZero(p) == nil {
			t.Errorf("components/parameters/%s is missing", p)
		}
	}
	if model := v.Model(); model.Components.SecuritySchemes.Len() < 2 {
		t.Errorf("security schemes: %d, want bearerAuth and cookieSession", model.Components.SecuritySchemes.Len())
	}
}
