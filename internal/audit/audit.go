// Package audit is Fiscus's tamper-evident audit log: who did what to which
// object, when, from where and in which request.
//
// # Recording
//
// Domain code calls Record inside the same database transaction as the change
// it describes, so an event exists exactly when that change committed: a
// rolled-back transaction leaves no event behind, a committed one always has
// its event. Record only inserts a row. It takes no lock, reads nothing and
// does not look at the chain, so concurrent business transactions stay
// concurrent; the event is stored unsealed (no seq, no hash).
//
// # Sealing
//
// A Sealer links committed events into a hash chain. In one write transaction
// (at most MaxSealBatch events) it takes the unsealed events it can see, in
// insertion order, gives each the next chain sequence number seq (1, 2, 3, …
// without gaps) and stores
//
//	hash = SHA-256(prev_hash || canonical(event, seq))
//
// where prev_hash is the hash of event seq-1 (32 zero bytes for seq 1) and
// canonical is the versioned, length-prefixed encoding described at
// appendCanonical. A one-row head records the last seq and hash. Only one
// sealer works at a time: on PostgreSQL it holds a transaction-scoped advisory
// lock, on SQLite the single writer already serializes it. Chain order is
// therefore commit-visibility order, decided by the sealer: an event whose
// transaction commits late is simply sealed in a later round, with a later
// seq (on SQLite, with its single writer, chain order is commit order).
// Events of one transaction keep their relative Record order. Chain order is
// not the order of the events' At timestamps. The sealer refuses to extend a
// chain whose head disagrees with its newest sealed event (ErrHeadMismatch),
// so tampering at the end of the chain is not built upon.
//
// A writer that records many events per transaction (the posting engine)
// may instead seal them as it inserts them, with a Linker: in its own
// transaction it locks the head (PostgreSQL: the head row, which the sealer
// locks too), checks it against the newest sealed event, and inserts each
// event with the seq, prev_hash and hash the sealer would have given it.
// Such an event is written once and is never unsealed. The chain is the
// same one, with the same hashes, and Verify does not tell the two apart;
// chain order is then the order in which the sealer and the linkers took
// the head. Where the check fails, the Linker leaves its events unsealed
// for the sealer, which reports the mismatch.
//
// # Guarantee
//
// Verify (the `fiscus audit verify` command) walks the sealed events by seq,
// re-links and re-hashes every one of them and compares the end of the chain
// with the head. It detects, and names the first bad event for:
//   - modification of any stored field of a sealed event (its hash no longer
//     recomputes, or, if the hash was rewritten too, the next event's
//     prev_hash no longer links);
//   - deletion of a sealed event (a gap in seq), including the last ones (the
//     head records a later seq than the chain ends at);
//   - insertion of an event into the chain (seq values must be renumbered,
//     which breaks hashes and links; an event appended after the last one
//     disagrees with the head);
//   - reordering of events (swapped seq values break links and hashes).
//
// What it does not guarantee, stated plainly:
//   - Unsealed events are not protected yet, and Verify only counts them.
//     While the server runs, an event is sealed within about one
//     AUDIT_SEAL_INTERVAL_MS of its commit (later only if more than
//     MaxSealBatch×MaxSealRounds events wait, or if sealing fails, which is
//     logged), and once more at shutdown.
//   - The chain proves that sealed history was not changed, not who wrote a
//     row: anyone who can write to the table can add an unsealed row, which
//     the sealer then seals like any other.
//   - The hash is unkeyed, so that anyone can verify without a secret. Someone
//     who can write to the database and who recomputes every hash after the
//     point of tampering and rewrites the head produces a chain that verifies.
//     Deleting the newest events and rewriting the head to match is the
//     simplest case of this. The defence is a checkpoint kept outside the
//     database: Verify prints the head (seq and hash), and a later run given
//     that checkpoint (Options.Checkpoint, `--checkpoint seq:hash`) detects any
//     rewrite of the events up to it.
package audit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/fiscus/fiscus/internal/canon"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// IDPrefix is the type prefix of audit event IDs ("aud_…").
const IDPrefix = "aud"

// Limits on one event. They bound the row size (and so the cost of sealing
// and verifying it); exceeding one is a bug in the caller, reported as an
// error wrapping ErrInvalidEvent.
const (
	MaxActionLen     = 64       // bytes
	MaxTargetTypeLen = 64       // bytes
	MaxRefLen        = 128      // bytes of ActorID, TargetID and RequestID
	MaxIPLen         = 64       // bytes of the textual IP address
	MaxDetailsBytes  = 16 << 10 // bytes of the canonical JSON details
)

// Events happen in the years minYear to maxYear (UTC): within what an event
// ID (a ULID of At, milliseconds since 1970) can encode, with room to spare.
const (
	minYear = 1970
	maxYear = 9999
)

// inYears reports whether t is in the years events may happen in.
func inYears(t time.Time) bool {
	y := t.UTC().Year()
	return y >= minYear && y <= maxYear
}

// ErrInvalidEvent is wrapped by the errors Record returns for an event that
// breaks a rule (missing action, overlong field, details not a JSON object).
// Events are built by code, not by clients, so this is an internal error.
var ErrInvalidEvent = errors.New("invalid audit event")

// ActorKind says what kind of principal acted.
type ActorKind string

// Actor kinds.
const (
	ActorUser      ActorKind = "user"       // a signed-in user; ActorID is the user ID
	ActorAPIClient ActorKind = "api_client" // a signed API client; ActorID is the client ID
	ActorSystem    ActorKind = "system"     // the platform itself (a worker, a migration); ActorID optionally names the component
	ActorAnonymous ActorKind = "anonymous"  // an unauthenticated caller (for example a failed login); ActorID is empty
)

func (k ActorKind) valid() bool {
	switch k {
	case ActorUser, ActorAPIClient, ActorSystem, ActorAnonymous:
		return true
	}
	return false
}

// Event is what domain code records.
type Event struct {
	// At is when the action happened, from the caller's injected clock. It is
	// stored as Unix microseconds, UTC; finer precision is dropped.
	At time.Time
	// ActorKind is required; ActorID is required for users and API clients
	// and must be empty for anonymous actors.
	ActorKind ActorKind
	ActorID   string
	// Action is dotted lower-case: "auth.login_failed", "transfer.approved".
	// Segments are [a-z0-9_], start with a letter, and there are at least two.
	Action string
	// TargetType (a lower-case word such as "user" or "transfer") and
	// TargetID name the object acted on; both may be empty.
	TargetType string
	TargetID   string
	// RequestID correlates the event with logs; IP is the client address,
	// stored in canonical form (either may be empty for system events).
	RequestID string
	IP        string
	// Details is any value that marshals to a JSON object: a map, a struct,
	// or json.RawMessage, typically {"before": …, "after": …}. nil means {}.
	// It is stored canonically (compact, object keys sorted, numbers kept
	// as written) so the stored bytes, which are what is hashed, do not
	// depend on how the caller built the value.
	Details any
}

// Record stores e, unsealed, inside the caller's transaction and returns the
// new event's ID. It takes no lock and reads nothing, so it never serializes
// concurrent transactions; the Sealer links the event into the chain after
// the transaction commits. If the transaction rolls back, the event is gone
// with it.
func Record(ctx context.Context, tx *store.Tx, e Event) (string, error) {
	eventID, vals, err := Row(e)
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_events
		(id, at, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, vals...)
	if err != nil {
		return "", fmt.Errorf("record audit event %s: %w", e.Action, err)
	}
	return eventID, nil
}

// Table is the table events are recorded in.
const Table = "audit_events"

// Columns returns the columns Row fills, in order, for callers that insert
// events with other rows of theirs (the posting engine inserts a batch's
// events with one statement). The same rules as for Record apply: insert
// the row in the transaction of the change it describes.
func Columns() []string {
	return []string{"id", "at", "actor_kind", "actor_id", "action", "target_type", "target_id", "request_id", "ip", "details"}
}

// Row validates e and returns the new event's ID and its row values in
// Columns order.
func Row(e Event) (string, []any, error) {
	details, ip, err := e.validate()
	if err != nil {
		return "", nil, err
	}
	eventID := id.New(IDPrefix, e.At)
	return eventID, []any{eventID, store.Micros(e.At), string(e.ActorKind), e.ActorID, e.Action,
		e.TargetType, e.TargetID, e.RequestID, ip, string(details)}, nil
}

// validate checks e and returns its canonical details and IP address.
func (e Event) validate() (details []byte, ip string, err error) {
	bad := func(format string, args ...any) ([]byte, string, error) {
		return nil, "", fmt.Errorf("%w: %s", ErrInvalidEvent, fmt.Sprintf(format, args...))
	}
	if e.At.IsZero() {
		return bad("At is required")
	}
	if !inYears(e.At) {
		return bad("At %s is outside the years %d to %d", e.At.UTC().Format(time.RFC3339), minYear, maxYear)
	}
	if !canon.DottedName(e.Action, MaxActionLen) {
		return bad("action %q must be dotted lower-case words of at most %d bytes, like auth.login_failed", canon.Clip(e.Action), MaxActionLen)
	}
	if !e.ActorKind.valid() {
		return bad("actor kind %q is not user, api_client, system or anonymous", canon.Clip(string(e.ActorKind)))
	}
	switch {
	case (e.ActorKind == ActorUser || e.ActorKind == ActorAPIClient) && e.ActorID == "":
		return bad("actor kind %s needs an ActorID", e.ActorKind)
	case e.ActorKind == ActorAnonymous && e.ActorID != "":
		return bad("an anonymous actor has no ActorID")
	}
	if e.TargetType != "" && !canon.Word(e.TargetType, MaxTargetTypeLen) {
		return bad("target type %q must be a lower-case word of at most %d bytes", canon.Clip(e.TargetType), MaxTargetTypeLen)
	}
	for _, f := range []struct{ name, v string }{{"ActorID", e.ActorID}, {"TargetID", e.TargetID}, {"RequestID", e.RequestID}} {
		if !canon.Text(f.v, MaxRefLen) {
			return bad("%s must be at most %d bytes of printable UTF-8", f.name, MaxRefLen)
		}
	}
	if e.IP != "" {
		a, err := netip.ParseAddr(e.IP)
		if err != nil || len(e.IP) > MaxIPLen {
			return bad("IP %q is not an IP address", canon.Clip(e.IP))
		}
		ip = a.String()
	}
	details, err = canon.Object(e.Details, MaxDetailsBytes)
	if err != nil {
		return bad("details: %v", err)
	}
	return details, ip, nil
}
