package authz

import (
	"testing"
	"time"
)

func TestAuditorIsReadOnly(t *testing.T) {
	t.Parallel()
	for _, p := range Granted(Auditor) {
		if !ReadOnly(p) {
			t.Errorf("auditor holds %s, which changes state", p)
		}
	}
}

func TestCustomerHoldsNoStaffPermission(t *testing.T) {
	t.Parallel()
	for _, p := range []Permission{UsersRead, UsersLock, UsersRoles, AuditRead, AccountsRead, TransfersRead, LedgerAdjust, SystemRead} {
		if Allows([]Role{Customer}, p) {
			t.Errorf("customer may %s", p)
		}
	}
}

func TestOnlyAdminAssignsRoles(t *testing.T) {
	t.Parallel()
	for _, r := range AllRoles {
		if got := Allows([]Role{r}, UsersRoles); got != (r == Admin) {
			t.Errorf("%s may assign roles: %v", r, got)
		}
	}
}

func TestAllowsUnion(t *testing.T) {
	t.Parallel()
	if !Allows([]Role{Customer, Auditor}, AuditRead) || !Allows(nil, Authenticated) || Allows(nil, UsersRead) {
		t.Fatal("Allows does not take the union of roles")
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	if r, err := ParseRole(" Admin "); err != nil || r != Admin {
		t.Fatalf("ParseRole(Admin) = %v %v", r, err)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func TestRecentMFA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := 5 * time.Minute
	if !(Principal{}).RecentMFA(now, w) {
		t.Error("user without 2FA refused")
	}
	if (Principal{MFAEnabled: true}).RecentMFA(now, w) {
		t.Error("2FA user who never passed MFA allowed")
	}
	if !(Principal{MFAEnabled: true, MFAAt: now.Add(-w)}).RecentMFA(now, w) {
		t.Error("MFA exactly at the window edge refused")
	}
	if (Principal{MFAEnabled: true, MFAAt: now.Add(-w - time.Second)}).RecentMFA(now, w) {
		t.Error("stale MFA allowed")
	}
}
