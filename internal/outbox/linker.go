package outbox

import "fmt"

// Linker numbers events as they are inserted, for a single writer that
// inserts many events per transaction (the posting engine, through its
// Chain interface). In the writer's transaction it reads the head (on
// PostgreSQL: locks it, so that it takes turns with the sequencer and with
// other Linkers), gives each event row the next seq and moves the head.
// An event numbered this way is written once; the sequencer only numbers
// the events others record unsequenced.
//
// The guarantees of the package comment hold as before: the head's lock is
// held until commit and released only once the commit is visible, so the
// next holder numbers after every event this one numbered, and a reader
// still sees a prefix 1..n of the sequence. If an event past the head
// exists (a head that contradicts the events), the Linker leaves its
// events unsequenced; the sequencer then reports ErrSequence.
//
// A Linker holds one transaction's state: use it from one goroutine.
type Linker struct {
	head, tip int64 // scanned by the head queries
	seq       int64 // the head the transaction started from
	n         int   // events numbered since Begin
}

// NewLinker returns a Linker.
func NewLinker() *Linker { return &Linker{} }

var (
	linkerRowColumns = Columns()
	linkerColumns    = []string{"seq"}
)

// Table is the table of events.
func (l *Linker) Table() string { return Table }

// RowColumns are Columns(): the rows Row builds.
func (l *Linker) RowColumns() []string { return linkerRowColumns }

// Columns are the columns Link fills.
func (l *Linker) Columns() []string { return linkerColumns }

// Head returns the queries that read the head (on PostgreSQL: lock it) and
// then the highest seq given out, which runs once the lock is held.
func (l *Linker) Head(pg bool) ([]string, [][]any) {
	lock := ""
	if pg {
		lock = " FOR UPDATE"
	}
	return []string{
		`SELECT seq FROM outbox_head WHERE id = 1` + lock,
		`SELECT seq FROM outbox_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`,
	}, [][]any{{&l.head}, {&l.tip}}
}

// Begin starts numbering after the head the queries found. It declines
// (false) when the head is missing or an event past it exists.
func (l *Linker) Begin(found []bool) (bool, error) {
	l.n = 0
	if len(found) != 2 {
		return false, fmt.Errorf("outbox linker: %d head results, want 2", len(found))
	}
	if !found[1] {
		l.tip = 0 // none left (pruned) or none yet
	}
	if !found[0] || l.head < 0 || l.tip > l.head {
		return false, nil
	}
	l.seq = l.head
	return true, nil
}

// Link returns the next event's seq; row holds its values in Columns()
// order.
func (l *Linker) Link(row []any) ([]any, error) {
	if len(row) != len(linkerRowColumns) {
		return nil, fmt.Errorf("outbox linker: %d values, want %d", len(row), len(linkerRowColumns))
	}
	l.n++
	return []any{l.seq + int64(l.n)}, nil
}

// Linked is how many events Link numbered since Begin.
func (l *Linker) Linked() int { return l.n }

// Rewind forgets all but the first n.
func (l *Linker) Rewind(n int) { l.n = n }

// Advance moves the head past the numbered events, from the head Begin
// started at.
func (l *Linker) Advance() (string, []any) {
	return `UPDATE outbox_head SET seq = ? WHERE id = 1 AND seq = ?`, []any{l.seq + int64(l.n), l.seq}
}
