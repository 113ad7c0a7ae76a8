// Package live fans domain events out to in-process listeners, such as the
// web app's live-update streams. The outbox dispatcher feeds the hub (in
// order, at least once); each listener gets a bounded buffer, and a listener
// that falls behind is cut off (its channel closed) rather than allowed to
// slow the others or grow memory: it reconnects and reloads what it shows.
package live

import (
	"sync"

	"github.com/fiscus/fiscus/internal/outbox"
)

// DefaultBuffer is a listener's buffer when Subscribe is given none.
const DefaultBuffer = 256

// Hub is a set of listeners. The zero value is not usable; use New.
type Hub struct {
	mu        sync.Mutex
	listeners map[*listener]struct{}
	dropped   int64
}

type listener struct {
	ch     chan outbox.Delivery
	filter func(outbox.Delivery) bool
}

// New returns an empty hub.
func New() *Hub { return &Hub{listeners: map[*listener]struct{}{}} }

// Subscribe registers a listener for the deliveries filter accepts (nil:
// all) with a buffer of n (0: DefaultBuffer). The channel is closed when
// cancel is called or when the listener fell behind by a full buffer.
func (h *Hub) Subscribe(n int, filter func(outbox.Delivery) bool) (<-chan outbox.Delivery, func()) {
	if n <= 0 {
		n = DefaultBuffer
	}
	l := &listener{ch: make(chan outbox.Delivery, n), filter: filter}
	h.mu.Lock()
	h.listeners[l] = struct{}{}
	h.mu.Unlock()
	return l.ch, func() { h.remove(l) }
}

func (h *Hub) remove(l *listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.listeners[l]; ok {
		delete(h.listeners, l)
		close(l.ch)
	}
}

// Publish hands d to every listener that wants it, never blocking.
func (h *Hub) Publish(d outbox.Delivery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.listeners {
		if l.filter != nil && !l.filter(d) {
			continue
		}
		select {
		case l.ch <- d:
		default:
			delete(h.listeners, l)
			close(l.ch)
			h.dropped++
		}
	}
}

// Stats are the hub's listener count and how many were cut off.
func (h *Hub) Stats() (listeners int, dropped int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.listeners), h.dropped
}
