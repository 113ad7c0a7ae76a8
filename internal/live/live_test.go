package live

import (
	"testing"

	"github.com/fiscus/fiscus/internal/outbox"
)

func delivery(seq int64, typ string) outbox.Delivery {
	return outbox.Delivery{Seq: seq, Event: outbox.Event{Type: typ}}
}

func TestFanOutInOrder(t *testing.T) {
	h := New()
	all, cancelAll := h.Subscribe(10, nil)
	defer cancelAll()
	executed, cancelExec := h.Subscribe(10, func(d outbox.Delivery) bool { return d.Event.Type == "transfer.executed" })
	defer cancelExec()
	for i, typ := range []string{"transfer.created", "transfer.executed", "transfer.created", "transfer.executed"} {
		h.Publish(delivery(int64(i+1), typ))
	}
	for want := int64(1); want <= 4; want++ {
		if d := <-all; d.Seq != want {
			t.Fatalf("got seq %d, want %d", d.Seq, want)
		}
	}
	for _, want := range []int64{2, 4} {
		if d := <-executed; d.Seq != want || d.Event.Type != "transfer.executed" {
			t.Fatalf("filtered listener got %+v, want seq %d", d, want)
		}
	}
}

func TestSlowListenerIsCutOffOthersGoOn(t *testing.T) {
	h := New()
	slow, _ := h.Subscribe(2, nil)
	fast, cancel := h.Subscribe(10, nil)
	defer cancel()
	for i := range 5 {
		h.Publish(delivery(int64(i+1), "x.y"))
	}
	n := 0
	for range slow { // two buffered, then closed
		n++
	}
	if n != 2 {
		t.Fatalf("the slow listener got %d before being cut off, want its buffer of 2", n)
	}
	for want := int64(1); want <= 5; want++ {
		if d := <-fast; d.Seq != want {
			t.Fatalf("the fast listener got %d, want %d", d.Seq, want)
		}
	}
	if l, dropped := h.Stats(); l != 1 || dropped != 1 {
		t.Fatalf("stats %d listeners, %d dropped", l, dropped)
	}
}

func TestCancelClosesOnce(t *testing.T) {
	h := New()
	ch, cancel := h.Subscribe(0, nil)
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
	h.Publish(delivery(1, "x.y")) // no listener: no panic
}
