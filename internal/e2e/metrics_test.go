package e2e

import (
	"bytes"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/fiscus/fiscus/internal/store"
	"github.com/fiscus/fiscus/internal/testapp"
)

// /metrics carries the posting engine's counters (and on SQLite the WAL's),
// as they stand after the transfers the server answered.
func TestLedgerMetrics(t *testing.T) {
	t.Parallel()
	eachEngine(t, noRisk, func(t *testing.T, env *testapp.Env) {
		l := newLedgerEnv(t, env)
		c, _ := register(t, env, "metrics@example.com")
		from, to := openAccount(t, c, "checking", "USD"), openAccount(t, c, "savings", "USD")
		l.fund(t, from, 10_00)
		for range 3 {
			resp, err := sendTransfer(c, l.key(), cashBody(from, to, 1_00))
			mustStatus(t, resp, err, http.StatusCreated)
		}
		resp, err := sendTransfer(c, l.key(), cashBody(from, to, 100_00))
		mustProblem(t, resp, err, http.StatusUnprocessableEntity, "insufficient_funds")

		m := scrape(t, env)
		value := func(name string, labels ...string) float64 {
			t.Helper()
			f, ok := m[name]
			if !ok {
				t.Fatalf("no %s in /metrics", name)
			}
		metrics:
			for _, mt := range f.GetMetric() {
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, lp := range mt.GetLabel() {
						found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
					}
					if !found {
						continue metrics
					}
				}
				if mt.GetCounter() != nil {
					return mt.GetCounter().GetValue()
				}
				return mt.GetGauge().GetValue()
			}
			t.Fatalf("no %s %v in /metrics", name, labels)
			return 0
		}
		if v := value("fiscus_ledger_operations_total", "outcome", "committed"); v != 4 {
			t.Errorf("committed operations %v, want 4 (the funding and three transfers)", v)
		}
		if v := value("fiscus_ledger_operations_total", "outcome", "refused"); v != 1 {
			t.Errorf("refused operations %v, want 1", v)
		}
		if v := value("fiscus_ledger_answered_operations_total"); v != 5 {
			t.Errorf("answered operations %v, want 5", v)
		}
		if b := value("fiscus_ledger_batches_total"); b < 5 {
			t.Errorf("%v batches for five operations sent one after another", b)
		}
		busy := value("fiscus_ledger_writer_busy_seconds_total")
		if exec := value("fiscus_ledger_operation_seconds_total", "stage", "executing"); busy <= 0 || exec < busy {
			t.Errorf("writer busy %vs, executing %vs", busy, exec)
		}
		for _, stage := range []string{"queueing", "collecting", "durable"} {
			value("fiscus_ledger_operation_seconds_total", "stage", stage) // exported (their values: internal/journal)
		}
		_, hasWAL := m["fiscus_sqlite_wal_fsyncs_total"]
		switch sqlite := storeOf(env) == store.SQLite; {
		case sqlite && value("fiscus_sqlite_wal_fsyncs_total") < 5:
			t.Errorf("%v WAL fsyncs for five writes", value("fiscus_sqlite_wal_fsyncs_total"))
		case !sqlite && hasWAL:
			t.Errorf("SQLite WAL metrics on PostgreSQL")
		}
	})
}

func scrape(t *testing.T, env *testapp.Env) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := env.Client().Get(ctx, "/metrics")
	mustStatus(t, resp, err, http.StatusOK)
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(bytes.NewReader(resp.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return m
}
