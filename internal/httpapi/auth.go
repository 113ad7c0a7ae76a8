package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/identity"
)

// Cookie names of web sessions.
const (
	sessionCookie = "fiscus_session" // HttpOnly: the session secret
	csrfCookie    = "fiscus_csrf"    // readable by the page, echoed in X-CSRF-Token
	csrfHeader    = "X-CSRF-Token"
)

// CodeCSRF refuses a cookie-authenticated unsafe request without a valid
// CSRF token.
const CodeCSRF fault.Code = "csrf_failed"

func init() {
	for code, status := range map[fault.Code]int{
		identity.CodeInvalidCredentials:  http.StatusUnauthorized,
		identity.CodeInvalidToken:        http.StatusUnauthorized,
		identity.CodeSessionRevoked:      http.StatusUnauthorized,
		identity.CodeInvalidRefreshToken: http.StatusUnauthorized,
		identity.CodeInvalidMFAToken:     http.StatusUnauthorized,
		identity.CodeInvalidMFACode:      http.StatusUnprocessableEntity,
		identity.CodeMFARequired:         http.StatusForbidden,
		identity.CodeEmailTaken:          http.StatusConflict,
		identity.CodeMFAAlreadyEnabled:   http.StatusConflict,
		identity.CodeMFANotEnabled:       http.StatusConflict,
		identity.CodeMFANotSetUp:         http.StatusConflict,
		identity.CodeSelfAction:          http.StatusUnprocessableEntity,
		CodeCSRF:                         http.StatusForbidden,
	} {
		statusByCode[code] = status
	}
}

// authenticate resolves the caller from a bearer token or a session cookie.
// Cookie-authenticated unsafe requests must carry the CSRF token.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (authz.Principal, error) {
	var (
		p   authz.Principal
		err error
	)
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus", error="invalid_request"`)
			return p, fault.New(fault.Unauthenticated, "Authorization must be \"Bearer <access token>\".")
		}
		if p, err = s.ids.Authenticate(r.Context(), strings.TrimSpace(tok)); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus", error="invalid_token"`)
			return p, err
		}
	} else if c, cerr := r.Cookie(sessionCookie); cerr == nil && c.Value != "" {
		if p, err = s.ids.AuthenticateCookie(r.Context(), c.Value); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus"`)
			return p, err
		}
		if !safeMethod(r.Method) && !s.ids.VerifyCSRF(p.SessionID, r.Header.Get(csrfHeader)) {
			return authz.Principal{}, fault.New(CodeCSRF, "A valid "+csrfHeader+" header is required with the session cookie.")
		}
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fiscus"`)
		return p, fault.New(fault.Unauthenticated, "Sign in first: send a bearer access token or the session cookie.")
	}
	stateOf(r).principal = &p
	return p, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// principalOf returns the caller authenticated by route.
func principalOf(r *http.Request) authz.Principal {
	if p := stateOf(r).principal; p != nil {
		return *p
	}
	return authz.Principal{}
}

func metaOf(r *http.Request) identity.Meta {
	return identity.Meta{IP: ClientIP(r), UserAgent: r.UserAgent(), RequestID: RequestID(r)}
}

// limit applies a rate limiter to key and answers 429 with Retry-After.
func (s *Server) limit(w http.ResponseWriter, l interface {
	Allow(string, time.Time) (bool, time.Duration)
}, key string) error {
	ok, wait := l.Allow(key, s.now())
	if ok {
		return nil
	}
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return fault.New(fault.RateLimited, "Too many attempts; retry in %d seconds.", secs).With("retry_after_seconds", secs)
}

func (s *Server) identityRoutes() {
	s.handle("POST /api/v1/auth/register", s.handleRegister)
	s.handle("POST /api/v1/auth/login", s.handleLogin)
	s.handle("POST /api/v1/auth/mfa", s.handleMFA)
	s.handle("POST /api/v1/auth/refresh", s.handleRefresh)
	s.route("POST /api/v1/auth/logout", authz.Authenticated, s.handleLogout)
	s.route("POST /api/v1/auth/step-up", authz.Authenticated, s.handleStepUp)
	s.route("GET /api/v1/me", authz.Authenticated, s.handleMe)
	s.route("POST /api/v1/me/password", authz.Authenticated, s.handleChangePassword)

	s.route("POST /api/v1/2fa/setup", authz.Authenticated, s.handleTOTPSetup)
	s.route("POST /api/v1/2fa/enable", authz.Authenticated, s.handleTOTPEnable)
	s.route("POST /api/v1/2fa/disable", authz.Authenticated, s.handleTOTPDisable)
	s.route("POST /api/v1/2fa/recovery-codes", authz.Authenticated, s.handleRecoveryCodes)

	s.route("GET /api/v1/sessions", authz.Authenticated, s.handleSessions)
	s.route("DELETE /api/v1/sessions/{id}", authz.Authenticated, s.handleRevokeSession)
	s.route("POST /api/v1/sessions/revoke-all", authz.Authenticated, s.handleRevokeAll)

	s.route("GET /api/v1/admin/users", authz.UsersRead, s.handleListUsers)
	s.route("POST /api/v1/admin/users/{id}/lock", authz.UsersLock, s.handleLockUser)
	s.route("POST /api/v1/admin/users/{id}/unlock", authz.UsersLock, s.handleUnlockUser)
	s.route("POST /api/v1/admin/users/{id}/logout", authz.UsersLock, s.handleForceLogout)
	s.route("PUT /api/v1/admin/users/{id}/roles", authz.UsersRoles, s.handleSetRoles)
	s.route("PUT /api/v1/admin/users/{id}/tier", authz.UsersRoles, s.handleSetTier)
}

// userView is a user as the API shows it.
type userView struct {
	ID          string       `json:"id"`
	Email       string       `json:"email"`
	Name        string       `json:"name"`
	Roles       []authz.Role `json:"roles"`
	Tier        string       `json:"tier"`
	MFAEnabled  bool         `json:"mfa_enabled"`
	Locked      bool         `json:"locked"`
	LockedUntil *time.Time   `json:"locked_until"`
	CreatedAt   time.Time    `json:"created_at"`
	LastLoginAt *time.Time   `json:"last_login_at"`
}

func viewUser(u identity.User, now time.Time) userView {
	v := userView{ID: u.ID, Email: u.Email, Name: u.Name, Roles: u.Roles, Tier: u.Tier, MFAEnabled: u.MFAEnabled,
		Locked: u.Locked, CreatedAt: u.CreatedAt}
	if v.Roles == nil {
		v.Roles = []authz.Role{}
	}
	if u.LockedUntil.After(now) {
		t := u.LockedUntil
		v.LockedUntil = &t
	}
	if !u.LastLoginAt.IsZero() {
		t := u.LastLoginAt
		v.LastLoginAt = &t
	}
	return v
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(w, s.ipLimit, "ip:"+ClientIP(r)); err != nil {
		return err
	}
	var req registerRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.ids.Register(r.Context(), metaOf(r), identity.RegisterInput{Email: req.Email, Password: req.Password, Name: req.Name})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/me")
	return writeJSON(w, http.StatusCreated, viewUser(u, s.now()))
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	// Cookie asks for a web session (HttpOnly cookie + CSRF token) instead
	// of bearer tokens.
	Cookie bool `json:"cookie"`
}

type tokenResponse struct {
	AccessToken  string   `json:"access_token"`
	RefreshToken string   `json:"refresh_token"`
	TokenType    string   `json:"token_type"`
	ExpiresIn    int64    `json:"expires_in"`
	SessionID    string   `json:"session_id"`
	User         userView `json:"user"`
}

type cookieLoginResponse struct {
	TokenType string   `json:"token_type"` // "cookie"
	CSRFToken string   `json:"csrf_token"`
	ExpiresIn int64    `json:"expires_in"` // idle timeout
	SessionID string   `json:"session_id"`
	User      userView `json:"user"`
}

type mfaRequiredResponse struct {
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(w, s.ipLimit, "ip:"+ClientIP(r)); err != nil {
		return err
	}
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		e := &fault.Error{Code: fault.Invalid, Message: "The request is not valid."}
		for _, f := range []struct{ name, value string }{{"email", req.Email}, {"password", req.Password}} {
			if f.value == "" {
				e.Fields = append(e.Fields, fault.FieldError{Field: f.name, Code: "required", Message: "is required"})
			}
		}
		return e
	}
	if err := s.limit(w, s.accountLimit, "email:"+strings.ToLower(strings.TrimSpace(req.Email))); err != nil {
		return err
	}
	res, err := s.ids.Login(r.Context(), metaOf(r), identity.LoginInput{Email: req.Email, Password: req.Password, Cookie: req.Cookie})
	if err != nil {
		return err
	}
	return s.writeLogin(w, r, res)
}

func (s *Server) writeLogin(w http.ResponseWriter, r *http.Request, res identity.LoginResult) error {
	w.Header().Set("Cache-Control", "no-store")
	if res.MFARequired {
		return writeJSON(w, http.StatusAccepted, mfaRequiredResponse{MFARequired: true, MFAToken: res.MFAToken})
	}
	t := res.Tokens
	if t.Kind == identity.KindCookie {
		s.setSessionCookies(w, r, t)
		return writeJSON(w, http.StatusOK, cookieLoginResponse{TokenType: "cookie", CSRFToken: t.CSRFToken,
			ExpiresIn: int64(t.ExpiresIn / time.Second), SessionID: t.SessionID, User: viewUser(res.User, s.now())})
	}
	return writeJSON(w, http.StatusOK, tokenResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer",
		ExpiresIn: int64(t.ExpiresIn / time.Second), SessionID: t.SessionID, User: viewUser(res.User, s.now())})
}

func (s *Server) setSessionCookies(w http.ResponseWriter, r *http.Request, t identity.Tokens) {
	secure := s.cfg.CookieSecure || r.TLS != nil
	maxAge := int(t.CookieTTL / time.Second)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: t.Cookie, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t.CSRFToken, Path: "/", MaxAge: maxAge,
		HttpOnly: false, Secure: secure, SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearSessionCookies(w http.ResponseWriter, r *http.Request) {
	secure := s.cfg.CookieSecure || r.TLS != nil
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == sessionCookie,
			Secure: secure, SameSite: http.SameSiteStrictMode})
	}
}

type mfaRequest struct {
	MFAToken     string `json:"mfa_token"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (s *Server) handleMFA(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(w, s.ipLimit, "ip:"+ClientIP(r)); err != nil {
		return err
	}
	var req mfaRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	res, err := s.ids.CompleteMFA(r.Context(), metaOf(r), identity.MFAInput{Token: req.MFAToken, Code: req.Code, RecoveryCode: req.RecoveryCode})
	if err != nil {
		return err
	}
	return s.writeLogin(w, r, res)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type refreshResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	SessionID    string `json:"session_id"`
}

func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request) error {
	if err := s.limit(w, s.ipLimit, "ip:"+ClientIP(r)); err != nil {
		return err
	}
	var req refreshRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	t, err := s.ids.Refresh(r.Context(), metaOf(r), req.RefreshToken)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, refreshResponse{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken,
		TokenType: "Bearer", ExpiresIn: int64(t.ExpiresIn / time.Second), SessionID: t.SessionID})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.ids.Logout(r.Context(), metaOf(r), principalOf(r)); err != nil {
		return err
	}
	s.clearSessionCookies(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type codeRequest struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (s *Server) handleStepUp(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.ids.StepUp(r.Context(), metaOf(r), principalOf(r), req.Code, req.RecoveryCode); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.ids.Me(r.Context(), principalOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewUser(u, s.now()))
}

type passwordChangeRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) error {
	// A stolen session must not become a password-guessing oracle.
	if err := s.limit(w, s.accountLimit, "pwchange:"+principalOf(r).UserID); err != nil {
		return err
	}
	var req passwordChangeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.ids.ChangePassword(r.Context(), metaOf(r), principalOf(r), req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type totpSetupResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauth_url"`
	QRPNG      string `json:"qr_png"` // base64 PNG
}

func (s *Server) handleTOTPSetup(w http.ResponseWriter, r *http.Request) error {
	if err := requireEmptyBody(r); err != nil {
		return err
	}
	k, err := s.ids.SetupTOTP(r.Context(), metaOf(r), principalOf(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, totpSetupResponse{Secret: k.Secret, OTPAuthURL: k.URL, QRPNG: base64.StdEncoding.EncodeToString(k.QRPNG)})
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type enableRequest struct {
	Code string `json:"code"`
}

func (s *Server) handleTOTPEnable(w http.ResponseWriter, r *http.Request) error {
	var req enableRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	codes, err := s.ids.EnableTOTP(r.Context(), metaOf(r), principalOf(r), req.Code)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}

func (s *Server) handleTOTPDisable(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.ids.DisableTOTP(r.Context(), metaOf(r), principalOf(r), req.Code, req.RecoveryCode); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	var req enableRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	codes, err := s.ids.RegenerateRecoveryCodes(r.Context(), metaOf(r), principalOf(r), req.Code)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}

// requireEmptyBody refuses a body on endpoints that take none (a body there
// is a client bug worth reporting, not ignoring).
func requireEmptyBody(r *http.Request) error {
	var v struct{}
	return decodeOptionalJSON(r, &v)
}

type sessionView struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Current    bool      `json:"current"`
}

// listResponse is the envelope of every list. NextCursor is null on the
// last page, never "".
type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// nextCursor is the next_cursor of a page: null when cursor is "" (the last page).
func nextCursor(cursor string) *string {
	if cursor == "" {
		return nil
	}
	return &cursor
}

func (s *Server) handleSessions(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.ids.ListSessions(r.Context(), principalOf(r))
	if err != nil {
		return err
	}
	out := listResponse[sessionView]{Data: make([]sessionView, 0, len(ss))}
	for _, x := range ss {
		out.Data = append(out.Data, sessionView{ID: x.ID, Kind: x.Kind, CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt,
			ExpiresAt: x.ExpiresAt, IP: x.IP, UserAgent: x.UserAgent, Current: x.Current})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleRevokeSession(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	if err := s.ids.RevokeSession(r.Context(), metaOf(r), p, r.PathValue("id")); err != nil {
		return err
	}
	if r.PathValue("id") == p.SessionID {
		s.clearSessionCookies(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type revokeAllRequest struct {
	KeepCurrent bool `json:"keep_current"`
}

type revokedResponse struct {
	Revoked int `json:"revoked"`
}

func (s *Server) handleRevokeAll(w http.ResponseWriter, r *http.Request) error {
	var req revokeAllRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	n, err := s.ids.RevokeAll(r.Context(), metaOf(r), principalOf(r), req.KeepCurrent)
	if err != nil {
		return err
	}
	if !req.KeepCurrent {
		s.clearSessionCookies(w, r)
	}
	return writeJSON(w, http.StatusOK, revokedResponse{Revoked: n})
}

// pageParams reads limit and cursor.
func pageParams(r *http.Request) (int, string, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, "", fault.Invalidf("query", "malformed", "the query string is not valid URL encoding")
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return 0, "", fault.Invalidf("limit", "out_of_range", "must be an integer from 1 to 200")
		}
		limit = n
	}
	return limit, q.Get("cursor"), nil
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return err
	}
	users, next, err := s.ids.ListUsers(r.Context(), cursor, limit)
	if err != nil {
		return err
	}
	now := s.now()
	out := listResponse[userView]{Data: make([]userView, 0, len(users)), NextCursor: nextCursor(next)}
	for _, u := range users {
		out.Data = append(out.Data, viewUser(u, now))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleLockUser(w http.ResponseWriter, r *http.Request) error {
	if err := requireEmptyBody(r); err != nil {
		return err
	}
	u, err := s.ids.LockUser(r.Context(), metaOf(r), principalOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewUser(u, s.now()))
}

func (s *Server) handleUnlockUser(w http.ResponseWriter, r *http.Request) error {
	if err := requireEmptyBody(r); err != nil {
		return err
	}
	u, err := s.ids.UnlockUser(r.Context(), metaOf(r), principalOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewUser(u, s.now()))
}

func (s *Server) handleForceLogout(w http.ResponseWriter, r *http.Request) error {
	if err := requireEmptyBody(r); err != nil {
		return err
	}
	n, err := s.ids.ForceLogout(r.Context(), metaOf(r), principalOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, revokedResponse{Revoked: n})
}

type rolesRequest struct {
	Roles []string `json:"roles"`
}

func (s *Server) handleSetRoles(w http.ResponseWriter, r *http.Request) error {
	var req rolesRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.ids.SetRoles(r.Context(), metaOf(r), principalOf(r), r.PathValue("id"), req.Roles)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewUser(u, s.now()))
}

type tierRequest struct {
	Tier string `json:"tier"`
}

// handleSetTier sets a customer's tier: "standard" or a tier that
// TRANSFER_LIMITS names.
func (s *Server) handleSetTier(w http.ResponseWriter, r *http.Request) error {
	var req tierRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	known := []string{"standard"}
	for t := range s.cfg.Policy.Limits {
		if t != "standard" {
			known = append(known, t)
		}
	}
	if !slices.Contains(known, req.Tier) {
		slices.Sort(known[1:])
		return fault.Invalidf("tier", "unknown_tier", "must be one of %s", strings.Join(known, ", "))
	}
	u, err := s.ids.SetTier(r.Context(), metaOf(r), principalOf(r), r.PathValue("id"), req.Tier)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewUser(u, s.now()))
}
