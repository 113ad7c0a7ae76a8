package journal

import (
	"strings"
	"testing"
)

// Multi-row statements come in power-of-two chunk sizes, so that a table's
// statement texts are few (and stay prepared) whatever the batch size, and
// the chunks carry every row once, in order.
func TestValuesStepsChunks(t *testing.T) {
	t.Parallel()
	for _, pg := range []bool{false, true} {
		b := &batch{pg: pg}
		texts := map[string]bool{}
		for n := 1; n <= 300; n++ {
			rows := make([][]any, n)
			for i := range rows {
				rows[i] = []any{i, "x"}
			}
			steps := b.valuesSteps("INSERT INTO t (a, b) VALUES ", 2, rows, "", nil)
			next := 0
			for _, st := range steps {
				k := len(st.args) / 2
				if k == 0 || k&(k-1) != 0 || k > maxChunkRows {
					t.Fatalf("n=%d: chunk of %d rows, want a power of two up to %d", n, k, maxChunkRows)
				}
				if got := strings.Count(st.sql, "?"); got != len(st.args) {
					t.Fatalf("n=%d: %d placeholders for %d args", n, got, len(st.args))
				}
				for i := 0; i < len(st.args); i += 2 {
					if st.args[i] != next {
						t.Fatalf("n=%d: row %v where %d was due", n, st.args[i], next)
					}
					next++
				}
				texts[st.sql] = true
			}
			if next != n {
				t.Fatalf("n=%d: %d rows written", n, next)
			}
		}
		// 1, 2, 4, …, maxChunkRows rows: 7 texts for any batch.
		if len(texts) != 7 {
			t.Fatalf("pg=%v: %d distinct statement texts, want 7", pg, len(texts))
		}
	}
	// A wide row stays within the parameter limit.
	b := &batch{}
	rows := make([][]any, 100)
	for i := range rows {
		rows[i] = make([]any, 1000)
	}
	for _, st := range b.valuesSteps("INSERT INTO t VALUES ", 1000, rows, "", nil) {
		if len(st.args) > sqliteMaxParams {
			t.Fatalf("%d parameters in one statement, over %d", len(st.args), sqliteMaxParams)
		}
	}
}
