package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/fiscus/fiscus/internal/authz"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/totp"
)

// aad binds a TOTP secret's ciphertext to its user, so a secret copied to
// another user's row does not decrypt.
func totpAAD(userID string) []byte { return []byte("totp:" + userID) }

func invalidCode() error {
	return fault.New(CodeInvalidMFACode, "The code is not valid.")
}

// checkSecondFactor verifies a TOTP code (advancing the replay guard) or
// spends a recovery code, inside tx with the user row locked. It returns the
// method used.
func (s *Service) checkSecondFactor(ctx context.Context, tx *store.Tx, u User, code, recovery string, now time.Time) (string, error) {
	if recovery != "" {
		res, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at = 0`,
			store.Micros(now), u.ID, totp.HashRecoveryCode(recovery))
		if err != nil {
			return "", err
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", err
		} else if n != 1 {
			return "", invalidCode()
		}
		return "recovery_code", nil
	}
	if u.totpSecret == "" {
		return "", fault.New(CodeMFANotSetUp, "Two-factor authentication is not set up.")
	}
	secret, err := s.keys.Decrypt(u.totpSecret, totpAAD(u.ID))
	if err != nil {
		return "", fmt.Errorf("decrypt TOTP secret of %s: %w", u.ID, err)
	}
	step, err := totp.Validate(string(secret), code, now, u.totpLastStep)
	if err != nil {
		if _, ok := fault.As(err); ok {
			return "", invalidCode()
		}
		return "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ?`, step, u.ID); err != nil {
		return "", err
	}
	return "totp", nil
}

// requireOneFactor refuses a request that gives both or neither of a TOTP
// code and a recovery code.
func requireOneFactor(code, recovery string) error {
	if (code == "") == (recovery == "") {
		return fault.Invalidf("code", "required", "give exactly one of code and recovery_code")
	}
	return nil
}

// verifyEnabledFactor locks the user, requires 2FA to be on, and checks the
// code or recovery code, returning the user and the method used.
func (s *Service) verifyEnabledFactor(ctx context.Context, tx *store.Tx, userID, code, recovery string, now time.Time) (User, string, error) {
	u, err := getUserForUpdate(ctx, tx, userID)
	if err != nil {
		return User{}, "", err
	}
	if !u.MFAEnabled {
		return User{}, "", fault.New(CodeMFANotEnabled, "Two-factor authentication is not enabled.")
	}
	method, err := s.checkSecondFactor(ctx, tx, u, code, recovery, now)
	if err != nil {
		return User{}, "", err
	}
	return u, method, nil
}

// TOTPSetup is what an authenticator app needs.
type TOTPSetup = totp.Key

// SetupTOTP generates a new secret for the caller, stored encrypted and not
// yet enabled. Setting up again replaces a secret that was never enabled.
func (s *Service) SetupTOTP(ctx context.Context, m Meta, p authz.Principal) (TOTPSetup, error) {
	key, err := totp.Generate(s.cfg.TOTPIssuer, p.Email)
	if err != nil {
		return TOTPSetup{}, err
	}
	enc, err := s.keys.Encrypt([]byte(key.Secret), totpAAD(p.UserID))
	if err != nil {
		return TOTPSetup{}, err
	}
	now := s.clock()
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		u, err := getUserForUpdate(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if u.MFAEnabled {
			return fault.New(CodeMFAAlreadyEnabled, "Two-factor authentication is already enabled; disable it first.")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_secret = ?, totp_last_step = 0, updated_at = ? WHERE id = ?`,
			enc, store.Micros(now), u.ID); err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "mfa.setup_started", "user", u.ID, nil)
	})
	if err != nil {
		return TOTPSetup{}, err
	}
	return key, nil
}

// EnableTOTP turns 2FA on once the user proves their app has the secret, and
// returns fresh recovery codes (shown once; stored hashed).
func (s *Service) EnableTOTP(ctx context.Context, m Meta, p authz.Principal, code string) ([]string, error) {
	codes, err := totp.NewRecoveryCodes(recoveryCodeN)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		u, err := getUserForUpdate(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if u.MFAEnabled {
			return fault.New(CodeMFAAlreadyEnabled, "Two-factor authentication is already enabled.")
		}
		if u.totpSecret == "" {
			return fault.New(CodeMFANotSetUp, "Call /2fa/setup first.")
		}
		if _, err := s.checkSecondFactor(ctx, tx, u, code, "", now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = ?, mfa_changed_at = ?, updated_at = ? WHERE id = ?`,
			true, store.Micros(now), store.Micros(now), u.ID); err != nil {
			return err
		}
		if err := replaceRecoveryCodes(ctx, tx, u.ID, codes, now); err != nil {
			return err
		}
		// Enabling proves possession of the factor: count it as a fresh check.
		if _, err := tx.Exec(ctx, `UPDATE sessions SET mfa_at = ? WHERE id = ?`, store.Micros(now), p.SessionID); err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "mfa.enabled", "user", u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	s.userChanged(p.UserID)
	return codes, nil
}

// DisableTOTP turns 2FA off; it needs a valid code or recovery code.
func (s *Service) DisableTOTP(ctx context.Context, m Meta, p authz.Principal, code, recovery string) error {
	if err := requireOneFactor(code, recovery); err != nil {
		return err
	}
	now := s.clock()
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		u, method, err := s.verifyEnabledFactor(ctx, tx, p.UserID, code, recovery, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET totp_enabled = ?, totp_secret = '', totp_last_step = 0, mfa_changed_at = ?, updated_at = ? WHERE id = ?`,
			false, store.Micros(now), store.Micros(now), u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "mfa.disabled", "user", u.ID, map[string]any{"method": method})
	})
	if err == nil {
		s.userChanged(p.UserID)
	}
	return err
}

// RegenerateRecoveryCodes replaces the caller's recovery codes. It needs a
// valid TOTP code in the request, or a step-up MFA check within the window.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, m Meta, p authz.Principal, code string) ([]string, error) {
	codes, err := totp.NewRecoveryCodes(recoveryCodeN)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		u, err := getUserForUpdate(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		if !u.MFAEnabled {
			return fault.New(CodeMFANotEnabled, "Two-factor authentication is not enabled.")
		}
		if code != "" {
			if _, err := s.checkSecondFactor(ctx, tx, u, code, "", now); err != nil {
				return err
			}
		} else if !p.RecentMFA(now, s.cfg.StepUpWindow) {
			return stepUpRequired()
		}
		if err := replaceRecoveryCodes(ctx, tx, u.ID, codes, now); err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "mfa.recovery_codes_regenerated", "user", u.ID, nil)
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

func stepUpRequired() error {
	return fault.New(CodeMFARequired, "This action needs a recent two-factor check: call /auth/step-up first.")
}

// RequireRecentMFA returns mfa_step_up_required unless the principal passed
// an MFA check within the step-up window (users without 2FA always pass).
func (s *Service) RequireRecentMFA(p authz.Principal) error {
	if !p.RecentMFA(s.clock(), s.cfg.StepUpWindow) {
		return stepUpRequired()
	}
	return nil
}

func replaceRecoveryCodes(ctx context.Context, tx *store.Tx, userID string, codes []string, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return err
	}
	for _, c := range codes {
		if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`,
			userID, totp.HashRecoveryCode(c), store.Micros(now)); err != nil {
			return err
		}
	}
	return nil
}

// StepUp records a fresh MFA check on the caller's session.
func (s *Service) StepUp(ctx context.Context, m Meta, p authz.Principal, code, recovery string) error {
	if err := requireOneFactor(code, recovery); err != nil {
		return err
	}
	now := s.clock()
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		u, method, err := s.verifyEnabledFactor(ctx, tx, p.UserID, code, recovery, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET mfa_at = ? WHERE id = ?`, store.Micros(now), p.SessionID); err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "auth.step_up", "session", p.SessionID, map[string]any{"method": method})
	})
	if err == nil {
		s.cache.dropSession(p.SessionID)
	}
	return err
}

// ChangePassword replaces the caller's password after checking the current
// one (and a recent MFA check when 2FA is on), then signs out every other
// session.
func (s *Service) ChangePassword(ctx context.Context, m Meta, p authz.Principal, current, next string) error {
	if err := s.RequireRecentMFA(p); err != nil {
		return err
	}
	var u User
	if err := s.db.Read(ctx, func(tx *store.Tx) error {
		var err error
		u, err = getUser(ctx, tx, p.UserID)
		return err
	}); err != nil {
		return err
	}
	if len(current) > maxPasswordInput {
		current = current[:maxPasswordInput]
	}
	ok, _, err := s.hasher.Verify(ctx, current, u.passwordHash)
	if err != nil {
		return err
	}
	if !ok {
		return fault.Invalidf("current_password", "incorrect", "is not your current password")
	}
	local := u.Email[:indexAt(u.Email)]
	if err := s.policy.Check(next, local, u.Name); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	now := s.clock()
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE id = ? AND password_hash = ?`,
			hash, store.Micros(now), store.Micros(now), u.ID, u.passwordHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return fault.New(fault.Conflict, "The password was changed concurrently; try again.")
		}
		n, err := revokeUserSessions(ctx, tx, u.ID, p.SessionID, now, "password_changed")
		if err != nil {
			return err
		}
		return record(ctx, tx, now, m, u.ID, "user.password_changed", "user", u.ID, map[string]any{"other_sessions_revoked": n})
	})
	if err == nil {
		s.userChanged(u.ID)
	}
	return err
}

func indexAt(email string) int {
	for i := len(email) - 1; i >= 0; i-- {
		if email[i] == '@' {
			return i
		}
	}
	return len(email)
}
