-- +goose Up
-- People who sign in. Emails are stored normalised (trimmed, lower-case).
-- Times are Unix microseconds, UTC; 0 means "never".
CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    roles               TEXT NOT NULL,               -- comma-separated, sorted
    tier                TEXT NOT NULL DEFAULT 'standard',
    locked              BOOLEAN NOT NULL DEFAULT FALSE, -- locked by an administrator
    failed_logins       INTEGER NOT NULL DEFAULT 0,  -- consecutive failures since the last success or lockout
    locked_until        BIGINT NOT NULL DEFAULT 0,   -- temporary lockout after repeated failures
    lockouts            INTEGER NOT NULL DEFAULT 0,  -- consecutive lockouts, for growing delays
    totp_secret         TEXT NOT NULL DEFAULT '',    -- keyring ciphertext; '' when 2FA was never set up
    totp_enabled        BOOLEAN NOT NULL DEFAULT FALSE,
    totp_last_step      BIGINT NOT NULL DEFAULT 0,   -- last accepted TOTP time step (replay guard)
    password_changed_at BIGINT NOT NULL,
    mfa_changed_at      BIGINT NOT NULL DEFAULT 0,
    last_login_at       BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Single-use 2FA recovery codes, stored as SHA-256 of the normalised code.
CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Server-side sessions. A bearer session is used through short-lived access
-- tokens naming it and rotating refresh tokens; a cookie session through an
-- opaque cookie whose SHA-256 is cookie_hash.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('bearer', 'cookie')),
    cookie_hash    TEXT UNIQUE,
    ip             TEXT NOT NULL DEFAULT '',
    user_agent     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    mfa_at         BIGINT NOT NULL DEFAULT 0,        -- last MFA check in this session
    revoked_at     BIGINT NOT NULL DEFAULT 0,
    revoked_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

-- Refresh tokens, stored as SHA-256. Each is used once; presenting a used
-- one again revokes its session (reuse detection).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Pending second factors: a password login of a 2FA user waits here.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cookie     BOOLEAN NOT NULL DEFAULT FALSE,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE mfa_challenges;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE recovery_codes;
DROP TABLE users;
