package risk_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/risk"
	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/store/storetest"
)

// commitTransfer stores a transfer the way the service does and tells the
// cache, as the service does after the commit.
func commitTransfer(t *testing.T, s seed, cache *risk.Cache, x trf) risk.Outgoing {
	t.Helper()
	o, err := insertTransfer(s.ctx, s.db, x)
	if err != nil {
		t.Fatal(err)
	}
	cache.Observe(x.fromOwner, o)
	return o
}

func insertTransfer(ctx context.Context, db *store.DB, x trf) (risk.Outgoing, error) {
	tid := id.New("trf", x.at)
	var entry, toOwner, reverses any
	if x.status == "executed" || x.status == "reversed" {
		entry = "ent_" + tid
	}
	if x.toOwner != "" {
		toOwner = x.toOwner
	}
	if x.kind == "reversal" {
		reverses = "trf_undone_" + tid
	}
	err := db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO transfers (id, kind, status, maker_user_id, from_account_id, to_account_id,
			from_owner_id, to_owner_id, asset, amount, entry_id, reverses_id, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tid, x.kind, x.status, x.fromOwner, x.from, x.to, x.fromOwner, toOwner, x.asset, x.amount, entry, reverses,
			store.Micros(x.at), store.Micros(x.at))
		return err
	})
	if err != nil {
		return risk.Outgoing{}, fmt.Errorf("insert transfer: %w", err)
	}
	return risk.Outgoing{ID: tid, Kind: x.kind, Status: x.status, To: x.to, ToOwner: x.toOwner, Asset: x.asset,
		Amount: x.amount, CreatedAt: store.Micros(x.at)}, nil
}

// changeStatus moves a stored transfer to status and tells the cache.
func changeStatus(s seed, cache *risk.Cache, owner string, o risk.Outgoing, status string) risk.Outgoing {
	s.t.Helper()
	s.exec(`UPDATE transfers SET status = ?, entry_id = COALESCE(entry_id, 'ent_' || id) WHERE id = ?`, status, o.ID)
	o.Status = status
	cache.Observe(owner, o)
	return o
}

// TestCachedHistoryIsFresh drives alice through random transfers, status
// changes and assessments: the cached History must always equal a fresh
// read, and most assessments must come from memory.
func TestCachedHistoryIsFresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedAlice(t, db)
		s := seed{t, db, ctx}
		cache := risk.NewCache(time.Hour, 0)
		scorer := risk.NewScorer(db, risk.Default(), cache)
		rng := rand.New(rand.NewPCG(7, 11))
		recipients := []struct{ account, owner string }{
			{"acct_bob", "usr_bob"}, {"acct_carol", "usr_carol"}, {"acct_a2", "usr_alice"},
			{"acct_erin", "usr_erin"}, {"acct_new1", "usr_x"}, {"acct_new2", "usr_y"}, {"acct_ext", ""},
		}
		kinds := []string{"cash", "cash", "cash", "reversal", "adjustment"}
		statuses := []string{"executed", "executed", "pending_approval", "under_review", "rejected"}
		assets := []string{"USD", "USD", "EUR"}
		var stored []risk.Outgoing
		now := hnow
		for step := range 400 {
			now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
			switch op := rng.IntN(10); {
			case op < 4:
				r := recipients[rng.IntN(len(recipients))]
				stored = append(stored, commitTransfer(t, s, cache, trf{kinds[rng.IntN(len(kinds))],
					statuses[rng.IntN(len(statuses))], "acct_a1", r.account, "usr_alice", r.owner,
					assets[rng.IntN(len(assets))], 1 + rng.Int64N(100_000), now}))
			case op < 5 && len(stored) > 0:
				i := rng.IntN(len(stored))
				switch stored[i].Status {
				case "pending_approval", "under_review":
					stored[i] = changeStatus(s, cache, "usr_alice", stored[i], []string{"executed", "rejected", "expired"}[rng.IntN(3)])
				case "executed":
					stored[i] = changeStatus(s, cache, "usr_alice", stored[i], "reversed")
				}
			default:
				r := recipients[rng.IntN(len(recipients))]
				q := query("usr_alice", r.account)
				q.Now = now
				q.Currency = assets[rng.IntN(len(assets))]
				q.IP = []string{"203.0.113.1", "198.51.100.9", "192.0.2.66", ""}[rng.IntN(4)]
				q.UserAgent = []string{"Firefox", "NewPhone", ""}[rng.IntN(3)]
				if rng.IntN(2) == 0 {
					q.RecipientOwner = r.owner
				}
				got, err := scorer.HistoryOf(ctx, q)
				if err != nil {
					t.Fatalf("step %d: cached history: %v", step, err)
				}
				if want := load(t, db, q); got != want {
					t.Fatalf("step %d (%d transfers): cached history\n%+v\nfresh read\n%+v", step, len(stored), got, want)
				}
			}
		}
		st := cache.Stats()
		if st.Hits < 10*st.Reads {
			t.Fatalf("the cache answered %d assessments and read %d times: it hardly caches", st.Hits, st.Reads)
		}
	})
}

func TestCacheReadsAfresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedAlice(t, db)
		s := seed{t, db, ctx}
		clock := hnow
		cache := risk.NewCache(time.Second, 0)
		cache.SetClock(func() time.Time { return clock })
		scorer := risk.NewScorer(db, risk.Default(), cache)
		assess := func(q risk.Query) risk.History {
			t.Helper()
			h, err := scorer.HistoryOf(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		reads := func() uint64 { return cache.Stats().Reads }
		q := query("usr_alice", "acct_bob")
		first := assess(q)
		if reads() != 1 || assess(q) != first || reads() != 1 {
			t.Fatalf("a second assessment within the TTL read the database (%d reads)", reads())
		}

		t.Run("a change made elsewhere is seen once the TTL is over", func(t *testing.T) {
			// Another process's transfer: the cache is not told.
			s.transfers(trf{"cash", "executed", "acct_a1", "acct_zed", "usr_alice", "usr_zed", "USD", 5, hnow.Add(-time.Second)})
			q := query("usr_alice", "acct_zed")
			if assess(q).KnownRecipient {
				t.Fatal("within the TTL the cache already knew another process's transfer: it did not cache")
			}
			clock = clock.Add(time.Second)
			if !assess(q).KnownRecipient {
				t.Fatal("after the TTL the transfer made elsewhere is still unknown")
			}
		})

		t.Run("a session the snapshot does not know reads afresh", func(t *testing.T) {
			before := reads()
			s.sessions(ses{"ses_fresh", "usr_alice", "192.0.2.99", "Tablet", "", hnow.Add(-time.Second)})
			q := query("usr_alice", "acct_bob")
			q.SessionID, q.IP = "ses_fresh", "192.0.2.99"
			if h := assess(q); h.KnownIP || reads() != before+1 {
				t.Fatalf("new session: known IP %t, reads %d → %d", h.KnownIP, before, reads())
			}
			// The old session now sees the new one's IP as an earlier one.
			q.SessionID = "ses_current"
			if !assess(q).KnownIP {
				t.Fatal("the fresh snapshot lacks the new session")
			}
		})

		t.Run("an earlier now reads afresh", func(t *testing.T) {
			before := reads()
			q := query("usr_alice", "acct_bob")
			q.Now = hnow.Add(-time.Hour)
			if h, want := assess(q), load(t, db, q); h != want || reads() != before+1 {
				t.Fatalf("earlier now: %+v, want %+v (reads %d → %d)", h, want, before, reads())
			}
		})

		t.Run("forget", func(t *testing.T) {
			assess(q)
			before := reads()
			s.exec(`UPDATE users SET password_changed_at = ? WHERE id = 'usr_alice'`, store.Micros(hnow.Add(-time.Minute)))
			cache.Forget("usr_alice")
			if h := assess(q); !h.PasswordChangedAt.Equal(hnow.Add(-time.Minute)) || reads() != before+1 {
				t.Fatalf("after Forget: password changed %v, reads %d → %d", h.PasswordChangedAt, before, reads())
			}
			cache.Forget("usr_nobody") // unknown: nothing to do
		})
	})
}

// TestCacheRaces has transfers, forgets and assessments of the same
// customer run concurrently (go test -race), then checks that the cache
// ends where a fresh read is.
func TestCacheRaces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedAlice(t, db)
		cache := risk.NewCache(time.Hour, 0)
		scorer := risk.NewScorer(db, risk.Default(), cache)
		q := query("usr_alice", "acct_bob")
		q.Now = hnow.Add(time.Hour)
		done := make(chan error, 3)
		go func() {
			for i := range 40 {
				o, err := insertTransfer(ctx, db, trf{"cash", "executed", "acct_a1", fmt.Sprintf("acct_r%d", i), "usr_alice",
					"usr_r", "USD", int64(100 + i), hnow.Add(time.Duration(i) * time.Second)})
				if err != nil {
					done <- err
					return
				}
				cache.Observe("usr_alice", o)
			}
			done <- nil
		}()
		go func() {
			for range 10 {
				cache.Forget("usr_alice")
				time.Sleep(time.Millisecond)
			}
			done <- nil
		}()
		go func() {
			for range 100 {
				if _, err := scorer.HistoryOf(ctx, q); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range 3 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		for i := range 40 {
			q := q
			q.Recipient = fmt.Sprintf("acct_r%d", i)
			got, err := scorer.HistoryOf(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := load(t, db, q); got != want {
				t.Fatalf("after the races, recipient %s: cached %+v, fresh %+v", q.Recipient, got, want)
			}
		}
	})
}

func TestUpsert(t *testing.T) {
	t.Parallel()
	at := func(i int) risk.Outgoing {
		return risk.Outgoing{ID: fmt.Sprintf("trf_%04d", i), Status: "pending_approval"}
	}
	var ts []risk.Outgoing
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(3 * risk.MaxScanned) {
		ts = risk.Upsert(ts, at(i))
	}
	if len(ts) != risk.MaxScanned {
		t.Fatalf("%d kept, want %d", len(ts), risk.MaxScanned)
	}
	if !slices.IsSortedFunc(ts, func(x, y risk.Outgoing) int { return strings.Compare(y.ID, x.ID) }) ||
		ts[0].ID != at(3*risk.MaxScanned-1).ID || ts[len(ts)-1].ID != at(2*risk.MaxScanned).ID {
		t.Fatalf("kept %s … %s, want the newest %d, newest first", ts[0].ID, ts[len(ts)-1].ID, risk.MaxScanned)
	}
	// Older than every kept one: no place.
	if got := risk.Upsert(ts, at(0)); len(got) != risk.MaxScanned || got[len(got)-1].ID == at(0).ID {
		t.Fatal("a transfer older than the kept ones was kept")
	}
	// A status moves forward only: a late report of an earlier one is
	// ignored.
	x := at(3*risk.MaxScanned - 1)
	for _, tc := range []struct{ status, want string }{
		{"executed", "executed"}, {"pending_approval", "executed"}, {"reversed", "reversed"}, {"executed", "reversed"},
	} {
		x.Status = tc.status
		ts = risk.Upsert(ts, x)
		if ts[0].Status != tc.want || len(ts) != risk.MaxScanned {
			t.Fatalf("after %s: status %s, want %s", tc.status, ts[0].Status, tc.want)
		}
	}
}

// TestUpsertedLeavesItsInputAlone checks that the copy-on-write upsert the
// shared snapshots use gives what upsert gives on a copy, and never changes
// the slice it was given, for random arrivals and status changes.
func TestUpsertedLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	statuses := []string{"pending_approval", "executed", "rejected", "reversed"}
	var ts []risk.Outgoing
	for step := range 20 * risk.MaxScanned {
		x := risk.Outgoing{ID: fmt.Sprintf("trf_%04d", r.IntN(3*risk.MaxScanned)), Status: statuses[r.IntN(len(statuses))]}
		before := slices.Clone(ts)
		got := risk.Upserted(ts, x)
		if !slices.Equal(ts, before) {
			t.Fatalf("step %d: upserted changed its input", step)
		}
		if want := risk.Upsert(slices.Clone(ts), x); !slices.Equal(got, want) {
			t.Fatalf("step %d: upserted %v, upsert %v", step, got, want)
		}
		ts = got
	}
	if len(ts) != risk.MaxScanned {
		t.Fatalf("%d kept, want %d", len(ts), risk.MaxScanned)
	}
}
