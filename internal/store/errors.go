package store

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// ErrNotFound is returned (wrapped) by store functions when a row is missing.
var ErrNotFound = sql.ErrNoRows

// SQLite result codes (https://www.sqlite.org/rescode.html).
const (
	sqliteBusy                 = 5
	sqliteLocked               = 6
	sqliteConstraint           = 19
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// PostgreSQL SQLSTATEs.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
)

// IsRetryable reports whether err is a transient conflict after which the
// whole transaction may simply be run again.
func IsRetryable(err error) bool {
	if code, ok := sqliteCode(err); ok {
		prim := code & 0xff
		return prim == sqliteBusy || prim == sqliteLocked
	}
	if state, ok := pgState(err); ok {
		return state == pgSerializationFailure || state == pgDeadlockDetected || state == pgLockNotAvailable
	}
	return false
}

// IsUniqueViolation reports whether err is a unique or primary key violation.
func IsUniqueViolation(err error) bool {
	if code, ok := sqliteCode(err); ok {
		return code == sqliteConstraintUnique || code == sqliteConstraintPrimaryKey
	}
	if state, ok := pgState(err); ok {
		return state == pgUniqueViolation
	}
	return false
}

// IsNotFound reports whether err means "no such row".
func IsNotFound(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func sqliteCode(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func pgState(err error) (string, bool) {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code, true
	}
	return "", false
}
