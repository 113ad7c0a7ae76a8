// Package outbox is Fiscus's transactional outbox: domain events
// ("transfer.created", "transfer.executed", …) are stored in the same
// database transaction as the change they describe, and a Dispatcher
// delivers them after commit, in one total order, to in-process subscribers
// (the web app's live updates; webhooks and a message bus later).
//
// # Recording
//
// Domain code calls Record inside the transaction of the change, or, for an
// operation of the posting engine, adds a row built by Row (with Table and
// Columns) to the operation's rows. Either way it is one INSERT: no lock, no
// read, so recording never serializes concurrent transactions. A rolled-back
// transaction leaves no event behind and a committed one always has its
// events. Nothing is published from inside a transaction.
//
// # Sequencing
//
// An event is stored unsequenced. The sequencer (Dispatcher.SequenceOnce,
// run by Run) gives committed, unsequenced events the next sequence numbers
// seq = 1, 2, 3, … without gaps, in its own transaction, at most
// MaxSequenceBatch at a time. Only one sequencer works at a time: on
// PostgreSQL it holds a transaction-scoped advisory lock, so any number of
// replicas may run Run; on SQLite the single writer already serializes it.
// The lock is released only after the sequencer's commit is visible, so a
// later round sees every earlier one, and a reader's snapshot always
// contains a prefix 1..n of the sequence: reading "seq > cursor" never skips
// an event. The insertion key (an identity column) could not serve as that
// order, because keys are taken at insert time and transactions commit out
// of that order on PostgreSQL.
//
// A writer that records many events per transaction (the posting engine)
// may instead number them as it inserts them, with a Linker: it locks the
// head row in its own transaction (the sequencer locks that row too, after
// its advisory lock), so the two take turns in the same way and the
// guarantees above hold for both.
//
// seq is therefore commit-visibility order, not the order of the events' At
// times. Events of one transaction keep their relative Record order, and an
// event of a transaction that began after another committed comes after that
// one's events. Two changes to one aggregate are serialized by the database
// (the second transaction reads or locks the row the first wrote), so
// events are in order per aggregate.
//
// # Delivery
//
// Each subscriber has a name and a durable cursor, a row of outbox_cursors:
// the last seq its handler accepted. Run delivers to every subscriber, each
// in its own goroutine, the events with seq greater than its cursor, in seq
// order, one handler call at a time, reading at most Options.BatchSize events
// per round. After the handler returns nil for some events the cursor moves
// to the last of them (at the end of the round, or, with
// Options.CursorInterval, at the end of a later round once that interval has
// passed since the last write; a round whose handler failed writes it at
// once). A handler
// error, panic (recovered) or timeout stops that subscriber at that event:
// nothing after it is delivered to it before it succeeds, and it is retried
// after a backoff (Options.RetryMin doubling up to Options.RetryMax). Other
// subscribers are not held up.
//
// Delivery is at least once: if the process stops between a handler's
// success and the cursor write (a crash, or Run's context ending, which
// does not save progress), the events since the persisted cursor are
// delivered again when a dispatcher next runs with that subscriber name.
// Handlers must be idempotent; Delivery.ID (or Seq) identifies an event.
//
// A new subscriber name starts at cursor 0: it receives every event still
// retained (see Prune), oldest first.
//
// # Several processes
//
// Cursors are keyed by subscriber name and shared by every process using the
// database; each process delivers only to the subscribers registered in it.
// A subscriber name is meant to be active in one running process at a time:
//   - a consumer that every process needs (the web app's live updates, which
//     go to that process's own connections) takes a name unique and stable
//     per process, such as "live:" + a replica ID;
//   - a consumer that must see each event once across the cluster (webhooks)
//     runs in one process.
//
// If two processes do run one name, each still delivers every event after
// the cursor it started from, in order (so the consumer sees duplicates),
// and the shared cursor only moves forward. A cursor whose subscriber is gone
// for good holds Prune back until removed with DeleteCursor.
//
// # Retention
//
// Events stay after delivery. Prune deletes sequenced events older than a
// given time that every cursor in outbox_cursors has passed; it never
// deletes an unsequenced event, or one some cursor (including one of the
// pruning dispatcher's own subscribers that has not run yet) still needs.
// With no cursor at all it deletes nothing.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fiscus/fiscus/internal/canon"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// IDPrefix is the type prefix of event IDs ("evt_…").
const IDPrefix = "evt"

// Limits on one event. Exceeding one is a bug in the caller, reported as an
// error wrapping ErrInvalidEvent.
const (
	MaxAggregateLen   = 64       // bytes of Aggregate
	MaxAggregateIDLen = 128      // bytes of AggregateID
	MaxTypeLen        = 64       // bytes of Type
	MaxDataBytes      = 32 << 10 // bytes of the canonical JSON data
)

// Events happen in the years minYear to maxYear (UTC): within what an event
// ID (a ULID of At, milliseconds since 1970) can encode.
const (
	minYear = 1970
	maxYear = 9999
)

// ErrInvalidEvent is wrapped by the errors Row and Record return for an
// event that breaks a rule. Events are built by code, not by clients, so
// this is an internal error.
var ErrInvalidEvent = errors.New("invalid outbox event")

// Event is what domain code records.
type Event struct {
	// Aggregate names the kind of object that changed, a lower-case word:
	// "transfer".
	Aggregate string
	// AggregateID is the object's ID: "trf_…". Required.
	AggregateID string
	// Type is what happened, dotted lower-case with at least two segments,
	// by convention the aggregate first: "transfer.created". Segments are
	// [a-z0-9_] and start with a letter.
	Type string
	// At is when it happened, from the caller's injected clock. It is stored
	// as Unix microseconds, UTC; finer precision is dropped.
	At time.Time
	// Data is any value that marshals to a JSON object (a struct, a map,
	// json.RawMessage); nil means {}. It is stored canonically (compact,
	// object keys sorted, numbers kept as written). In a Delivery it is the
	// stored json.RawMessage.
	Data any
}

// Table is the table events are recorded in.
const Table = "outbox_events"

// Columns returns the columns Row fills, in order, for callers that insert
// events with rows of their own (the posting engine's operation rows). As
// with Record, insert the row in the transaction of the change it describes.
func Columns() []string {
	return []string{"id", "aggregate", "aggregate_id", "type", "at", "data"}
}

// Row validates e and returns the new event's ID and its row values in
// Columns order.
func Row(e Event) (string, []any, error) {
	data, err := e.validate()
	if err != nil {
		return "", nil, err
	}
	eventID := id.New(IDPrefix, e.At)
	return eventID, []any{eventID, e.Aggregate, e.AggregateID, e.Type, store.Micros(e.At), string(data)}, nil
}

// Record stores e, unsequenced, inside the caller's transaction and returns
// the new event's ID. It takes no lock and reads nothing. The event is
// delivered only if and after the transaction commits.
func Record(ctx context.Context, tx *store.Tx, e Event) (string, error) {
	eventID, vals, err := Row(e)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox_events (id, aggregate, aggregate_id, type, at, data)
		VALUES (?, ?, ?, ?, ?, ?)`, vals...)
	if err != nil {
		return "", fmt.Errorf("record outbox event %s: %w", e.Type, err)
	}
	return eventID, nil
}

// validate checks e and returns its canonical data.
func (e Event) validate() ([]byte, error) {
	bad := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	if !canon.Word(e.Aggregate, MaxAggregateLen) {
		return bad("aggregate %q must be a lower-case word of at most %d bytes, like transfer", canon.Clip(e.Aggregate), MaxAggregateLen)
	}
	if e.AggregateID == "" || !canon.Text(e.AggregateID, MaxAggregateIDLen) {
		return bad("aggregate ID must be 1 to %d bytes of printable UTF-8", MaxAggregateIDLen)
	}
	if !canon.DottedName(e.Type, MaxTypeLen) {
		return bad("type %q must be dotted lower-case words of at most %d bytes, like transfer.created", canon.Clip(e.Type), MaxTypeLen)
	}
	if e.At.IsZero() {
		return bad("At is required")
	}
	if y := e.At.UTC().Year(); y < minYear || y > maxYear {
		return bad("At %s is outside the years %d to %d", e.At.UTC().Format(time.RFC3339), minYear, maxYear)
	}
	data, err := canon.Object(e.Data, MaxDataBytes)
	if err != nil {
		return bad("data: %v", err)
	}
	return data, nil
}
