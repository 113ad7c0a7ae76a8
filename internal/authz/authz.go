// Package authz is Fiscus's one permission matrix: which role may do what.
//
// Every route names exactly one Permission (or Public); the HTTP layer checks
// it in one place per request. Object-level ownership ("is this your
// account?") is checked by the services, which answer not_found for objects
// the caller may not see. The matrix is data in code, reviewed as a whole and
// walked by a test that calls every route with every role.
package authz

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Role is a user's role. A user may hold several.
type Role string

// Roles.
const (
	Customer   Role = "customer"   // end customers and traders
	Compliance Role = "compliance" // approvals, reviews, reversals, reports
	Admin      Role = "admin"      // users, roles, limits, symbols
	Support    Role = "support"    // helps customers: reads users, locks and unlocks
	Auditor    Role = "auditor"    // read-only: audit trail and reports
)

// AllRoles lists every role in display order.
var AllRoles = []Role{Customer, Compliance, Admin, Support, Auditor}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(strings.ToLower(s)))
	if slices.Contains(AllRoles, r) {
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q", s)
}

// Permission names one kind of action.
type Permission string

// Permissions. A permission ending in ":read" or ":verify" never changes
// state; the auditor role holds only those (a test enforces it).
const (
	Public        Permission = "public"         // no authentication at all
	Authenticated Permission = "authenticated"  // any signed-in user (own profile, own sessions, own 2FA)
	UsersRead     Permission = "users:read"     // list and view users
	UsersLock     Permission = "users:lock"     // lock, unlock and force-logout users
	UsersRoles    Permission = "users:roles"    // assign roles
	AuditRead     Permission = "audit:read"     // read the audit trail
	AuditVerify   Permission = "audit:verify"   // run the audit chain verifier
	SystemRead    Permission = "system:read"    // detailed health and internals
	AccountsOwn   Permission = "accounts:own"   // hold and use one's own accounts
	AccountsRead  Permission = "accounts:read"  // view anyone's accounts and statements
	TransfersOwn  Permission = "transfers:own"  // create and view one's own transfers
	TransfersRead Permission = "transfers:read" // view anyone's transfers (review queue)
	LedgerAdjust  Permission = "ledger:adjust"  // post adjustments against the funding account
	LedgerVerify  Permission = "ledger:verify"  // run the ledger invariant verifier

	TransfersApprove Permission = "transfers:approve" // approve or reject others' waiting transfers
	TransfersReverse Permission = "transfers:reverse" // reverse executed transfers
)

// matrix grants permissions to roles. Public and Authenticated are implicit.
var matrix = map[Role][]Permission{
	Customer:   {AccountsOwn, TransfersOwn},
	Compliance: {UsersRead, AuditRead, AccountsRead, TransfersRead, TransfersApprove, TransfersReverse},
	Admin: {UsersRead, UsersLock, UsersRoles, AuditRead, AuditVerify, SystemRead, AccountsRead, TransfersRead, LedgerAdjust, LedgerVerify,
		TransfersApprove, TransfersReverse},
	Support: {UsersRead, UsersLock, AccountsRead, TransfersRead},
	Auditor: {UsersRead, AuditRead, AuditVerify, AccountsRead, TransfersRead, LedgerVerify},
}

// Granted lists the permissions of a role.
func Granted(r Role) []Permission { return slices.Clone(matrix[r]) }

// Allows reports whether any of roles grants p. Public and Authenticated are
// satisfied by any signed-in user.
func Allows(roles []Role, p Permission) bool {
	if p == Public || p == Authenticated {
		return true
	}
	for _, r := range roles {
		if slices.Contains(matrix[r], p) {
			return true
		}
	}
	return false
}

// ReadOnly reports whether a permission never changes state.
func ReadOnly(p Permission) bool {
	return strings.HasSuffix(string(p), ":read") || strings.HasSuffix(string(p), ":verify")
}

// Principal is an authenticated caller.
type Principal struct {
	UserID     string
	SessionID  string
	Email      string
	Roles      []Role
	MFAEnabled bool
	// MFAAt is when this session last passed an MFA check (zero if never).
	MFAAt time.Time
	// Tier is the user's customer tier ("standard", "premium"), which
	// selects their transfer limits.
	Tier string
}

// Has reports whether the principal holds a role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// Can reports whether the principal holds a permission.
func (p Principal) Can(perm Permission) bool { return Allows(p.Roles, perm) }

// RecentMFA reports whether the principal may perform a step-up-protected
// action at now: users without 2FA pass; users with 2FA need an MFA check
// within window.
func (p Principal) RecentMFA(now time.Time, window time.Duration) bool {
	if !p.MFAEnabled {
		return true
	}
	return !p.MFAAt.IsZero() && now.Sub(p.MFAAt) <= window
}
