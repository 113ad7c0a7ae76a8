-- +goose Up
-- The transactional outbox (internal/outbox). Domain code inserts an event
-- unsequenced (seq NULL) in the same transaction as the change it
-- describes, so the event exists exactly when the change committed. The
-- sequencer later gives committed events the next seq (1, 2, 3, … without
-- gaps) in the order they became visible, and the dispatcher delivers them
-- to its subscribers in seq order.
CREATE TABLE outbox_events (
    pos          INTEGER PRIMARY KEY, -- insertion key: the order the sequencer picks events up in
    id           TEXT    NOT NULL UNIQUE, -- evt_<ULID>
    aggregate    TEXT    NOT NULL, -- what changed: "transfer"
    aggregate_id TEXT    NOT NULL, -- which one: "trf_…"
    type         TEXT    NOT NULL, -- what happened: "transfer.created"
    at           BIGINT  NOT NULL, -- Unix microseconds, UTC, from the writer's clock
    data         TEXT    NOT NULL, -- canonical JSON object
    seq          BIGINT  CHECK (seq > 0) -- delivery order from 1, NULL until sequenced (unique: see below)
);
-- Delivery order. Partial, so unsequenced rows cost no entry here and a
-- search for unsequenced rows cannot pick this index over the next one.
CREATE UNIQUE INDEX outbox_events_seq ON outbox_events (seq) WHERE seq IS NOT NULL;
-- Only unsequenced events: what the sequencer scans. Sequenced events leave it.
CREATE INDEX outbox_events_unsequenced ON outbox_events (pos) WHERE seq IS NULL;

-- The last seq given out, one row. Kept apart from the events so that
-- pruning delivered events never lets a seq be given out twice.
CREATE TABLE outbox_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL CHECK (seq >= 0) -- 0: nothing sequenced yet
);
INSERT INTO outbox_head (id, seq) VALUES (1, 0);

-- One durable cursor per subscriber name: the last seq delivered to it (its
-- handler returned success). It only moves forward. Pruning never deletes an
-- event that some cursor here has not passed.
CREATE TABLE outbox_cursors (
    subscriber TEXT   PRIMARY KEY,
    seq        BIGINT NOT NULL CHECK (seq >= 0), -- 0: nothing delivered yet
    updated_at BIGINT NOT NULL -- Unix microseconds, UTC
);

-- +goose Down
DROP TABLE outbox_cursors;
DROP TABLE outbox_head;
DROP TABLE outbox_events;
