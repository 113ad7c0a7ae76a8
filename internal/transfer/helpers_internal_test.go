package transfer

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/idempotency"
	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/money"
)

func TestCheckAmount(t *testing.T) {
	for _, tc := range []struct {
		units  int64
		cur    string
		signed bool
		code   fault.Code
	}{
		{1, "USD", false, ""},
		{0, "USD", false, money.CodeInvalidAmount},
		{-1, "USD", false, money.CodeInvalidAmount},
		{-1, "USD", true, ""},
		{0, "USD", true, money.CodeInvalidAmount},
		{math.MinInt64, "USD", true, money.CodeAmountOverflow},
		{math.MaxInt64, "USD", false, ""},
		{1, "XYZ", false, money.CodeUnknownCurrency},
		{1, "usd", false, money.CodeUnknownCurrency},
	} {
		_, err := checkAmount(tc.units, tc.cur, tc.signed)
		if tc.code == "" {
			if err != nil {
				t.Errorf("checkAmount(%d, %s, %t) = %v", tc.units, tc.cur, tc.signed, err)
			}
			continue
		}
		e, ok := fault.As(err)
		if !ok || len(e.Fields) != 1 || e.Fields[0].Code != string(tc.code) {
			t.Errorf("checkAmount(%d, %s, %t) = %v, want field code %s", tc.units, tc.cur, tc.signed, err, tc.code)
		}
	}
}

func TestCheckMemoAndReason(t *testing.T) {
	if m, err := checkMemo("  Lunch  "); err != nil || m != "Lunch" {
		t.Errorf("trimmed memo: %q %v", m, err)
	}
	for _, bad := range []string{strings.Repeat("é", MaxMemoRunes+1), "a\x00b", "a\nb", "\xff"} {
		if _, err := checkMemo(bad); err == nil {
			t.Errorf("memo %q accepted", bad)
		}
	}
	if _, err := checkMemo(strings.Repeat("é", MaxMemoRunes)); err != nil {
		t.Errorf("a memo of exactly %d runes: %v", MaxMemoRunes, err)
	}
	if r, err := checkReason("line one\nline two"); err != nil || r != "line one\nline two" {
		t.Errorf("reason with a newline: %q %v", r, err)
	}
	for _, bad := range []string{strings.Repeat("x", MaxReasonRunes+1), "a\tb", "\xff"} {
		if _, err := checkReason(bad); err == nil {
			t.Errorf("reason %q accepted", bad)
		}
	}
}

func TestCounterKeysAndRelease(t *testing.T) {
	at := time.Date(2026, 1, 31, 23, 59, 59, 0, time.FixedZone("UTC+2", 2*3600)) // 21:59:59 UTC
	day, month := counterKeys("usr_1", "USD", at)
	if day != "out:usr_1:USD:d:2026-01-31" || month != "out:usr_1:USD:m:2026-01" {
		t.Fatalf("keys %q %q (days and months are UTC)", day, month)
	}
	rel := releaseLimits(Transfer{Kind: KindCash, MakerID: "usr_1", Currency: "USD", Amount: 500, CreatedAt: at})
	if len(rel) != 2 || rel[0].Key != day || rel[1].Key != month || rel[0].Delta != -500 || rel[1].Delta != -500 {
		t.Fatalf("release %+v", rel)
	}
	if rel := releaseLimits(Transfer{Kind: KindReversal}); rel != nil {
		t.Fatalf("a reversal counted nothing, releases nothing: %+v", rel)
	}
}

func TestLimitRefusal(t *testing.T) {
	day, _ := counterKeys("usr_1", "EUR", time.Now())
	err := limitRefusal(fault.New(journal.CodeLimitExceeded, "x").With("counter", day).
		With("limit", int64(1000)).With("used", int64(900)).With("requested", int64(200)))
	e, ok := fault.As(err)
	if !ok || e.Code != CodeLimitExceeded || e.Extra["period"] != "daily" || e.Extra["available"] != int64(100) ||
		e.Extra["currency"] != "EUR" || e.Extra["limit"] != int64(1000) {
		t.Fatalf("daily refusal: %+v", e)
	}
	other := fault.New(journal.CodeStale, "x")
	if got := limitRefusal(other); got != error(other) {
		t.Fatalf("other errors pass through: %v", got)
	}
}

func TestOutcomeStatusAndBalanceAccount(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want int
	}{
		{Outcome{Transfer: Transfer{Status: StatusExecuted}}, 201},
		{Outcome{Transfer: Transfer{Status: StatusPendingApproval}}, 202},
		{Outcome{Transfer: Transfer{Status: StatusUnderReview}}, 202},
		{Outcome{Replay: &idempotency.Stored{Status: 202}}, 202},
	} {
		if got := tc.o.Status(); got != tc.want {
			t.Errorf("%+v: status %d, want %d", tc.o, got, tc.want)
		}
	}
	deposit := Transfer{Kind: KindAdjustment, FromAccountID: "acct_ext", ToAccountID: "acct_c", ToOwnerID: "usr_c"}
	withdrawal := Transfer{Kind: KindAdjustment, FromAccountID: "acct_c", FromOwnerID: "usr_c", ToAccountID: "acct_ext"}
	cash := Transfer{Kind: KindCash, FromAccountID: "acct_a", FromOwnerID: "usr_a", ToAccountID: "acct_b"}
	if deposit.BalanceAccountID() != "acct_c" || withdrawal.BalanceAccountID() != "acct_c" || cash.BalanceAccountID() != "acct_a" {
		t.Fatal("the balance shown is the adjusted account's, or the source's")
	}
}

func TestClipText(t *testing.T) {
	if got := clipText("héllo", 2); got != "h" {
		t.Fatalf("clip inside a UTF-8 sequence: %q", got)
	}
	if got := clipText("abc", 5); got != "abc" {
		t.Fatalf("no clip: %q", got)
	}
}
