package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fiscus/fiscus/internal/journal"
	"github.com/fiscus/fiscus/internal/store"
)

// ledgerCollector exports the posting engine's counters and, on SQLite,
// the WAL's (checkpoints and the fsyncs that make commits durable), read
// at each scrape.
type ledgerCollector struct {
	eng    *journal.Engine
	db     *store.DB
	sqlite bool

	batches, operations, careful, retried, queued, maxBatch *prometheus.Desc
	answered, stageSeconds, busySeconds                     *prometheus.Desc

	fsyncs, fsyncSeconds, checkpoints, restarts, blocked, ckptFailures, walFrames *prometheus.Desc
}

func newLedgerCollector(eng *journal.Engine, db *store.DB) *ledgerCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &ledgerCollector{
		eng: eng, db: db, sqlite: db.Dialect() == store.SQLite,

		batches:    d("fiscus_ledger_batches_total", "Batch transactions the posting engine attempted."),
		operations: d("fiscus_ledger_operations_total", "Ledger operations by outcome: committed, refused (nothing written), failed with their batch, withdrawn by their caller while queued.", "outcome"),
		careful:    d("fiscus_ledger_careful_batches_total", "Batches re-run operation by operation after their fast run failed."),
		retried:    d("fiscus_ledger_retried_batches_total", "PostgreSQL batch runs retried after a deadlock or serialization failure."),
		queued:     d("fiscus_ledger_queue_length", "Operations waiting for the writer."),
		maxBatch:   d("fiscus_ledger_largest_batch_operations", "Operations in the largest batch so far."),
		answered:   d("fiscus_ledger_answered_operations_total", "Operations answered by a batch; the denominator of fiscus_ledger_operation_seconds_total."),
		stageSeconds: d("fiscus_ledger_operation_seconds_total",
			"Time the answered operations spent, summed over them, by stage: queueing (for the writer), collecting (while the writer gathered their batch), executing (their batch transaction), durable (from commit until durable).", "stage"),
		busySeconds: d("fiscus_ledger_writer_busy_seconds_total", "The writer's time in batch transactions."),

		fsyncs:       d("fiscus_sqlite_wal_fsyncs_total", "fsyncs of the SQLite WAL that made commits durable."),
		fsyncSeconds: d("fiscus_sqlite_wal_fsync_seconds_total", "Time spent in those fsyncs."),
		checkpoints:  d("fiscus_sqlite_checkpoints_total", "PASSIVE background checkpoints run."),
		restarts:     d("fiscus_sqlite_wal_restarts_total", "RESTART checkpoints that reset the WAL."),
		blocked:      d("fiscus_sqlite_wal_restarts_blocked_total", "RESTART checkpoints that timed out waiting for readers."),
		ckptFailures: d("fiscus_sqlite_checkpoint_failures_total", "Checkpoints that failed with an error."),
		walFrames:    d("fiscus_sqlite_wal_frames", "WAL size in pages at the last checkpoint."),
	}
}

// Describe implements prometheus.Collector.
func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.batches, c.operations, c.careful, c.retried, c.queued, c.maxBatch,
		c.answered, c.stageSeconds, c.busySeconds} {
		ch <- d
	}
	if c.sqlite {
		for _, d := range []*prometheus.Desc{c.fsyncs, c.fsyncSeconds, c.checkpoints, c.restarts, c.blocked,
			c.ckptFailures, c.walFrames} {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	s := c.eng.Stats()
	counter(c.batches, float64(s.Batches))
	counter(c.operations, float64(s.Committed), "committed")
	counter(c.operations, float64(s.Refused), "refused")
	counter(c.operations, float64(s.Failed), "failed")
	counter(c.operations, float64(s.Withdrawn), "withdrawn")
	counter(c.careful, float64(s.Careful))
	counter(c.retried, float64(s.Retried))
	gauge(c.queued, float64(s.Queued))
	gauge(c.maxBatch, float64(s.MaxBatch))
	counter(c.answered, float64(s.Answered))
	counter(c.stageSeconds, s.Queueing.Seconds(), "queueing")
	counter(c.stageSeconds, s.Collecting.Seconds(), "collecting")
	counter(c.stageSeconds, s.Executing.Seconds(), "executing")
	counter(c.stageSeconds, s.Durable.Seconds(), "durable")
	counter(c.busySeconds, s.Busy.Seconds())
	if !c.sqlite {
		return
	}
	w := c.db.WALStats()
	counter(c.fsyncs, float64(w.Fsyncs))
	counter(c.fsyncSeconds, w.FsyncTime.Seconds())
	counter(c.checkpoints, float64(w.Checkpoints))
	counter(c.restarts, float64(w.Restarts))
	counter(c.blocked, float64(w.Blocked))
	counter(c.ckptFailures, float64(w.Failures))
	gauge(c.walFrames, float64(w.Frames))
}
