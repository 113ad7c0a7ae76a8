package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/fiscus/fiscus/internal/canon"
	"github.com/fiscus/fiscus/internal/fault"
	"github.com/fiscus/fiscus/internal/id"
	"github.com/fiscus/fiscus/internal/store"
)

// Page sizes of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// Entry is a stored event as read back.
type Entry struct {
	ID         string
	Seq        int64 // chain position; 0 while unsealed
	At         time.Time
	ActorKind  ActorKind
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	RequestID  string
	IP         string
	Details    json.RawMessage // canonical JSON object
	PrevHash   []byte          // nil while unsealed
	Hash       []byte          // nil while unsealed
}

// Sealed reports whether the event is linked into the chain.
func (e Entry) Sealed() bool { return e.Seq > 0 }

// Filter selects events for List. Empty fields do not filter.
type Filter struct {
	ActorID string
	// Action is an exact action ("auth.login_failed") or a prefix ending in
	// ".*" ("auth.*" matches every action starting with "auth.").
	Action     string
	TargetType string
	TargetID   string
	From, To   time.Time // At in [From, To)
	Cursor     string    // NextCursor of the previous page
	Limit      int       // 0: DefaultListLimit; at most MaxListLimit
}

// Page is one page of events, newest first.
type Page struct {
	Events     []Entry
	NextCursor string // "" on the last page
}

const entryColumns = `pos, id, seq, at, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details, prev_hash, hash`

// List returns events matching f, newest first (by insertion), sealed or
// not. Filters come from clients, so a bad one is a fault.Invalid error
// naming the field.
func List(ctx context.Context, tx *store.Tx, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = DefaultListLimit
	case limit < 0 || limit > MaxListLimit:
		return Page{}, fault.Invalidf("limit", "out_of_range", "limit must be between 1 and %d", MaxListLimit)
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	var cursor int64
	if f.Cursor != "" {
		pos, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || pos < 1 {
			return Page{}, fault.Invalidf("cursor", "invalid", "cursor is not one this API returned")
		}
		cursor = pos
		add("pos < ?", pos)
	}
	for _, v := range []struct{ field, value string }{{"actor_id", f.ActorID}, {"target_id", f.TargetID}} {
		if !canon.Text(v.value, MaxRefLen) {
			return Page{}, fault.Invalidf(v.field, "invalid", "must be at most %d bytes of printable text", MaxRefLen)
		}
	}
	if f.TargetType != "" && !canon.Word(f.TargetType, MaxTargetTypeLen) {
		return Page{}, fault.Invalidf("target_type", "invalid", "must be a lower-case word like transfer")
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		if prefix, ok := strings.CutSuffix(f.Action, ".*"); ok {
			if !canon.DottedName(prefix+".x", MaxActionLen) {
				return Page{}, fault.Invalidf("action", "invalid", "action must be an action or a prefix like auth.*")
			}
			// A byte range ('/' follows '.'), so the action index serves it.
			add("action >= ? AND action < ?", prefix+".", prefix+"/")
		} else {
			if !canon.DottedName(f.Action, MaxActionLen) {
				return Page{}, fault.Invalidf("action", "invalid", "action must be an action or a prefix like auth.*")
			}
			add("action = ?", f.Action)
		}
	}
	if f.TargetType != "" {
		add("target_type = ?", f.TargetType)
	}
	if f.TargetID != "" {
		add("target_id = ?", f.TargetID)
	}
	// Event IDs are ULIDs of At to the millisecond, so an ID range narrows a
	// time range through the id index; the exact bounds are on at.
	if !f.From.IsZero() {
		if inYears(f.From) {
			add("id >= ?", idFloor(f.From))
		}
		add("at >= ?", store.Micros(f.From))
	}
	if !f.To.IsZero() {
		if inYears(f.To) && inYears(f.To.Add(time.Millisecond)) {
			add("id < ?", idFloor(f.To.Add(time.Millisecond)))
		}
		add("at < ?", store.Micros(f.To))
	}
	q, args := listQuery(tx.Dialect(), f.ActorID, cursor, where, args, limit+1)

	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var page Page
	var lastPos int64
	for rows.Next() {
		if len(page.Events) == limit {
			page.NextCursor = strconv.FormatInt(lastPos, 10)
			break
		}
		e, pos, err := scanEntry(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list audit events: %w", err)
		}
		page.Events = append(page.Events, e)
		lastPos = pos
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list audit events: %w", err)
	}
	return page, nil
}

// listQuery returns List's query: the first n events, newest first, that
// match where (conditions ANDed, with args, among them actor_id = actor
// and pos < cursor when set). On SQLite an actor's events are read through
// the bulk index audit_actors (ActorsIndex) up to its mark, newest first
// through its range and cut to n, and the events past the mark, read by
// pos only (NOT INDEXED); on PostgreSQL, and without an actor, with one
// scan.
func listQuery(d store.Dialect, actor string, cursor int64, where []string, args []any, n int) (string, []any) {
	filter := ""
	if len(where) > 0 {
		filter = ` AND ` + strings.Join(where, " AND ")
	}
	if actor == "" || d != store.SQLite {
		return `SELECT ` + entryColumns + ` FROM audit_events WHERE true` + filter + ` ORDER BY pos DESC LIMIT ?`, append(args, n)
	}
	cond := `i.actor = ?`
	all := []any{actor}
	if cursor > 0 {
		cond += ` AND i.event_pos < ?`
		all = append(all, cursor)
	}
	all = append(append(all, args...), n)
	all = append(append(all, args...), n, n)
	return `SELECT * FROM (SELECT ` + entryColumns + ` FROM audit_actors i CROSS JOIN audit_events ON audit_events.pos = i.event_pos
			WHERE ` + cond + filter + ` ORDER BY i.event_pos DESC LIMIT ?)
		UNION ALL SELECT * FROM (SELECT ` + entryColumns + ` FROM audit_events NOT INDEXED
			WHERE pos > ` + store.BulkMark(ActorsIndex.Name) + filter + ` ORDER BY pos DESC LIMIT ?)
		ORDER BY 1 DESC LIMIT ?`, all
}

// ActorsIndex is the bulk index of each audit event's actor (SQLite; see
// store.BulkIndex).
var ActorsIndex = store.BulkIndex{
	Name:   "audit_actors",
	Source: "audit_events",
	Key:    "pos",
	Fill: []string{`INSERT INTO audit_actors (actor, event_pos)
		SELECT actor_id, pos FROM audit_events WHERE pos > ? AND pos <= ? ORDER BY 1, 2`},
}

// Get returns one event; a missing or malformed ID is a fault.NotFound error.
func Get(ctx context.Context, tx *store.Tx, eventID string) (Entry, error) {
	if !id.Valid(IDPrefix, eventID) {
		return Entry{}, fault.New(fault.NotFound, "No such audit event.")
	}
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_events WHERE id = ?`, eventID)
	if err != nil {
		return Entry{}, fmt.Errorf("get audit event: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("get audit event: %w", err)
		}
		return Entry{}, fault.New(fault.NotFound, "No such audit event.")
	}
	e, _, err := scanEntry(rows)
	if err != nil {
		return Entry{}, fmt.Errorf("get audit event: %w", err)
	}
	return e, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEntry(r scanner) (Entry, int64, error) {
	var (
		e       Entry
		pos, at int64
		seq     *int64
		kind    string
		details string
	)
	if err := r.Scan(&pos, &e.ID, &seq, &at, &kind, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID,
		&e.RequestID, &e.IP, &details, &e.PrevHash, &e.Hash); err != nil {
		return Entry{}, 0, err
	}
	if seq != nil {
		e.Seq = *seq
	}
	e.At = store.FromMicros(at)
	e.ActorKind = ActorKind(kind)
	e.Details = json.RawMessage(details)
	return e, pos, nil
}

// idFloor is the smallest event ID Record can give an event at t's
// millisecond (a ULID with all-zero entropy).
func idFloor(t time.Time) string {
	var u ulid.ULID
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		return IDPrefix + "_"
	}
	return IDPrefix + "_" + u.String()
}
