package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// SessionIDPrefix prefixes session IDs.
const SessionIDPrefix = "ses"

// Session kinds.
const (
	KindBearer = "bearer" // access + refresh tokens (API clients)
	KindCookie = "cookie" // HttpOnly cookie + CSRF token (the web app)
)

// Access token claims: who, which session, for whom, until when.
const (
	tokenIssuer   = "fiscus"
	tokenAudience = "fiscus-api"
	tokenKeyID    = "v1"
	tokenLeeway   = 5 * time.Second
)

// Session is a signed-in device or client.
type Session struct {
	ID         string
	Kind       string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	Current    bool
}

// Tokens are what a successful sign-in hands out. A bearer session gets an
// access and a refresh token; a cookie session gets a cookie value and the
// CSRF token that must accompany unsafe requests.
type Tokens struct {
	SessionID    string
	Kind         string
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration // access token life (bearer) or idle timeout (cookie)
	Cookie       string
	CSRFToken    string
	CookieTTL    time.Duration
}

type accessClaims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

func (s *Service) issueAccessToken(userID, sessionID string, now time.Time) (string, error) {
	c := accessClaims{
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{tokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AccessTokenTTL)),
			ID:        newToken("")[:22],
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = tokenKeyID
	return t.SignedString(s.signKey)
}

// parseAccessToken verifies signature (HS256 only: "none" and every other
// algorithm are refused), issuer, audience, expiry and not-before.
func (s *Service) parseAccessToken(tok string) (accessClaims, error) {
	now := s.now()
	if c, ok := s.tokens.get(tok, now); ok {
		return c, nil
	}
	c, err := s.verifyAccessToken(tok)
	if err == nil {
		s.tokens.put(tok, c)
	}
	return c, err
}

// verifyAccessToken checks a token's signature and claims.
func (s *Service) verifyAccessToken(tok string) (accessClaims, error) {
	var c accessClaims
	_, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != tokenKeyID {
			return nil, errors.New("unknown key id")
		}
		return s.signKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		return c, fault.Wrap(err, CodeInvalidToken, "The access token is invalid or expired.")
	}
	if !id.Valid(SessionIDPrefix, c.SessionID) || !id.Valid(UserIDPrefix, c.Subject) {
		return c, fault.New(CodeInvalidToken, "The access token is invalid or expired.")
	}
	return c, nil
}

// csrfToken is derived from the session ID, so it needs no storage.
func (s *Service) csrfToken(sessionID string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// VerifyCSRF reports whether token is the CSRF token of the session.
func (s *Service) VerifyCSRF(sessionID, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.csrfToken(sessionID)))
}

// createSession opens a session for u in tx and returns its credentials.
func (s *Service) createSession(ctx context.Context, tx *store.Tx, u User, m Meta, kind string, mfaAt time.Time, now time.Time) (Tokens, error) {
	sid := id.New(SessionIDPrefix, now)
	t := Tokens{SessionID: sid, Kind: kind}
	var cookieHash any // NULL for bearer sessions
	if kind == KindCookie {
		t.Cookie = newToken("cs_")
		t.CSRFToken = s.csrfToken(sid)
		t.ExpiresIn = s.cfg.CookieIdleTTL
		t.CookieTTL = s.cfg.SessionTTL
		cookieHash = hashToken(t.Cookie)
	}
	expires := now.Add(s.cfg.SessionTTL)
	_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, kind, cookie_hash, ip, user_agent, created_at, last_seen_at, expires_at, mfa_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sid, u.ID, kind, cookieHash, clip(m.IP, 64), clip(m.UserAgent, maxUserAgentLen),
		store.Micros(now), store.Micros(now), store.Micros(expires), storedMicros(mfaAt))
	if err != nil {
		return Tokens{}, fmt.Errorf("insert session: %w", err)
	}
	if kind == KindBearer {
		t.RefreshToken = newToken("rt_")
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashToken(t.RefreshToken), sid, store.Micros(now), store.Micros(expires)); err != nil {
			return Tokens{}, fmt.Errorf("insert refresh token: %w", err)
		}
		if t.AccessToken, err = s.issueAccessToken(u.ID, sid, now); err != nil {
			return Tokens{}, err
		}
		t.ExpiresIn = s.cfg.AccessTokenTTL
	}
	return t, nil
}

// Refresh exchanges a refresh token for new tokens. The presented token is
// spent; presenting it again revokes the whole session.
func (s *Service) Refresh(ctx context.Context, m Meta, refreshToken string) (Tokens, error) {
	invalid := fault.New(CodeInvalidRefreshToken, "The refresh token is invalid, expired or revoked.")
	if len(refreshToken) != len("rt_")+43 {
		return Tokens{}, invalid
	}
	now := s.clock()
	var (
		out     Tokens
		outcome error
		revoked string
		owner   string // the revoked session's user
	)
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		out, outcome, revoked = Tokens{}, nil, ""
		var (
			sid, userID                                  string
			usedAt, expiresAt, sRevoked, sExpires, mfaAt int64
		)
		err := tx.QueryRow(ctx, `SELECT r.session_id, r.used_at, r.expires_at, s.user_id, s.revoked_at, s.expires_at, s.mfa_at
			FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ?`, hashToken(refreshToken)).
			Scan(&sid, &usedAt, &expiresAt, &userID, &sRevoked, &sExpires, &mfaAt)
		if store.IsNotFound(err) {
			outcome = invalid
			return nil
		}
		if err != nil {
			return err
		}
		if sRevoked != 0 || sExpires <= store.Micros(now) || expiresAt <= store.Micros(now) {
			outcome = invalid
			return nil
		}
		res, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at = 0`, store.Micros(now), hashToken(refreshToken))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 || usedAt != 0 {
			// Reuse: someone holds a copy of a spent token. Kill the session.
			if _, err := revokeSession(ctx, tx, sid, now, "refresh_token_reuse"); err != nil {
				return err
			}
			revoked, owner, outcome = sid, userID, invalid
			return record(ctx, tx, now, m, userID, "session.refresh_token_reused", "session", sid, map[string]any{"revoked": true})
		}
		u, err := getUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.Locked {
			outcome = invalid
			return nil
		}
		out = Tokens{SessionID: sid, Kind: KindBearer, RefreshToken: newToken("rt_"), ExpiresIn: s.cfg.AccessTokenTTL}
		if _, err := tx.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			hashToken(out.RefreshToken), sid, store.Micros(now), sExpires); err != nil {
			return err
		}
		out.AccessToken, err = s.issueAccessToken(userID, sid, now)
		return err
	})
	if revoked != "" {
		// Also after an error: the revocation may have committed (a
		// failed fsync), and forgetting cached state is always safe.
		s.cache.dropSession(revoked)
		s.notifyUserChanged(owner)
	}
	if err != nil {
		return Tokens{}, err
	}
	return out, outcome
}

// Authenticate resolves a bearer access token to its principal. The session
// must still be live: revocation takes effect on the next request.
func (s *Service) Authenticate(ctx context.Context, token string) (authz.Principal, error) {
	c, err := s.parseAccessToken(token)
	if err != nil {
		return authz.Principal{}, err
	}
	p, err := s.liveSession(ctx, "s:"+c.SessionID, `s.id = ?`, c.SessionID)
	if err != nil {
		return authz.Principal{}, err
	}
	if p.UserID != c.Subject {
		return authz.Principal{}, fault.New(CodeInvalidToken, "The access token is invalid or expired.")
	}
	return p, nil
}

// AuthenticateCookie resolves a web session cookie to its principal.
func (s *Service) AuthenticateCookie(ctx context.Context, cookie string) (authz.Principal, error) {
	if len(cookie) != len("cs_")+43 {
		return authz.Principal{}, fault.New(CodeInvalidToken, "The session cookie is invalid or expired.")
	}
	h := hashToken(cookie)
	return s.liveSession(ctx, "c:"+h, `s.cookie_hash = ?`, h)
}

// liveSession loads (or takes from the cache) the principal of a session that
// is neither revoked nor expired and whose user is not locked.
func (s *Service) liveSession(ctx context.Context, cacheKey, where string, arg string) (authz.Principal, error) {
	now := s.clock()
	if e, ok := s.cache.get(cacheKey, now); ok {
		if err := s.checkLive(e, now); err != nil {
			return authz.Principal{}, err
		}
		return e.p, nil
	}
	var (
		e                        cacheEntry
		kind, roles              string
		lastSeen, expires, mfaAt int64
		revokedAt                int64
		locked                   bool
	)
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		return tx.QueryRow(ctx, `SELECT s.id, s.user_id, s.kind, s.last_seen_at, s.expires_at, s.mfa_at, s.revoked_at,
				u.email, u.roles, u.totp_enabled, u.locked, u.tier
			FROM sessions s JOIN users u ON u.id = s.user_id WHERE `+where, arg).
			Scan(&e.p.SessionID, &e.p.UserID, &kind, &lastSeen, &expires, &mfaAt, &revokedAt,
				&e.p.Email, &roles, &e.p.MFAEnabled, &locked, &e.p.Tier)
	})
	if store.IsNotFound(err) {
		return authz.Principal{}, fault.New(CodeInvalidToken, "The session is invalid or expired.")
	}
	if err != nil {
		return authz.Principal{}, err
	}
	if revokedAt != 0 || locked {
		return authz.Principal{}, fault.New(CodeSessionRevoked, "The session has been revoked.")
	}
	e.p.Roles = parseRoles(roles)
	e.p.MFAAt = micros(mfaAt)
	e.kind, e.lastSeen, e.expires = kind, store.FromMicros(lastSeen), store.FromMicros(expires)
	if err := s.checkLive(e, now); err != nil {
		return authz.Principal{}, err
	}
	if now.Sub(e.lastSeen) >= lastSeenInterval {
		// Best effort and throttled: a failure here must not fail the request.
		werr := s.db.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`,
				store.Micros(now), e.p.SessionID, store.Micros(now))
			return err
		})
		if werr != nil {
			s.log.WarnContext(ctx, "update session last_seen_at", "err", werr)
		} else {
			e.lastSeen = now
		}
	}
	s.cache.put(cacheKey, e, now)
	return e.p, nil
}

func (s *Service) checkLive(e cacheEntry, now time.Time) error {
	if !now.Before(e.expires) || (e.kind == KindCookie && now.Sub(e.lastSeen) > s.cfg.CookieIdleTTL) {
		return fault.New(CodeInvalidToken, "The session has expired.")
	}
	return nil
}

func revokeSession(ctx context.Context, tx *store.Tx, sessionID string, now time.Time, reason string) (bool, error) {
	res, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at = 0`,
		store.Micros(now), reason, sessionID)
	if err != nil {
		return false, fmt.Errorf("revoke session: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// revokeUserSessions revokes every live session of a user except one.
func revokeUserSessions(ctx context.Context, tx *store.Tx, userID, except string, now time.Time, reason string) (int, error) {
	res, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at = 0 AND id <> ?`,
		store.Micros(now), reason, userID, except)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Logout revokes the caller's current session.
func (s *Service) Logout(ctx context.Context, m Meta, p authz.Principal) error {
	now := s.clock()
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := revokeSession(ctx, tx, p.SessionID, now, "logout"); err != nil {
			return err
		}
		return record(ctx, tx, now, m, p.UserID, "session.logout", "session", p.SessionID, nil)
	})
	s.cache.dropSession(p.SessionID)
	return err
}

// ListSessions returns the caller's live sessions, newest first.
func (s *Service) ListSessions(ctx context.Context, p authz.Principal) ([]Session, error) {
	now := s.clock()
	var out []Session
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, kind, ip, user_agent, created_at, last_seen_at, expires_at FROM sessions
			WHERE user_id = ? AND revoked_at = 0 AND expires_at > ? ORDER BY created_at DESC, id DESC LIMIT ?`,
			p.UserID, store.Micros(now), maxPageSize)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				x                      Session
				created, seen, expires int64
			)
			if err := rows.Scan(&x.ID, &x.Kind, &x.IP, &x.UserAgent, &created, &seen, &expires); err != nil {
				return err
			}
			x.CreatedAt, x.LastSeenAt, x.ExpiresAt = store.FromMicros(created), store.FromMicros(seen), store.FromMicros(expires)
			if x.Kind == KindCookie && now.Sub(x.LastSeenAt) > s.cfg.CookieIdleTTL {
				continue
			}
			x.Current = x.ID == p.SessionID
			out = append(out, x)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeSession revokes one of the caller's sessions. Someone else's session
// is not found.
func (s *Service) RevokeSession(ctx context.Context, m Meta, p authz.Principal, sessionID string) error {
	if !id.Valid(SessionIDPrefix, sessionID) {
		return fault.New(fault.NotFound, "No such session.")
	}
	now := s.clock()
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var owner string
		var revokedAt int64
		err := tx.QueryRow(ctx, `SELECT user_id, revoked_at FROM sessions WHERE id = ?`, sessionID).Scan(&owner, &revokedAt)
		if store.IsNotFound(err) || (err == nil && owner != p.UserID) {
			return fault.New(fault.NotFound, "No such session.")
		}
		if err != nil {
			return err
		}
		if revokedAt != 0 {
			return nil // already revoked: idempotent
		}
		if _, err := revokeSession(ctx, tx, sessionID, now, "revoked_by_user"); err != nil {
			return err
		}
		return record(ctx, tx, now, m, p.UserID, "session.revoked", "session", sessionID, nil)
	})
	if err == nil {
		s.cache.dropSession(sessionID)
	}
	return err
}

// RevokeAll revokes every session of the caller, optionally keeping the
// current one, and returns how many were revoked.
func (s *Service) RevokeAll(ctx context.Context, m Meta, p authz.Principal, keepCurrent bool) (int, error) {
	now := s.clock()
	except := ""
	if keepCurrent {
		except = p.SessionID
	}
	var n int
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if n, err = revokeUserSessions(ctx, tx, p.UserID, except, now, "revoked_by_user"); err != nil {
			return err
		}
		return record(ctx, tx, now, m, p.UserID, "session.revoked_all", "user", p.UserID,
			map[string]any{"sessions_revoked": n, "kept_current": keepCurrent})
	})
	if err == nil {
		s.userChanged(p.UserID)
	}
	return n, err
}

// sessionCache remembers recently validated sessions for a short time so
// that not every request queries the database. Local revocations drop
// entries at once; other instances see them within the TTL.
type sessionCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	p        authz.Principal
	kind     string
	lastSeen time.Time
	expires  time.Time
	fetched  time.Time
}

// maxCachedSessions bounds the cache; when full it is emptied (cheap and
// safe: entries are only an optimisation).
const maxCachedSessions = 50_000

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, m: make(map[string]cacheEntry)}
}

func (c *sessionCache) get(key string, now time.Time) (cacheEntry, bool) {
	if c.ttl <= 0 {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.fetched) >= c.ttl || now.Before(e.fetched) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *sessionCache) put(key string, e cacheEntry, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	e.fetched = now
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedSessions {
		clear(c.m)
	}
	c.m[key] = e
}

func (c *sessionCache) dropSession(sessionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.p.SessionID == sessionID {
			delete(c.m, k)
		}
	}
}

func (c *sessionCache) dropUser(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.p.UserID == userID {
			delete(c.m, k)
		}
	}
}

// maxVerifiedTokens bounds the verified-token cache; it is emptied when full.
const maxVerifiedTokens = 100_000

// tokenCache remembers access tokens whose signature and claims were
// verified, keyed by the token's SHA-256, so that a client's every request
// does not pay for HMAC verification and JSON decoding again. A hit is
// honoured only while the token is still within its lifetime (the same
// expiry check as verification, leeway included) and only for the exact
// token bytes; revocation is not the cache's business (every request still
// checks its session).
type tokenCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]accessClaims
}

func (c *tokenCache) get(tok string, now time.Time) (accessClaims, bool) {
	k := sha256.Sum256([]byte(tok))
	c.mu.RLock()
	claims, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Add(tokenLeeway)) ||
		(claims.IssuedAt != nil && now.Add(tokenLeeway).Before(claims.IssuedAt.Time)) {
		return accessClaims{}, false
	}
	return claims, true
}

func (c *tokenCache) put(tok string, claims accessClaims) {
	k := sha256.Sum256([]byte(tok))
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxVerifiedTokens {
		c.m = make(map[[sha256.Size]byte]accessClaims, 1024)
	}
	c.m[k] = claims
	c.mu.Unlock()
}
