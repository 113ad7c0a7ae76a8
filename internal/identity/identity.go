// Package identity is who may sign in to Fiscus and how: registration,
// password login with lockout, TOTP second factor and recovery codes,
// server-side sessions with short-lived access tokens and rotating refresh
// tokens, cookie sessions for the web app, and user administration.
//
// Guarantees:
//   - Unknown email, wrong password and locked account answer identically
//     (invalid_credentials) after the same amount of password hashing.
//   - Passwords are hashed outside database transactions, with bounded
//     concurrency, so a login flood cannot hold the database or starve
//     other requests of CPU beyond that bound.
//   - A refresh token works once; presenting a used one revokes its session.
//   - A revoked session is refused on its next request on this instance and
//     within SessionCacheTTL on every other instance.
//   - A TOTP time step, once accepted, is never accepted again for the user;
//     a recovery code works once.
//   - Every security-relevant change is written to the audit chain in the
//     same transaction as the change.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/fiscus/fiscus/internal/audit"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/keyring"
	"github.com/fiscus/fiscus/internal/password"
	"github.com/fiscus/fiscus/internal/store"
)

// Error codes of this package.
const (
	CodeInvalidCredentials  fault.Code = "invalid_credentials"
	CodeInvalidToken        fault.Code = "invalid_token"
	CodeSessionRevoked      fault.Code = "session_revoked"
	CodeEmailTaken          fault.Code = "email_taken"
	CodeInvalidMFAToken     fault.Code = "invalid_mfa_token"
	CodeInvalidMFACode      fault.Code = "invalid_mfa_code"
	CodeMFARequired         fault.Code = "mfa_step_up_required"
	CodeMFAAlreadyEnabled   fault.Code = "mfa_already_enabled"
	CodeMFANotEnabled       fault.Code = "mfa_not_enabled"
	CodeMFANotSetUp         fault.Code = "mfa_not_set_up"
	CodeInvalidRefreshToken fault.Code = "invalid_refresh_token"
	CodeSelfAction          fault.Code = "self_action_refused"
)

// Config tunes the service. Durations are wall-clock.
type Config struct {
	AccessTokenTTL   time.Duration // life of an access token (JWT)
	SessionTTL       time.Duration // absolute life of a session and its refresh tokens
	CookieIdleTTL    time.Duration // a cookie session unused this long expires
	MFAChallengeTTL  time.Duration // time to complete a 2FA login
	StepUpWindow     time.Duration // how recent an MFA check must be for sensitive actions
	LockoutThreshold int           // consecutive failures that lock an account
	LockoutBase      time.Duration // first lockout; each further one doubles
	LockoutMax       time.Duration // longest lockout
	SessionCacheTTL  time.Duration // how long a validated session is trusted without a query
	TOTPIssuer       string        // shown in authenticator apps
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{
		AccessTokenTTL:   15 * time.Minute,
		SessionTTL:       30 * 24 * time.Hour,
		CookieIdleTTL:    12 * time.Hour,
		MFAChallengeTTL:  5 * time.Minute,
		StepUpWindow:     5 * time.Minute,
		LockoutThreshold: 5,
		LockoutBase:      time.Minute,
		LockoutMax:       time.Hour,
		SessionCacheTTL:  2 * time.Second,
		TOTPIssuer:       "Fiscus",
	}
}

// Bounds on stored and accepted values.
const (
	maxEmailLen      = 254
	maxNameRunes     = 100
	maxUserAgentLen  = 256
	maxMFAAttempts   = 5   // wrong codes before an MFA challenge is burnt
	recoveryCodeN    = 10  // recovery codes issued at a time
	maxPageSize      = 200 // largest page of users
	defaultPageSize  = 50
	lastSeenInterval = time.Minute // last_seen_at is refreshed at most this often
)

// Meta describes the request behind a call, for sessions and the audit trail.
type Meta struct {
	IP        string
	UserAgent string
	RequestID string
}

// Service implements identity use cases.
type Service struct {
	db      *store.DB
	hasher  *password.Hasher
	policy  password.Policy
	keys    *keyring.Keyring
	signKey []byte // HMAC key for access tokens
	csrfKey []byte // HMAC key for CSRF tokens
	cfg     Config
	now     func() time.Time
	log     *slog.Logger
	cache   *sessionCache
	tokens  tokenCache // verified access tokens
	// watchers hear of users whose sign-in, credentials, sessions or
	// account changed (see OnUserChange).
	watchers []func(userID string)
}

// OnUserChange registers fn to be called, after the commit, whenever this
// service signs a user in or changes their credentials, sessions, roles,
// tier or lock: for caches elsewhere that must forget the user. Register
// before the service is used; fn must be quick.
func (s *Service) OnUserChange(fn func(userID string)) { s.watchers = append(s.watchers, fn) }

// userChanged drops the user's cached sessions and tells the watchers.
func (s *Service) userChanged(userID string) {
	s.cache.dropUser(userID)
	s.notifyUserChanged(userID)
}

// notifyUserChanged tells the watchers.
func (s *Service) notifyUserChanged(userID string) {
	for _, fn := range s.watchers {
		fn(userID)
	}
}

// Deps are the service's collaborators.
type Deps struct {
	DB        *store.DB
	Hasher    *password.Hasher
	Policy    password.Policy
	Keyring   *keyring.Keyring
	AppSecret string
	Now       func() time.Time
	Logger    *slog.Logger
}

// New returns a service.
func New(d Deps, cfg Config) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{
		db:      d.DB,
		hasher:  d.Hasher,
		policy:  d.Policy,
		keys:    d.Keyring,
		signKey: keyring.Subkey(d.AppSecret, "jwt-signing"),
		csrfKey: keyring.Subkey(d.AppSecret, "csrf"),
		cfg:     cfg,
		now:     d.Now,
		log:     d.Logger,
		cache:   newSessionCache(cfg.SessionCacheTTL),
	}
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// clock returns now in UTC at microsecond precision, the stored precision.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// newToken returns a prefixed random token with 256 bits of entropy.
func newToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform cannot run without randomness
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is how opaque tokens are stored: they carry 256 bits of entropy,
// so a fast hash suffices.
func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// record writes an audit event in tx.
func record(ctx context.Context, tx *store.Tx, at time.Time, m Meta, actorID, action, targetType, targetID string, details any) error {
	kind := audit.ActorUser
	if actorID == "" {
		kind = audit.ActorAnonymous
	}
	_, err := audit.Record(ctx, tx, audit.Event{
		At: at, ActorKind: kind, ActorID: actorID, Action: action,
		TargetType: targetType, TargetID: targetID, RequestID: m.RequestID, IP: m.IP, Details: details,
	})
	return err
}

// clip bounds client-supplied strings that are stored.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
