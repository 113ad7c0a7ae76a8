package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiscus/fiscus/internal/store"
)

// DefaultProgressInterval is how often Verify writes a progress line.
const DefaultProgressInterval = time.Second

// ErrBroken is wrapped by the error Verify returns when the chain is broken.
var ErrBroken = errors.New("audit chain is broken")

// Checkpoint pins the chain at one point: the hash of the event at Seq.
// Verify prints the head as a checkpoint; kept outside the database and
// passed back in Options, it detects a rewrite of every event up to Seq,
// even one that recomputed all hashes.
type Checkpoint struct {
	Seq  int64
	Hash []byte
}

// String renders the checkpoint as "seq:hex", the form ParseCheckpoint reads.
func (c Checkpoint) String() string {
	return strconv.FormatInt(c.Seq, 10) + ":" + hex.EncodeToString(c.Hash)
}

// ParseCheckpoint reads "seq:hex" (a positive seq and a 64-digit hash).
func ParseCheckpoint(s string) (Checkpoint, error) {
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: want seq:hash with a positive seq", s)
	}
	h, err := hex.DecodeString(hashText)
	if err != nil || len(h) != HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: the hash must be %d hex digits", s, 2*HashSize)
	}
	return Checkpoint{Seq: seq, Hash: h}, nil
}

// Options tune Verify. The zero value is fine.
type Options struct {
	// Progress, when set, receives a line about every ProgressInterval
	// (default DefaultProgressInterval) while Verify runs.
	Progress         io.Writer
	ProgressInterval time.Duration
	// Now is the clock for progress and Elapsed (default time.Now).
	Now func() time.Time
	// Workers is how many seq ranges are read and hashed in parallel
	// (default GOMAXPROCS); short chains use one.
	Workers int
	// Checkpoint, when set, must match the event at its seq.
	Checkpoint *Checkpoint

	// minRange overrides minRangeEvents (tests split short chains).
	minRange int64
}

// ProblemKind classifies what is wrong at the first bad event.
type ProblemKind string

// Problem kinds.
const (
	ProblemMissing      ProblemKind = "missing"             // an event is absent from the middle of the chain
	ProblemBadSeq       ProblemKind = "bad_seq"             // a seq that cannot be there (zero or negative)
	ProblemBrokenLink   ProblemKind = "broken_link"         // prev_hash is not the previous event's hash
	ProblemHashMismatch ProblemKind = "hash_mismatch"       // the stored hash does not match the event's contents
	ProblemTruncated    ProblemKind = "truncated"           // the chain ends before the head's seq
	ProblemBeyondHead   ProblemKind = "beyond_head"         // events exist after the head's seq
	ProblemHeadMismatch ProblemKind = "head_mismatch"       // the head's hash is not the last event's hash
	ProblemHeadMissing  ProblemKind = "head_missing"        // the head row is gone or malformed
	ProblemCheckpoint   ProblemKind = "checkpoint_mismatch" // the event at the checkpoint's seq is missing or differs
)

// Problem is the first bad event Verify found.
type Problem struct {
	Seq    int64       // chain position where verification failed
	ID     string      // the event found at Seq ("" when it is missing)
	Kind   ProblemKind //
	Detail string      // for people
}

func (p Problem) String() string {
	who := "seq " + strconv.FormatInt(p.Seq, 10)
	if p.ID != "" {
		who += " (" + p.ID + ")"
	}
	return fmt.Sprintf("first bad event at %s: %s: %s", who, p.Kind, p.Detail)
}

// BrokenError is the error Verify returns for a broken chain.
type BrokenError struct{ Problem Problem }

func (e *BrokenError) Error() string { return "audit chain is broken: " + e.Problem.String() }

// Is makes errors.Is(err, ErrBroken) true.
func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// Report is the outcome of Verify.
type Report struct {
	Verified int64      // sealed events found intact (before the first problem, if any)
	Unsealed int64      // events not sealed yet, so not verified
	Head     Checkpoint // the stored head (Seq 0: nothing sealed)
	FirstBad *Problem   // nil when the chain is intact
	Elapsed  time.Duration
}

// Verify checks the sealed chain: seq runs 1, 2, 3 … without gaps, each
// prev_hash is the previous event's hash (genesis for seq 1), each hash
// recomputes from the event's contents, the head names the last event, and
// the optional checkpoint matches. It reports the first bad event. A broken
// chain returns the report and an error wrapping ErrBroken (a *BrokenError);
// any other error means verification itself failed.
//
// Speed: the head, the unsealed count and the newest seq are read in one
// snapshot; then the chain [1, newest] is split into up to Options.Workers
// seq ranges that are read, linked and hashed in parallel, each in its own
// read transaction, and stitched together in order (the first event of each
// range must link to the last event of the one before). Sealed events never
// change legitimately and sealing only appends beyond the newest seq, so
// this checks exactly the chain as it stood when Verify started; a change to
// sealed rows made while it runs is tampering that this run or the next
// reports.
func Verify(ctx context.Context, db *store.DB, opt Options) (Report, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.ProgressInterval <= 0 {
		opt.ProgressInterval = DefaultProgressInterval
	}
	v := &verifier{opt: opt, start: opt.Now()}
	v.nextReport = v.start.Add(opt.ProgressInterval)
	v.stopAt.Store(math.MaxInt64)
	rep, err := v.run(ctx, db)
	rep.Elapsed = opt.Now().Sub(v.start)
	if err != nil {
		return rep, fmt.Errorf("verify audit chain: %w", err)
	}
	if rep.FirstBad != nil {
		return rep, &BrokenError{Problem: *rep.FirstBad}
	}
	return rep, nil
}

// Verification sizes.
const (
	// minRangeEvents is the smallest seq range worth a reader of its own.
	minRangeEvents = 64 << 10
	// progressEvery is how many events a reader verifies between looks at
	// the clock for a progress line.
	progressEvery = 4096
)

type verifier struct {
	opt   Options
	start time.Time
	// stopAt is the lowest seq at which a reader found a problem: readers
	// stop before it, since only the first problem is reported.
	stopAt atomic.Int64
	done   atomic.Int64 // events verified so far, for progress
	total  int64

	mu         sync.Mutex // guards nextReport and calls of opt.Now after the start
	nextReport time.Time
}

// seqRange is one reader's share of the chain and what it found there.
type seqRange struct {
	lo, hi int64 // the range; the first range also takes seq < lo (which are bad)

	n            int64    // events read and found intact
	read         bool     // whether any event was read
	first        eventRef // the first event read (seq and id), intact or not
	firstPrev    []byte   // its prev_hash, checked against the previous range when stitching
	last         eventRef // the last event read and found intact
	problem      *Problem // the first problem inside the range
	beyondHeadID string   // the ID of the event at head seq + 1, if in range
}

type eventRef struct {
	seq  int64
	id   string
	hash [HashSize]byte
}

func (v *verifier) run(ctx context.Context, db *store.DB) (Report, error) {
	var (
		rep      Report
		headHash []byte
		headOK   bool
		tip      int64
	)
	err := db.Read(ctx, func(tx *store.Tx) error {
		rep = Report{}
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&rep.Head.Seq, &headHash)
		if err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("read head: %w", err)
		}
		headOK = err == nil && len(headHash) == HashSize && rep.Head.Seq >= 0
		rep.Head.Hash = headHash
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events WHERE seq IS NULL`).Scan(&rep.Unsealed); err != nil {
			return fmt.Errorf("count unsealed events: %w", err)
		}
		err = tx.QueryRow(ctx, `SELECT seq FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`).Scan(&tip)
		if err != nil && !store.IsNotFound(err) {
			return fmt.Errorf("read the newest seq: %w", err)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	v.total = tip

	minRange := int64(minRangeEvents)
	if v.opt.minRange > 0 {
		minRange = v.opt.minRange
	}
	ranges := splitRanges(tip, v.opt.Workers, minRange)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ranges))
	for i := range ranges {
		wg.Go(func() {
			errs[i] = db.Read(rctx, func(tx *store.Tx) error {
				return v.readRange(rctx, tx, &ranges[i], rep.Head.Seq, headOK)
			})
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}

	last, beyondHeadID, first := stitch(ranges)
	if first != nil {
		rep.FirstBad = first
		rep.Verified = max(0, first.Seq-1)
		return rep, nil
	}
	rep.Verified = last.seq
	cp := v.opt.Checkpoint
	switch {
	case !headOK:
		rep.FirstBad = &Problem{Seq: last.seq, ID: last.id, Kind: ProblemHeadMissing,
			Detail: "the chain head row is missing or malformed, so removal of the newest events cannot be ruled out"}
	case rep.Head.Seq > last.seq:
		rep.FirstBad = &Problem{Seq: last.seq + 1, Kind: ProblemTruncated,
			Detail: fmt.Sprintf("the chain ends at seq %d but the head records seq %d: the newest events were removed", last.seq, rep.Head.Seq)}
	case rep.Head.Seq < last.seq:
		rep.FirstBad = &Problem{Seq: rep.Head.Seq + 1, ID: beyondHeadID, Kind: ProblemBeyondHead,
			Detail: fmt.Sprintf("the head records seq %d but events run to seq %d: events were added outside the sealer", rep.Head.Seq, last.seq)}
	case !bytes.Equal(rep.Head.Hash, last.hash[:]):
		rep.FirstBad = &Problem{Seq: last.seq, ID: last.id, Kind: ProblemHeadMismatch,
			Detail: "the head's hash is not this event's hash"}
	case cp != nil && cp.Seq > last.seq:
		rep.FirstBad = &Problem{Seq: last.seq + 1, Kind: ProblemCheckpoint,
			Detail: fmt.Sprintf("the checkpoint is at seq %d but the chain ends at seq %d", cp.Seq, last.seq)}
	}
	if rep.FirstBad != nil {
		rep.Verified = min(rep.Verified, max(0, rep.FirstBad.Seq-1))
	}
	return rep, nil
}

// splitRanges divides [1, tip] into at most workers ranges of at least
// minRange events (one range, possibly empty, for a short chain).
func splitRanges(tip int64, workers int, minRange int64) []seqRange {
	n := max(1, min(int64(workers), tip/minRange))
	size := (tip + n - 1) / n
	if size > 0 {
		n = (tip + size - 1) / size // no empty range at the end
	}
	out := make([]seqRange, 0, n)
	for k := range n {
		out = append(out, seqRange{lo: k*size + 1, hi: min((k+1)*size, tip)})
	}
	return out
}

// stitch walks the ranges in order and returns the chain's last intact
// event and the first problem: inside a range, at the seam between two
// ranges, or a range that ends early. Ranges after the first problem may
// have stopped early and are not looked at.
func stitch(ranges []seqRange) (last eventRef, beyondHeadID string, first *Problem) {
	last.hash = genesis
	for i := range ranges {
		r := &ranges[i]
		if r.beyondHeadID != "" {
			beyondHeadID = r.beyondHeadID
		}
		if r.read && r.first.seq == r.lo && r.first.seq > 0 && !bytes.Equal(r.firstPrev, last.hash[:]) {
			return last, "", &Problem{Seq: r.first.seq, ID: r.first.id, Kind: ProblemBrokenLink,
				Detail: "prev_hash is not the hash of " + describe(last) + ": events were inserted, removed, reordered or rewritten here"}
		}
		if r.problem != nil {
			return last, "", r.problem
		}
		if r.n > 0 {
			last = r.last
		}
		if last.seq < r.hi {
			// The range ends early: the next event read, if any, is later.
			detail := fmt.Sprintf("event seq %d is missing: after %s the chain ends", last.seq+1, describe(last))
			for _, next := range ranges[i+1:] {
				if next.read {
					detail = fmt.Sprintf("event seq %d is missing: after %s comes seq %d (%s)", last.seq+1, describe(last), next.first.seq, next.first.id)
					break
				}
			}
			return last, "", &Problem{Seq: last.seq + 1, Kind: ProblemMissing, Detail: detail}
		}
	}
	return last, beyondHeadID, nil
}

func describe(e eventRef) string {
	if e.seq == 0 {
		return "the start of the chain"
	}
	return fmt.Sprintf("seq %d (%s)", e.seq, e.id)
}

// readRange reads one seq range in order, checking seq, links (except the
// first event's, which stitch checks), hashes and the checkpoint.
func (v *verifier) readRange(ctx context.Context, tx *store.Tx, r *seqRange, headSeq int64, headOK bool) error {
	const cols = `SELECT seq, at, id, actor_kind, actor_id, action, target_type, target_id, request_id, ip, details, prev_hash, hash FROM audit_events `
	q, args := cols+`WHERE seq IS NOT NULL AND seq <= ? ORDER BY seq`, []any{r.hi}
	if r.lo > 1 {
		q, args = cols+`WHERE seq >= ? AND seq <= ? ORDER BY seq`, []any{r.lo, r.hi}
	}
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read sealed events: %w", err)
	}
	defer rows.Close()

	var (
		f          fields[sql.RawBytes]
		prev, hash sql.RawBytes
		seq, at    int64
		input      []byte
		lastID     []byte
		unreported int64
		cp         = v.opt.Checkpoint
	)
	defer func() { v.done.Add(unreported) }()
	fail := func(p Problem) error {
		r.problem = &p
		v.stop(p.Seq)
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(&seq, &at, &f.ID, &f.ActorKind, &f.ActorID, &f.Action, &f.TargetType, &f.TargetID,
			&f.RequestID, &f.IP, &f.Details, &prev, &hash); err != nil {
			return fmt.Errorf("read sealed events: %w", err)
		}
		if seq >= v.stopAt.Load() {
			break
		}
		id := func() string { return string(f.ID) } // converted only when needed: this loop runs millions of times
		want := r.lo
		if r.n > 0 {
			want = r.last.seq + 1
		} else {
			// The first event's link is checked when stitching, and takes
			// precedence over what else may be wrong with it.
			r.read, r.first, r.firstPrev = true, eventRef{seq: seq, id: id()}, bytes.Clone(prev)
		}
		switch {
		case seq < 1:
			return fail(Problem{Seq: seq, ID: id(), Kind: ProblemBadSeq, Detail: fmt.Sprintf("seq %d is not a chain position", seq)})
		case seq != want:
			return fail(Problem{Seq: want, Kind: ProblemMissing,
				Detail: fmt.Sprintf("event seq %d is missing: after seq %d comes seq %d (%s)", want, want-1, seq, id())})
		case r.n > 0 && !bytes.Equal(prev, r.last.hash[:]):
			return fail(Problem{Seq: seq, ID: id(), Kind: ProblemBrokenLink,
				Detail: fmt.Sprintf("prev_hash is not the hash of seq %d (%s): events were inserted, removed, reordered or rewritten here", r.last.seq, lastID)})
		case len(prev) != HashSize || len(hash) != HashSize:
			return fail(Problem{Seq: seq, ID: id(), Kind: ProblemHashMismatch,
				Detail: fmt.Sprintf("prev_hash and hash must be %d bytes, not %d and %d", HashSize, len(prev), len(hash))})
		}
		input = chainInput(input[:0], prev, seq, at, &f)
		if sum := sha256.Sum256(input); !bytes.Equal(sum[:], hash) {
			return fail(Problem{Seq: seq, ID: id(), Kind: ProblemHashMismatch,
				Detail: "the stored hash does not match the event's contents: the event was modified"})
		}
		if cp != nil && seq == cp.Seq && !bytes.Equal(hash, cp.Hash) {
			return fail(Problem{Seq: seq, ID: id(), Kind: ProblemCheckpoint,
				Detail: "the event's hash differs from the checkpoint: events up to it were rewritten"})
		}
		if headOK && seq == headSeq+1 {
			r.beyondHeadID = id()
		}
		r.n++
		r.last.seq = seq
		copy(r.last.hash[:], hash)
		lastID = append(lastID[:0], f.ID...)
		if unreported++; unreported == progressEvery {
			v.progress(unreported)
			unreported = 0
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read sealed events: %w", err)
	}
	r.last.id = string(lastID)
	return nil
}

// stop lowers stopAt to seq.
func (v *verifier) stop(seq int64) {
	for {
		cur := v.stopAt.Load()
		if seq >= cur || v.stopAt.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// progress counts n more verified events and, at most once per interval,
// writes a line: events verified so far, of how many, and the rate.
func (v *verifier) progress(n int64) {
	done := v.done.Add(n)
	if v.opt.Progress == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.opt.Now()
	if now.Before(v.nextReport) {
		return
	}
	v.nextReport = now.Add(v.opt.ProgressInterval)
	elapsed := now.Sub(v.start)
	line := fmt.Sprintf("audit verify: %d", done)
	if v.total > 0 {
		line += fmt.Sprintf("/%d events (%d%%)", v.total, done*100/v.total)
	} else {
		line += " events"
	}
	if ms := elapsed.Milliseconds(); ms > 0 {
		line += fmt.Sprintf(", %d events/s", done*1000/ms)
	}
	fmt.Fprintf(v.opt.Progress, "%s, %s elapsed\n", line, elapsed.Truncate(time.Millisecond))
}
