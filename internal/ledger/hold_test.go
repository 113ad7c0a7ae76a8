package ledger_test

import (
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/ledger"
	"github.com/fiscus/fiscus/internal/money"
)

func holdRequest() ledger.HoldRequest {
	return ledger.HoldRequest{ID: "hold_1", Account: alice.ID, Destination: bob.ID, Amount: money.New(30_00, usd), Deadline: t0.Add(time.Hour)}
}

// reserve creates the standard hold and commits it to b.
func reserve(t *testing.T, b *ledger.Book) ledger.Hold {
	t.Helper()
	out, err := ledger.Reserve(holdRequest(), registry(t), t0)
	wantCode(t, err, "")
	commit(t, b, out)
	return out.Hold
}

// commit applies an outcome's effects to b, failing t on error.
func commit(t *testing.T, b *ledger.Book, out ledger.Outcome) {
	t.Helper()
	bs, err := ledger.Apply(out.Effects, b)
	wantCode(t, err, "")
	b.Commit(bs)
}

func TestReserveValidation(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	tests := []struct {
		name string
		edit func(r *ledger.HoldRequest)
		code fault.Code
	}{
		{"valid", func(r *ledger.HoldRequest) {}, ""},
		{"no deadline", func(r *ledger.HoldRequest) { r.Deadline = time.Time{} }, ""},
		{"bad id", func(r *ledger.HoldRequest) { r.ID = "" }, ledger.CodeInvalidHold},
		{"bad account", func(r *ledger.HoldRequest) { r.Account = "a b" }, ledger.CodeInvalidHold},
		{"bad destination", func(r *ledger.HoldRequest) { r.Destination = "" }, ledger.CodeInvalidHold},
		{"to itself", func(r *ledger.HoldRequest) { r.Destination = r.Account }, ledger.CodeInvalidHold},
		{"zero", func(r *ledger.HoldRequest) { r.Amount = money.Zero(usd) }, money.CodeInvalidAmount},
		{"negative", func(r *ledger.HoldRequest) { r.Amount = money.New(-1, usd) }, money.CodeInvalidAmount},
		{"unlisted", func(r *ledger.HoldRequest) { r.Amount = money.New(1, unlisted) }, money.CodeUnknownAsset},
		{"deadline now", func(r *ledger.HoldRequest) { r.Deadline = t0 }, ledger.CodeInvalidHold},
		{"deadline past", func(r *ledger.HoldRequest) { r.Deadline = t0.Add(-time.Second) }, ledger.CodeInvalidHold},
	}
	for _, tt := range tests {
		r := holdRequest()
		tt.edit(&r)
		out, err := ledger.Reserve(r, reg, t0)
		if tt.code == "" {
			if err != nil || out.Hold.Status != ledger.HoldPending || out.Entry != nil {
				t.Errorf("%s: %+v, %v", tt.name, out, err)
			}
			continue
		}
		if fault.CodeOf(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
}

func TestHoldLifecycle(t *testing.T) {
	t.Parallel()
	b := newBook(t)
	h := reserve(t, b)
	if got := b.Balance(alice.ID, usd); got.Posted != 100_00 || got.Held != 30_00 {
		t.Fatalf("after reserve: %+v (ledger balance must not move, held must)", got)
	}
	// 70.00 is available: a 70.01 transfer fails, a second 70.01 hold too.
	_, err := ledger.ApplyEntry(entry("e1", leg(alice.ID, -70_01, usd), leg(bob.ID, 70_01, usd)), registry(t), b)
	wantCode(t, err, ledger.CodeInsufficientFunds)

	// Partial post: 20.00 moves, the other 10.00 is released.
	out, err := h.Post("e_post", money.New(20_00, usd), t0.Add(time.Minute))
	wantCode(t, err, "")
	if out.Hold.Status != ledger.HoldPosted || out.Hold.Posted != 20_00 || out.Hold.EntryID != "e_post" {
		t.Fatalf("posted hold = %+v", out.Hold)
	}
	if out.Entry == nil || out.Entry.Validate(registry(t)) != nil || out.Entry.Metadata["hold_id"] != h.ID {
		t.Fatalf("post entry = %+v", out.Entry)
	}
	commit(t, b, out)
	if got := b.Balance(alice.ID, usd); got.Posted != 80_00 || got.Held != 0 {
		t.Fatalf("alice after post: %+v", got)
	}
	if got := b.Balance(bob.ID, usd); got.Posted != 20_00 {
		t.Fatalf("bob after post: %+v", got)
	}
	// A posted hold is final.
	_, err = out.Hold.Void(t0)
	wantCode(t, err, ledger.CodeHoldNotPending)
	_, err = out.Hold.Post("e2", money.New(1, usd), t0)
	wantCode(t, err, ledger.CodeHoldNotPending)
	_, err = out.Hold.Expire(t0.Add(2 * time.Hour))
	wantCode(t, err, ledger.CodeHoldNotPending)
}

func TestHoldTransitions(t *testing.T) {
	t.Parallel()
	out, err := ledger.Reserve(holdRequest(), registry(t), t0)
	wantCode(t, err, "")
	pending := out.Hold
	deadline := pending.Deadline
	voided, expired := pending, pending
	voided.Status, expired.Status = ledger.HoldVoided, ledger.HoldExpired
	noDeadline := pending
	noDeadline.Deadline = time.Time{}

	type op func(h ledger.Hold) (ledger.Outcome, error)
	post := func(units int64, asset money.Asset, now time.Time) op {
		return func(h ledger.Hold) (ledger.Outcome, error) { return h.Post("e1", money.New(units, asset), now) }
	}
	void := func(now time.Time) op { return func(h ledger.Hold) (ledger.Outcome, error) { return h.Void(now) } }
	expire := func(now time.Time) op { return func(h ledger.Hold) (ledger.Outcome, error) { return h.Expire(now) } }
	before := deadline.Add(-time.Nanosecond)

	tests := []struct {
		name   string
		h      ledger.Hold
		op     op
		code   fault.Code
		status ledger.HoldStatus
	}{
		{"post full", pending, post(30_00, usd, before), "", ledger.HoldPosted},
		{"post partial", pending, post(1, usd, before), "", ledger.HoldPosted},
		{"post more", pending, post(30_01, usd, before), ledger.CodeHoldAmountExceeded, ""},
		{"post zero", pending, post(0, usd, before), money.CodeInvalidAmount, ""},
		{"post negative", pending, post(-1, usd, before), money.CodeInvalidAmount, ""},
		{"post other currency", pending, post(1, eur, before), money.CodeCurrencyMismatch, ""},
		{"post at deadline", pending, post(1, usd, deadline), ledger.CodeHoldExpired, ""},
		{"post voided", voided, post(1, usd, t0), ledger.CodeHoldNotPending, ""},
		{"post expired", expired, post(1, usd, t0), ledger.CodeHoldNotPending, ""},
		{"post to its own account", func() ledger.Hold { h := pending; h.Destination = h.Account; return h }(), post(1, usd, before), ledger.CodeInvalidHold, ""},
		{"post bad entry id", pending, func(h ledger.Hold) (ledger.Outcome, error) { return h.Post("", money.New(1, usd), t0) }, ledger.CodeInvalidEntry, ""},
		{"void", pending, void(before), "", ledger.HoldVoided},
		{"void at deadline", pending, void(deadline), ledger.CodeHoldExpired, ""},
		{"void voided", voided, void(t0), ledger.CodeHoldNotPending, ""},
		{"void expired", expired, void(t0), ledger.CodeHoldNotPending, ""},
		{"expire at deadline", pending, expire(deadline), "", ledger.HoldExpired},
		{"expire after deadline", pending, expire(deadline.Add(time.Hour)), "", ledger.HoldExpired},
		{"expire early", pending, expire(before), ledger.CodeHoldNotExpired, ""},
		{"expire without deadline", noDeadline, expire(deadline.Add(1000 * time.Hour)), ledger.CodeHoldNotExpired, ""},
		{"expire voided", voided, expire(deadline), ledger.CodeHoldNotPending, ""},
		{"expire expired", expired, expire(deadline), ledger.CodeHoldNotPending, ""},
		{"post without deadline, much later", noDeadline, post(1, usd, deadline.Add(1000*time.Hour)), "", ledger.HoldPosted},
	}
	for _, tt := range tests {
		out, err := tt.op(tt.h)
		if tt.code != "" {
			if fault.CodeOf(err) != tt.code {
				t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
			}
			continue
		}
		if err != nil || out.Hold.Status != tt.status {
			t.Errorf("%s: %+v, %v; want status %s", tt.name, out.Hold, err, tt.status)
			continue
		}
		if tt.h.Status != ledger.HoldPending {
			t.Errorf("%s: transition changed its receiver", tt.name)
		}
		// Every transition releases exactly the whole reservation.
		var released int64
		for _, e := range out.Effects {
			if e.Account == pending.Account {
				released += e.Held
			}
		}
		if released != -pending.Amount.Units() {
			t.Errorf("%s: released %d, want %d", tt.name, -released, pending.Amount.Units())
		}
	}
}

func TestHoldNotPendingDetails(t *testing.T) {
	t.Parallel()
	h := ledger.Hold{ID: "hold_9", Status: ledger.HoldVoided, Amount: money.New(1, usd)}
	_, err := h.Void(t0)
	e, ok := fault.As(err)
	if !ok || e.Extra["status"] != "voided" || e.Extra["hold_id"] != "hold_9" {
		t.Fatalf("details %#v", err)
	}
}

func TestReserveRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(r *ledger.HoldRequest)
		code fault.Code
	}{
		{"more than available", func(r *ledger.HoldRequest) { r.Amount = money.New(100_01, usd) }, ledger.CodeInsufficientFunds},
		{"frozen destination", func(r *ledger.HoldRequest) { r.Destination = frozen.ID }, ledger.CodeAccountFrozen},
		{"missing destination", func(r *ledger.HoldRequest) { r.Destination = "acct_nobody" }, ledger.CodeAccountNotFound},
		{"destination in another currency", func(r *ledger.HoldRequest) { r.Destination = euro.ID }, money.CodeCurrencyMismatch},
		{"frozen source", func(r *ledger.HoldRequest) { r.Account = frozen.ID }, ledger.CodeAccountFrozen},
	}
	for _, tt := range tests {
		b := newBook(t)
		r := holdRequest()
		tt.edit(&r)
		out, err := ledger.Reserve(r, registry(t), t0)
		wantCode(t, err, "")
		_, err = ledger.Apply(out.Effects, b)
		if fault.CodeOf(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
}

func TestVoidAndExpireOnFrozenAccount(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"void", "expire"} {
		b := newBook(t)
		h := reserve(t, b)
		wantCode(t, b.SetStatus(alice.ID, ledger.StatusFrozen), "")
		var out ledger.Outcome
		var err error
		if name == "void" {
			out, err = h.Void(t0)
		} else {
			out, err = h.Expire(h.Deadline)
		}
		wantCode(t, err, "")
		commit(t, b, out)
		if got := b.Balance(alice.ID, usd); got.Held != 0 || got.Posted != 100_00 {
			t.Fatalf("%s on frozen: %+v", name, got)
		}
	}
}

func TestPostOnFrozenAccount(t *testing.T) {
	t.Parallel()
	b := newBook(t)
	h := reserve(t, b)
	wantCode(t, b.SetStatus(alice.ID, ledger.StatusFrozen), "")
	out, err := h.Post("e1", money.New(1, usd), t0)
	wantCode(t, err, "")
	_, err = ledger.Apply(out.Effects, b)
	wantCode(t, err, ledger.CodeAccountFrozen)
}
