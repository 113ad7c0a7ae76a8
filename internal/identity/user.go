package identity

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// UserIDPrefix prefixes user IDs.
const UserIDPrefix = "usr"

// User is a person who can sign in.
type User struct {
	ID          string
	Email       string
	Name        string
	Roles       []authz.Role
	Tier        string
	Locked      bool      // locked by an administrator
	LockedUntil time.Time // temporary lockout after failures (zero: none)
	MFAEnabled  bool
	CreatedAt   time.Time
	LastLoginAt time.Time // zero: never

	passwordHash string
	failedLogins int
	lockouts     int
	totpSecret   string // keyring ciphertext
	totpLastStep int64
}

const userColumns = `id, email, name, password_hash, roles, tier, locked, failed_logins, locked_until, lockouts,
	totp_secret, totp_enabled, totp_last_step, created_at, last_login_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (User, error) {
	var (
		u                             User
		roles                         string
		lockedUntil, created, lastLog int64
	)
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.passwordHash, &roles, &u.Tier, &u.Locked, &u.failedLogins,
		&lockedUntil, &u.lockouts, &u.totpSecret, &u.MFAEnabled, &u.totpLastStep, &created, &lastLog)
	if err != nil {
		return User{}, err
	}
	u.Roles = parseRoles(roles)
	u.LockedUntil = micros(lockedUntil)
	u.CreatedAt = store.FromMicros(created)
	u.LastLoginAt = micros(lastLog)
	return u, nil
}

// micros converts a stored time where 0 means "never".
func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return store.FromMicros(us)
}

func storedMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Micros(t)
}

func parseRoles(s string) []authz.Role {
	var out []authz.Role
	for _, r := range strings.Split(s, ",") {
		if role, err := authz.ParseRole(r); err == nil {
			out = append(out, role)
		}
	}
	return out
}

func formatRoles(rs []authz.Role) string {
	ss := make([]string, 0, len(rs))
	for _, r := range rs {
		ss = append(ss, string(r))
	}
	slices.Sort(ss)
	return strings.Join(slices.Compact(ss), ",")
}

func getUser(ctx context.Context, tx *store.Tx, userID string) (User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, userID))
	if store.IsNotFound(err) {
		return User{}, fault.New(fault.NotFound, "No such user.")
	}
	return u, err
}

// getUserForUpdate reads a user and, on PostgreSQL, locks the row until the
// transaction ends (SQLite's single writer already serializes writers).
func getUserForUpdate(ctx context.Context, tx *store.Tx, userID string) (User, error) {
	q := `SELECT ` + userColumns + ` FROM users WHERE id = ?`
	if tx.Dialect() == store.Postgres {
		q += ` FOR UPDATE`
	}
	u, err := scanUser(tx.QueryRow(ctx, q, userID))
	if store.IsNotFound(err) {
		return User{}, fault.New(fault.NotFound, "No such user.")
	}
	return u, err
}

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", fault.Invalidf("email", "required", "is required")
	}
	if len(e) > maxEmailLen {
		return "", fault.Invalidf("email", "too_long", "must be at most %d characters", maxEmailLen)
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", fault.Invalidf("email", "invalid", "is not an email address")
	}
	return e, nil
}

func normalizeName(raw string) (string, error) {
	n := strings.TrimSpace(raw)
	if n == "" {
		return "", fault.Invalidf("name", "required", "is required")
	}
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxNameRunes {
		return "", fault.Invalidf("name", "too_long", "must be at most %d characters of valid UTF-8", maxNameRunes)
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", fault.Invalidf("name", "invalid", "must not contain control characters")
		}
	}
	return n, nil
}

// RegisterInput is a self-service registration.
type RegisterInput struct {
	Email    string
	Password string
	Name     string
}

// Register creates a customer. The password is checked against the policy
// and hashed before any transaction starts.
func (s *Service) Register(ctx context.Context, m Meta, in RegisterInput) (User, error) {
	return s.createUser(ctx, m, "", in, []authz.Role{authz.Customer}, true)
}

// SeedUser creates a user with the given roles unless the email exists,
// without the password policy (for demo data in dev mode only).
func (s *Service) SeedUser(ctx context.Context, in RegisterInput, roles []authz.Role) (User, error) {
	u, err := s.createUser(ctx, Meta{}, "", in, roles, false)
	if fault.Is(err, CodeEmailTaken) {
		email, _ := NormalizeEmail(in.Email)
		err = s.db.Read(ctx, func(tx *store.Tx) error {
			var e error
			u, e = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
			return e
		})
	}
	return u, err
}

func (s *Service) createUser(ctx context.Context, m Meta, actorID string, in RegisterInput, roles []authz.Role, enforcePolicy bool) (User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return User{}, err
	}
	name, err := normalizeName(in.Name)
	if err != nil {
		return User{}, err
	}
	if enforcePolicy {
		local := email[:strings.IndexByte(email, '@')]
		if err := s.policy.Check(in.Password, local, name); err != nil {
			return User{}, err
		}
	} else if in.Password == "" {
		return User{}, fault.Invalidf("password", "required", "is required")
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := s.clock()
	u := User{ID: id.New(UserIDPrefix, now), Email: email, Name: name, Roles: roles, Tier: "standard", CreatedAt: now}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, roles, tier, password_changed_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.Email, u.Name, hash, formatRoles(roles), u.Tier, store.Micros(now), store.Micros(now), store.Micros(now))
		if store.IsUniqueViolation(err) {
			return fault.New(CodeEmailTaken, "An account with this email already exists.")
		}
		if err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		actor := actorID
		if actor == "" {
			actor = u.ID
		}
		return record(ctx, tx, now, m, actor, "user.registered", "user", u.ID,
			map[string]any{"email": MaskEmail(email), "roles": formatRoles(roles)})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// MaskEmail hides most of an email's local part: "alice@x.com" → "a***@x.com".
func MaskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 {
		return "***"
	}
	first, _ := utf8.DecodeRuneInString(e)
	return string(first) + "***" + e[at:]
}

// Me returns the caller's own user.
func (s *Service) Me(ctx context.Context, p authz.Principal) (User, error) {
	var u User
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		u, err = getUser(ctx, tx, p.UserID)
		return err
	})
	return u, err
}

// ListUsers returns a page of users ordered by ID (creation time), starting
// after the cursor.
func (s *Service) ListUsers(ctx context.Context, cursor string, limit int) ([]User, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	var users []User
	err = s.db.Read(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id > ? ORDER BY id LIMIT ?`, after, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = encodeCursor(users[limit-1].ID)
	}
	return users, next, nil
}

func encodeCursor(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !id.Valid(UserIDPrefix, string(b)) {
		return "", fault.Invalidf("cursor", "invalid", "is not a cursor this endpoint issued")
	}
	return string(b), nil
}

// adminChange runs an administrative change on a user in one transaction
// with its audit event, refusing changes to oneself where that would let an
// administrator lock themselves out.
func (s *Service) adminChange(ctx context.Context, m Meta, actor authz.Principal, userID, action string, selfAllowed bool,
	change func(tx *store.Tx, u User, now time.Time) (details any, err error)) (User, error) {
	if !id.Valid(UserIDPrefix, userID) {
		return User{}, fault.New(fault.NotFound, "No such user.")
	}
	if !selfAllowed && userID == actor.UserID {
		return User{}, fault.New(CodeSelfAction, "You cannot do this to your own account.")
	}
	now := s.clock()
	var out User
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		u, err := getUserForUpdate(ctx, tx, userID)
		if err != nil {
			return err
		}
		details, err := change(tx, u, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET updated_at = ? WHERE id = ?`, store.Micros(now), userID); err != nil {
			return err
		}
		if err := record(ctx, tx, now, m, actor.UserID, action, "user", userID, details); err != nil {
			return err
		}
		out, err = getUser(ctx, tx, userID)
		return err
	})
	if err == nil {
		s.userChanged(userID)
	}
	return out, err
}

// LockUser locks a user and revokes every session they have.
func (s *Service) LockUser(ctx context.Context, m Meta, actor authz.Principal, userID string) (User, error) {
	return s.adminChange(ctx, m, actor, userID, "user.locked", false, func(tx *store.Tx, u User, now time.Time) (any, error) {
		if _, err := tx.Exec(ctx, `UPDATE users SET locked = ? WHERE id = ?`, true, u.ID); err != nil {
			return nil, err
		}
		n, err := revokeUserSessions(ctx, tx, u.ID, "", now, "user_locked")
		return map[string]any{"before": map[string]any{"locked": u.Locked}, "after": map[string]any{"locked": true}, "sessions_revoked": n}, err
	})
}

// UnlockUser clears an administrative lock and any temporary lockout.
func (s *Service) UnlockUser(ctx context.Context, m Meta, actor authz.Principal, userID string) (User, error) {
	return s.adminChange(ctx, m, actor, userID, "user.unlocked", false, func(tx *store.Tx, u User, now time.Time) (any, error) {
		_, err := tx.Exec(ctx, `UPDATE users SET locked = ?, locked_until = 0, failed_logins = 0, lockouts = 0 WHERE id = ?`, false, u.ID)
		return map[string]any{"before": map[string]any{"locked": u.Locked, "locked_until": storedMicros(u.LockedUntil)}, "after": map[string]any{"locked": false}}, err
	})
}

// ForceLogout revokes every session of a user.
func (s *Service) ForceLogout(ctx context.Context, m Meta, actor authz.Principal, userID string) (int, error) {
	var n int
	_, err := s.adminChange(ctx, m, actor, userID, "session.revoked_all", true, func(tx *store.Tx, u User, now time.Time) (any, error) {
		var err error
		n, err = revokeUserSessions(ctx, tx, u.ID, "", now, "admin_logout")
		return map[string]any{"sessions_revoked": n, "by_admin": true}, err
	})
	return n, err
}

// SetRoles replaces a user's roles. An administrator cannot remove their own
// admin role (so the last administrator cannot lock everyone out by mistake).
// SetTier sets a customer's tier, which selects their transfer limits. The
// caller checks that the tier is one the configuration knows; sessions see
// the change at once on this instance and within the session cache's
// lifetime on others.
func (s *Service) SetTier(ctx context.Context, m Meta, actor authz.Principal, userID, tier string) (User, error) {
	if !validTier(tier) {
		return User{}, fault.Invalidf("tier", "invalid", "is not a tier name (lower-case letters, digits, _; at most 32)")
	}
	return s.adminChange(ctx, m, actor, userID, "user.tier_changed", true, func(tx *store.Tx, u User, now time.Time) (any, error) {
		_, err := tx.Exec(ctx, `UPDATE users SET tier = ? WHERE id = ?`, tier, u.ID)
		return map[string]any{"before": map[string]any{"tier": u.Tier}, "after": map[string]any{"tier": tier}}, err
	})
}

// validTier accepts 1 to 32 of [a-z0-9_].
func validTier(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func (s *Service) SetRoles(ctx context.Context, m Meta, actor authz.Principal, userID string, raw []string) (User, error) {
	if len(raw) == 0 {
		return User{}, fault.Invalidf("roles", "required", "must name at least one role")
	}
	var roles []authz.Role
	for i, r := range raw {
		role, err := authz.ParseRole(r)
		if err != nil {
			return User{}, fault.Invalidf(fmt.Sprintf("roles[%d]", i), "unknown_role", "is not one of customer, compliance, admin, support, auditor")
		}
		roles = append(roles, role)
	}
	if userID == actor.UserID && !slices.Contains(roles, authz.Admin) {
		return User{}, fault.New(CodeSelfAction, "You cannot remove your own admin role.")
	}
	return s.adminChange(ctx, m, actor, userID, "user.roles_changed", true, func(tx *store.Tx, u User, now time.Time) (any, error) {
		_, err := tx.Exec(ctx, `UPDATE users SET roles = ? WHERE id = ?`, formatRoles(roles), u.ID)
		return map[string]any{"before": map[string]any{"roles": formatRoles(u.Roles)}, "after": map[string]any{"roles": formatRoles(roles)}}, err
	})
}
