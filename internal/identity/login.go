package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/store"
)

// LoginInput is a password sign-in. Cookie asks for a web (cookie) session
// instead of bearer tokens.
type LoginInput struct {
	Email    string
	Password string
	Cookie   bool
}

// LoginResult is either a signed-in session or, for 2FA users, a challenge
// to complete with CompleteMFA.
type LoginResult struct {
	MFARequired bool
	MFAToken    string
	Tokens      Tokens
	User        User
}

// maxPasswordInput bounds what is hashed at login (policy bounds apply at
// registration; this stops a megabyte "password" from being hashed).
const maxPasswordInput = 1024

func invalidCredentials() error {
	return fault.New(CodeInvalidCredentials, "The email or password is incorrect.")
}

// Login checks a password. Unknown emails, wrong passwords and locked
// accounts fail identically and after the same hashing work. Repeated
// failures lock the account for a growing time.
func (s *Service) Login(ctx context.Context, m Meta, in LoginInput) (LoginResult, error) {
	if len(in.Password) > maxPasswordInput {
		in.Password = in.Password[:maxPasswordInput]
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	var (
		u     User
		found = true
	)
	err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, clip(email, maxEmailLen)))
		if store.IsNotFound(err) {
			found = false
			return nil
		}
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	now := s.clock()
	if !found {
		s.hasher.Dummy(ctx, in.Password)
		return LoginResult{}, s.recordFailure(ctx, m, "", now, map[string]any{"email": MaskEmail(email), "reason": "unknown_email"})
	}
	ok, rehash, err := s.hasher.Verify(ctx, in.Password, u.passwordHash)
	if err != nil {
		return LoginResult{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	switch {
	case u.Locked:
		return LoginResult{}, s.recordFailure(ctx, m, u.ID, now, map[string]any{"reason": "account_locked"})
	case now.Before(u.LockedUntil):
		return LoginResult{}, s.recordFailure(ctx, m, u.ID, now, map[string]any{"reason": "temporarily_locked"})
	case !ok:
		return LoginResult{}, s.countFailure(ctx, m, u.ID, now)
	}
	newHash := ""
	if rehash {
		// Transparent upgrade (legacy PBKDF2 or old Argon2 parameters).
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return LoginResult{}, fmt.Errorf("rehash password: %w", err)
		}
	}
	var res LoginResult
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		res = LoginResult{}
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, lockouts = 0, locked_until = 0 WHERE id = ?`, u.ID); err != nil {
			return err
		}
		if newHash != "" {
			if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, newHash, u.ID, u.passwordHash); err != nil {
				return err
			}
			if err := record(ctx, tx, now, m, u.ID, "auth.password_rehashed", "user", u.ID, nil); err != nil {
				return err
			}
		}
		if u.MFAEnabled {
			res.MFARequired = true
			res.MFAToken = newToken("mfa_")
			if _, err := tx.Exec(ctx, `INSERT INTO mfa_challenges (token_hash, user_id, cookie, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
				hashToken(res.MFAToken), u.ID, in.Cookie, store.Micros(now), store.Micros(now.Add(s.cfg.MFAChallengeTTL))); err != nil {
				return err
			}
			return record(ctx, tx, now, m, u.ID, "auth.password_verified", "user", u.ID, map[string]any{"mfa_required": true})
		}
		return s.completeLogin(ctx, tx, &res, u, m, in.Cookie, time.Time{}, now, "password")
	})
	if err == nil && !res.MFARequired {
		s.notifyUserChanged(res.User.ID)
	}
	return res, err
}

// completeLogin opens the session and records the success.
func (s *Service) completeLogin(ctx context.Context, tx *store.Tx, res *LoginResult, u User, m Meta, cookie bool, mfaAt, now time.Time, method string) error {
	kind := KindBearer
	if cookie {
		kind = KindCookie
	}
	t, err := s.createSession(ctx, tx, u, m, kind, mfaAt, now)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, store.Micros(now), u.ID); err != nil {
		return err
	}
	u.LastLoginAt = now
	res.Tokens, res.User = t, u
	return record(ctx, tx, now, m, u.ID, "auth.login_succeeded", "session", t.SessionID, map[string]any{"method": method, "kind": kind})
}

// recordFailure audits a failed login and returns the uniform error. The
// caller is unauthenticated, so the actor is anonymous and the account (if
// any) is the target.
func (s *Service) recordFailure(ctx context.Context, m Meta, userID string, now time.Time, details map[string]any) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		return record(ctx, tx, now, m, "", "auth.login_failed", "user", userID, details)
	})
	if err != nil {
		return err
	}
	return invalidCredentials()
}

// countFailure adds a failure to the user's count and locks the account when
// the threshold is reached: the n-th consecutive lockout lasts
// LockoutBase·2^(n-1), at most LockoutMax.
func (s *Service) countFailure(ctx context.Context, m Meta, userID string, now time.Time) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		var failed, lockouts int
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins, lockouts`, userID).
			Scan(&failed, &lockouts); err != nil {
			return err
		}
		details := map[string]any{"reason": "wrong_password", "consecutive_failures": failed}
		if err := record(ctx, tx, now, m, "", "auth.login_failed", "user", userID, details); err != nil {
			return err
		}
		if failed < s.cfg.LockoutThreshold {
			return nil
		}
		d := lockoutDuration(s.cfg.LockoutBase, s.cfg.LockoutMax, lockouts+1)
		until := now.Add(d)
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, lockouts = lockouts + 1, locked_until = ? WHERE id = ?`,
			store.Micros(until), userID); err != nil {
			return err
		}
		return record(ctx, tx, now, m, "", "auth.lockout", "user", userID,
			map[string]any{"lockout_number": lockouts + 1, "locked_seconds": int64(d / time.Second)})
	})
	if err != nil {
		return err
	}
	return invalidCredentials()
}

// lockoutDuration is base·2^(n-1), capped at max, for the n-th lockout.
func lockoutDuration(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// MFAInput completes a 2FA login with a TOTP code or a recovery code.
type MFAInput struct {
	Token        string
	Code         string
	RecoveryCode string
}

// CompleteMFA finishes a login that answered MFARequired. A challenge allows
// a few wrong codes, then it is spent.
func (s *Service) CompleteMFA(ctx context.Context, m Meta, in MFAInput) (LoginResult, error) {
	badToken := fault.New(CodeInvalidMFAToken, "The MFA token is invalid or expired; sign in again.")
	if len(in.Token) != len("mfa_")+43 {
		return LoginResult{}, badToken
	}
	if err := requireOneFactor(in.Code, in.RecoveryCode); err != nil {
		return LoginResult{}, err
	}
	now := s.clock()
	var (
		res     LoginResult
		outcome error
	)
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		res, outcome = LoginResult{}, nil
		var (
			userID            string
			cookie            bool
			attempts          int
			expiresAt, usedAt int64
		)
		q := `SELECT user_id, cookie, attempts, expires_at, used_at FROM mfa_challenges WHERE token_hash = ?`
		if tx.Dialect() == store.Postgres {
			q += ` FOR UPDATE`
		}
		err := tx.QueryRow(ctx, q, hashToken(in.Token)).Scan(&userID, &cookie, &attempts, &expiresAt, &usedAt)
		if store.IsNotFound(err) {
			outcome = badToken
			return nil
		}
		if err != nil {
			return err
		}
		if usedAt != 0 || expiresAt <= store.Micros(now) || attempts >= maxMFAAttempts {
			outcome = badToken
			return nil
		}
		u, err := getUserForUpdate(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.Locked || !u.MFAEnabled {
			outcome = badToken
			return nil
		}
		method, verr := s.checkSecondFactor(ctx, tx, u, in.Code, in.RecoveryCode, now)
		if verr != nil {
			attempts++
			spent := int64(0)
			if attempts >= maxMFAAttempts {
				spent = store.Micros(now)
			}
			if _, err := tx.Exec(ctx, `UPDATE mfa_challenges SET attempts = ?, used_at = ? WHERE token_hash = ?`, attempts, spent, hashToken(in.Token)); err != nil {
				return err
			}
			outcome = verr
			return record(ctx, tx, now, m, "", "auth.mfa_failed", "user", u.ID, map[string]any{"attempts": attempts})
		}
		if _, err := tx.Exec(ctx, `UPDATE mfa_challenges SET used_at = ? WHERE token_hash = ?`, store.Micros(now), hashToken(in.Token)); err != nil {
			return err
		}
		return s.completeLogin(ctx, tx, &res, u, m, cookie, now, now, method)
	})
	if err != nil {
		return LoginResult{}, err
	}
	if outcome == nil {
		s.notifyUserChanged(res.User.ID)
	}
	return res, outcome
}
