package audit

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// Linker seals events as they are inserted, for a single writer that
// inserts many events per transaction (the posting engine, through its
// Chain interface). In the writer's transaction it reads the chain head
// (on PostgreSQL: locks it, so that it takes turns with the Sealer and
// with other Linkers), gives each event row the next seq, prev_hash and
// hash exactly as the Sealer would, and moves the head. An event sealed
// this way is written once; the Sealer only ever sees the events others
// record unsealed.
//
// The chain stays one chain: whoever moves the head holds its lock (the
// Sealer locks the head row too), and both build on the head only after
// checking it against the newest sealed event. If that check fails, the
// Linker leaves its events unsealed instead of refusing the business
// write; the Sealer then refuses to extend the chain and reports
// ErrHeadMismatch, as it would have anyway.
//
// A Linker holds one transaction's state: use it from one goroutine.
type Linker struct {
	// Scanned by the head queries.
	headSeq, tipSeq   int64
	headHash, tipHash []byte

	seq   int64          // the head the transaction started from
	prev  [HashSize]byte // its hash
	links []linked       // what Link gave out since Begin
	buf   []byte
}

type linked struct {
	seq  int64
	hash [HashSize]byte
}

// NewLinker returns a Linker.
func NewLinker() *Linker { return &Linker{} }

var (
	linkerRowColumns = Columns()
	linkerColumns    = []string{"seq", "prev_hash", "hash"}
)

// Table is the table of events.
func (l *Linker) Table() string { return Table }

// RowColumns are Columns(): the rows Row builds.
func (l *Linker) RowColumns() []string { return linkerRowColumns }

// Columns are the chain columns Link fills.
func (l *Linker) Columns() []string { return linkerColumns }

// Head returns the queries that read the head (on PostgreSQL: lock it)
// and then the newest sealed event. The second runs after the first has
// its lock, so on PostgreSQL (READ COMMITTED, a snapshot per statement)
// it sees what the previous holder committed.
func (l *Linker) Head(pg bool) ([]string, [][]any) {
	lock := ""
	if pg {
		lock = " FOR UPDATE"
	}
	return []string{
			`SELECT seq, hash FROM audit_head WHERE id = 1` + lock,
			`SELECT seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`,
		}, [][]any{
			{&l.headSeq, &l.headHash},
			{&l.tipSeq, &l.tipHash},
		}
}

// Begin starts a transaction's links from the head the queries found. It
// declines (false) when the head is missing or malformed or disagrees
// with the newest sealed event: the events then stay unsealed and the
// Sealer reports the mismatch.
func (l *Linker) Begin(found []bool) (bool, error) {
	l.links = l.links[:0]
	if len(found) != 2 {
		return false, fmt.Errorf("audit linker: %d head results, want 2", len(found))
	}
	if !found[1] {
		l.tipSeq, l.tipHash = 0, nil
	}
	if !found[0] || l.headSeq < 0 || len(l.headHash) != HashSize {
		return false, nil
	}
	if l.tipSeq != l.headSeq || (l.headSeq > 0 && !bytes.Equal(l.tipHash, l.headHash)) {
		return false, nil
	}
	l.seq = l.headSeq
	copy(l.prev[:], l.headHash)
	return true, nil
}

// Link seals the next event: row holds its values in Columns() order, as
// Row returns them. It returns seq, prev_hash and hash.
func (l *Linker) Link(row []any) ([]any, error) {
	if len(row) != len(linkerRowColumns) {
		return nil, fmt.Errorf("audit linker: %d values, want %d", len(row), len(linkerRowColumns))
	}
	var f fields[string]
	var at int64
	var ok bool
	strs := []*string{&f.ID, nil, &f.ActorKind, &f.ActorID, &f.Action, &f.TargetType, &f.TargetID, &f.RequestID, &f.IP, &f.Details}
	for i, v := range row {
		if i == 1 {
			if at, ok = v.(int64); !ok {
				return nil, fmt.Errorf("audit linker: at is %T, not int64", v)
			}
			continue
		}
		if *strs[i], ok = v.(string); !ok {
			return nil, fmt.Errorf("audit linker: %s is %T, not string", linkerRowColumns[i], v)
		}
	}
	seq, prev := l.seq+1, l.prev
	if n := len(l.links); n > 0 {
		seq, prev = l.links[n-1].seq+1, l.links[n-1].hash
	}
	l.buf = chainInput(l.buf[:0], prev[:], seq, at, &f)
	h := sha256.Sum256(l.buf)
	l.links = append(l.links, linked{seq: seq, hash: h})
	return []any{seq, prev[:], h[:]}, nil
}

// Linked is how many events Link sealed since Begin.
func (l *Linker) Linked() int { return len(l.links) }

// Rewind forgets all but the first n links.
func (l *Linker) Rewind(n int) { l.links = l.links[:n] }

// Advance moves the head to the last link, from the head Begin started
// at.
func (l *Linker) Advance() (string, []any) {
	last := l.links[len(l.links)-1]
	return `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?`, []any{last.seq, last.hash[:], l.seq}
}
