package journal

import (
	"fmt"
	"slices"
)

// Chain numbers, inside a batch's transaction, the rows that the batch's
// accepted operations insert into one table: the audit log's hash chain and
// the outbox's delivery sequence are chains. Without one, such rows are
// inserted plain and a background worker numbers them afterwards in a
// transaction of its own, which writes every row twice. With one, each row
// is inserted once with its place in the sequence, and the sequence's
// one-row head moves in the same transaction.
//
// A Chain keeps the state of the batch it is working on, so the engine
// uses it from its writer goroutine only, one batch at a time: Begin
// starts afresh for every batch transaction (retries included).
type Chain interface {
	// Table is the table whose rows the chain numbers (Row.Table).
	Table() string
	// RowColumns are the columns a row must have, in this order, to be
	// numbered; rows of the table with other columns are inserted as
	// they are, for the background worker.
	RowColumns() []string
	// Columns are the columns Link fills, inserted after the row's own.
	Columns() []string
	// Head returns the queries that read the chain's head in the batch's
	// transaction, run in order, each returning at most one row scanned
	// into its dests. On PostgreSQL the first must lock the head row (FOR
	// UPDATE), so that everyone who moves the head takes turns; the batch
	// runs them at the end of its load, after the locks the load takes.
	Head(pg bool) (queries []string, dests [][]any)
	// Begin is called once the head queries ran (found[i]: query i
	// returned a row). It reports whether to number this transaction's
	// rows; if not (a head the chain refuses to extend), they are inserted
	// plain, for the background worker, which reports the problem.
	Begin(found []bool) (bool, error)
	// Link returns the values of Columns for the next row, given the row's
	// own values in RowColumns order.
	Link(row []any) ([]any, error)
	// Linked is how many rows Link numbered since Begin; Rewind(n) forgets
	// all but the first n (careful mode: a refused operation's rows are
	// rolled back to their savepoint).
	Linked() int
	Rewind(n int)
	// Advance returns the UPDATE that moves the head past the linked rows.
	// It must affect exactly one row; any other count fails the batch.
	Advance() (sql string, args []any)
}

// chainState is what a batch transaction knows of its chains.
type chainState struct {
	chains []Chain
	read   bool     // the heads were read in this transaction
	found  [][]bool // found[i][j]: chain i's head query j returned a row
	on     []bool   // chain i numbers this transaction's rows
}

// reset forgets the heads (a new transaction, or a retry).
func (c *chainState) reset() { c.read, c.found, c.on = false, nil, nil }

// chainFor returns the chain that numbers rows of table with cols, if one
// does in this transaction.
func (c *chainState) chainFor(table string, cols []string) Chain {
	if !c.read {
		return nil
	}
	for i, ch := range c.chains {
		if c.on[i] && ch.Table() == table && slices.Equal(ch.RowColumns(), cols) {
			return ch
		}
	}
	return nil
}

// wanted reports whether any of reqs inserts rows into a chained table.
func (c *chainState) wanted(reqs []*request) bool {
	for _, r := range reqs {
		for _, row := range r.op.common().rows {
			for _, ch := range c.chains {
				if ch.Table() == row.Table {
					return true
				}
			}
		}
	}
	return false
}

// headSteps read every chain's head; begin must be called after they ran.
func (c *chainState) headSteps(pg bool) []step {
	var out []step
	c.found = make([][]bool, len(c.chains))
	for i, ch := range c.chains {
		queries, dests := ch.Head(pg)
		c.found[i] = make([]bool, len(queries))
		for j, q := range queries {
			f, d := &c.found[i][j], dests[j]
			out = append(out, step{sql: q, rows: func(rows rowsIter) error {
				if !rows.Next() {
					return nil
				}
				*f = true
				return rows.Scan(d...)
			}})
		}
	}
	return out
}

// begin starts every chain on the heads its queries found.
func (c *chainState) begin() error {
	c.on = make([]bool, len(c.chains))
	for i, ch := range c.chains {
		on, err := ch.Begin(c.found[i])
		if err != nil {
			return fmt.Errorf("chain %s: %w", ch.Table(), err)
		}
		c.on[i] = on
	}
	c.read = true
	return nil
}

// marks returns how many rows each chain numbered so far.
func (c *chainState) marks() []int {
	out := make([]int, len(c.chains))
	for i, ch := range c.chains {
		if c.read && c.on[i] {
			out[i] = ch.Linked()
		}
	}
	return out
}

// rewind forgets the links made after marks.
func (c *chainState) rewind(marks []int) {
	for i, ch := range c.chains {
		if c.read && c.on[i] {
			ch.Rewind(marks[i])
		}
	}
}

// advanceSteps move the heads of the chains that numbered rows, each
// checked to affect exactly one row.
func (c *chainState) advanceSteps(pipelined bool) []step {
	var out []step
	for i, ch := range c.chains {
		if !c.read || !c.on[i] || ch.Linked() == 0 {
			continue
		}
		q, args := ch.Advance()
		out = append(out, checkedStep(q, args, 1, pipelined))
	}
	return out
}
