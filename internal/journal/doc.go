// Package journal is Fiscus's posting engine: the one place that writes
// journal entries, postings, cached balances and holds. It turns ledger
// operations (post an entry, reserve, post, void or expire a hold, reverse
// an entry) into rows, judging each with the pure core in package ledger.
//
// # Group commit
//
// One writer goroutine per process (Engine.Run) owns all ledger writes.
// Callers Submit an operation and block. The writer takes whatever is queued
// (up to Options.MaxBatch operations), opens ONE database transaction, loads
// every account, balance and counter the batch touches in a few statements
// (on PostgreSQL locking the rows in one global order, see Lock order, so
// writers on several replicas never deadlock on them), applies the
// operations in queue order to an in-memory view that reflects the earlier
// operations of the same batch, writes the accepted operations' rows with
// multi-row statements, and commits once. A durable
// commit (PostgreSQL fsync + synchronous_commit; on SQLite the store's WAL
// fsync) is paid once per batch instead of once per operation. On SQLite
// the writer does not wait for it: it commits (store.DB.WriteDeferred),
// starts the next batch, and the batch's callers are answered once the
// store reports the commit durable. While callers are
// active the writer lingers briefly (Options.Linger, ending early once
// arrivals pause) so that the callers it just answered make it into the
// next batch; a lone caller never waits.
//
// On PostgreSQL the batch transaction runs in pgx pipelines on a connection
// of the store's pool: BEGIN travels with the locking reads, and every write
// with COMMIT, so a batch of transfers costs two network round trips. On
// SQLite the statements run in process on the single writer connection.
//
// Statement texts are fixed, or, for multi-row INSERTs and UPDATEs, cut
// into chunks of power-of-two sizes up to 64 rows, so that a handful of
// texts per table recur batch after batch and are parsed and planned once:
// on SQLite they run through statements the store keeps prepared on the
// writer connection (store.Tx.ExecCached), on PostgreSQL through pgx's
// per-connection statement cache. The SQLite WAL checkpoint is the store's
// business and runs off the writer's commit path.
//
// # Guarantees
//
//   - An operation is acknowledged (Submit returns a Result) only after the
//     transaction holding it committed durably.
//   - A refused operation (insufficient funds, frozen account, unbalanced
//     entry, hold not pending, already reversed, claim taken, stale update,
//     limit exceeded, …) wrote nothing — no entry, posting, balance, hold,
//     row, claim, update or counter change — and its refusal does not
//     affect the other operations of its batch: planning is pure, so a
//     refused operation simply contributes no rows; no savepoint is needed
//     for that (claims and updates, which only the database can judge, use
//     careful mode, below).
//   - Operations of one batch are applied in the order they were queued; each
//     sees the balances and counter totals left by the accepted operations
//     before it, and the rows their updates changed.
//   - A counter never exceeds its ceiling through an operation that counts
//     up, whatever runs concurrently on this or another replica, and never
//     goes below zero.
//   - Every accepted entry balances per asset, and is committed atomically
//     with its postings, the balance changes, the operation's extra rows,
//     claims, updates and counter changes.
//     Entries are never updated or deleted. A reversal is a new entry linked
//     to its original by a UNIQUE column, so an entry is reversed at most
//     once, also across replicas (the original entry's row is locked while
//     its reversal is planned).
//   - If the batch transaction fails as a whole (the database is gone, a
//     timeout), every operation of the batch gets the error and nothing of
//     any of them was written. The one exception is a failure of COMMIT
//     itself, after which the database may or may not have committed: those
//     operations get an error wrapping ErrOutcomeUnknown. Their entry and
//     hold IDs are in the operation (Submit assigns them before queueing),
//     so the caller can look them up.
//   - Each posting records balance_after, the account's posted balance in
//     the asset right after it; postings.seq orders the postings of one
//     (account, asset) in the order they changed the balance.
//
// # Extra rows and claims
//
// Later use cases (a transfer row, its idempotency record, its audit event)
// must commit in the same transaction as the ledger change. An operation
// carries them as Rows, inserted (grouped into multi-row INSERTs per table)
// only if the operation is accepted; a row value may be a FromResult,
// computed from the operation's outcome (entry ID, resulting balances)
// after planning, so a stored response can show the resulting balance. This
// keeps round trips flat (no per-operation callback talks to the database)
// and failure isolation intact (rows are only written for operations the
// pure planning accepted). Rows that may legitimately conflict
// with rows written by someone else — an idempotency key taken by a
// concurrent request on another replica — are Claims instead: after
// planning, the claims of the accepted operations are inserted with
// INSERT … ON CONFLICT DO NOTHING; when every claim inserted (the normal
// case, one statement) the plan stands. When some claim did not insert, the
// transaction is rolled back and the batch is run again op by op inside
// savepoints ("careful mode"), where an operation whose claim is taken is
// refused alone with CodeClaimTaken, and an operation that is refused by
// planning never leaves a claim behind. Careful mode is also the fallback
// for any other failure of a batch's writes (a caller-assigned ID that
// already exists, for example), so one faulty operation never fails the
// operations queued with it.
//
// # Conditional updates
//
// A state transition of the caller's own rows rides along with the money
// movement as an Update: an UPDATE or DELETE that must affect exactly Want
// rows (approving a transfer is a PostHold plus "UPDATE transfers SET
// status = 'executed' … WHERE id = ? AND status = 'pending_approval'",
// Want 1). The updates of the accepted operations run after their rows, in
// queue order. In a fast-mode batch, one that affects another number of
// rows fails the transaction (in a pipeline the statement checks its own
// count, like the claims' check, so COMMIT never runs), and the batch runs
// again in careful mode, where each operation's updates run inside its
// savepoint and an operation whose update is stale is refused alone with
// CodeStale. On PostgreSQL (READ COMMITTED) an update that meets a row a
// concurrent transaction holds waits for it, then re-checks its WHERE
// against the committed row: a concurrent rejection that won makes the
// approval affect 0 rows.
//
// # Chains
//
// Some extra rows belong to a sequence kept in a one-row head: the audit
// log's hash chain, the outbox's delivery order. Without help they are
// inserted plain and numbered afterwards by a worker's own transaction,
// which rewrites each of them. A Chain (Options.Chains; audit.Linker and
// outbox.Linker) numbers them in the batch's transaction instead: once
// the batch's load reads the chains' heads (on PostgreSQL: locks them, in
// the load's last round trip), the writes add the chain's columns to each
// accepted operation's rows in queue order, and a checked UPDATE moves the
// heads along with the writes. In careful mode the heads are read before
// the operations' savepoints, and a refused operation's rows give their
// places back. A Chain may decline a head it cannot extend (one
// that contradicts its table); the rows are then inserted plain, for the
// worker, which reports the problem, and the operations still commit.
// The price on PostgreSQL: with several replicas, every batch that carries
// such rows holds the heads from its load to its commit, so the replicas'
// batches take turns even when they share no account (on one replica
// batches run one at a time anyway).
//
// # Counters
//
// A Counter is a running total with an optional ceiling, such as a
// customer's outgoing amount today: the load reads the counters the batch
// names along with its balances (a key without a row counts as 0), the pure
// planning applies each accepted operation's deltas in queue order and
// refuses, with CodeLimitExceeded, an operation that would take a total
// over its ceiling, and the final totals are written with one upsert per
// batch. A negative delta (a release) is never refused and stops at 0.
// SweepCounters deletes the rows whose expiry has passed.
//
// # Lock order
//
// On PostgreSQL a batch locks what it reads, and in one global order:
// holds (by ID), then entries it reverses (by ID), then balances (by
// account and asset), then counters (by key, in byte order), all in the
// batch's first round trip(s). Any two batches, on this replica or
// another, take the locks they share in the same order, so neither can
// hold a lock the other holds while waiting for one the other holds: they
// queue instead of deadlocking. Counter rows that do not exist yet are
// created (at 0, deleted again if no accepted operation used them) by the
// statement that locks them, so that two replicas cannot both count a new
// counter from 0; SweepCounters locks the rows it deletes in the same key
// order and nothing else. Two locks come after that order, and PostgreSQL
// resolves the rare deadlock they allow by aborting one batch, which is
// run again (Stats.Retried): the balance rows a batch creates for first
// uses of an (account, asset), and the caller's rows its updates touch (in
// queue order; they are locked last, after everything of the ledger). The
// chains' heads are locked at the end of the load, after the rows it
// locks and before the balance rows it may create. The workers that also
// lock the heads lock nothing of the ledger; between two batches (two
// replicas), the heads add one more case of the rare deadlock above (a
// balance row that appeared between one batch's load and its creation of
// it, locked meanwhile by the other batch's load), resolved the same way.
//
// # Cancellation and shutdown
//
// Submit honours its context until the writer picks the operation up: a
// caller whose context ends while the operation is still queued withdraws
// it and gets an error wrapping ErrWithdrawn and the context's error —
// nothing was or will be written. Once the writer has taken the operation
// into a batch, Submit waits for the batch's outcome (bounded by
// Options.BatchTimeout) and returns it even though the context has ended, so
// a committed operation is never reported as failed and never runs twice.
//
// Run returns after its context is cancelled and every queued operation has
// been answered: intake stops (Submit returns ErrStopped), the operations
// already queued are committed in final batches (bounded by
// Options.DrainTimeout) and whatever could not be run in time is failed with
// ErrStopped, having written nothing.
//
// The engine reads no clock for ledger data: every operation carries Now
// from its caller's injected clock. Timers only bound how long a batch
// gathers and how long a transaction may take.
package journal
