package risk

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// benchSnapshot is a busy customer's snapshot, as in the HTTP benchmark:
// MaxScanned recent executed cash transfers to 19 other customers'
// accounts, and one session; and the Query of their next transfer.
func benchSnapshot(now time.Time) (*snapshot, Query) {
	s := &snapshot{at: store.Micros(now), created: store.Micros(now.Add(-time.Hour))}
	s.sessions = []sessionSeen{{id: "ses_1", ip: "127.0.0.1", userAgent: "fiscus-bench", createdAt: s.created}}
	accounts := make([]string, 19)
	for i := range accounts {
		accounts[i] = id.New("acc", now.Add(-time.Hour))
	}
	for i := range MaxScanned {
		at := now.Add(-time.Duration(i) * time.Millisecond)
		s.transfers = append(s.transfers, Outgoing{ID: benchTransferID(MaxScanned - i), Kind: "cash", Status: "executed",
			To: accounts[i%19], ToOwner: fmt.Sprintf("usr_%02d", i%19),
			Asset: "USD", Amount: int64(100 + i), CreatedAt: store.Micros(at)})
	}
	q := Query{UserID: "usr_self", Currency: "USD", Recipient: s.transfers[7].To, RecipientOwner: s.transfers[7].ToOwner,
		IP: "127.0.0.1", UserAgent: "fiscus-bench", SessionID: "ses_1",
		Now: now, Lookback: 30 * 24 * time.Hour, Window: time.Hour}
	return s, q
}

// benchTransferID is the n-th transfer's ID: IDs sort as n does.
func benchTransferID(n int) string { return fmt.Sprintf("trf_%026d", n) }

// BenchmarkSnapshotHistory is the fraud rules' per-transfer work when the
// cache answers: applying a Query to a snapshot.
func BenchmarkSnapshotHistory(b *testing.B) {
	s, q := benchSnapshot(time.Now())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		h, err := s.history(ctx, nil, q)
		if err != nil || h.RecentRecipients != 19 || !h.KnownRecipient || h.Transfers != MaxScanned {
			b.Fatalf("history %+v, %v", h, err)
		}
	}
}

// BenchmarkCacheObserve is the per-transfer work of telling the cache
// about a committed transfer of a customer it holds a snapshot of.
func BenchmarkCacheObserve(b *testing.B) {
	now := time.Now()
	s, q := benchSnapshot(now)
	c := NewCache(time.Hour, 0)
	_, stamp := c.lookup(q)
	c.store(q.UserID, s, stamp)
	t := Outgoing{Kind: "cash", Status: "executed", To: q.Recipient, ToOwner: q.RecipientOwner, Asset: "USD",
		Amount: 100, CreatedAt: store.Micros(now)}
	b.ReportAllocs()
	n := MaxScanned
	for b.Loop() {
		n++
		t.ID = benchTransferID(n) // newer than every transfer the cache holds
		c.Observe(q.UserID, t)
	}
}
