-- +goose Up
-- The tamper-evident audit log (internal/audit). Domain code inserts events
-- unsealed (seq, prev_hash and hash NULL) inside its own transaction; the
-- sealer later gives each the next seq and links it to the previous event:
-- hash = SHA-256(prev_hash || canonical encoding of the event and its seq).
CREATE TABLE audit_events (
    pos         INTEGER PRIMARY KEY, -- insertion key: the order the sealer picks events up in
    id          TEXT    NOT NULL UNIQUE, -- aud_<ULID>
    at          BIGINT  NOT NULL, -- Unix microseconds, UTC
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target_type TEXT    NOT NULL,
    target_id   TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    details     TEXT    NOT NULL, -- canonical JSON object, hashed byte for byte
    seq         BIGINT  CHECK (seq > 0), -- chain position from 1, NULL until sealed (unique: see below)
    prev_hash   BLOB, -- hash of event seq-1 (32 zero bytes for seq 1)
    hash        BLOB,
    CHECK ((seq IS NULL AND prev_hash IS NULL AND hash IS NULL)
        OR (seq IS NOT NULL AND length(prev_hash) = 32 AND length(hash) = 32))
);
-- The chain, in order. Partial, so unsealed rows cost no entry here and a
-- search for unsealed rows cannot pick this index over the next one.
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq) WHERE seq IS NOT NULL;
-- Only unsealed events: what the sealer scans. Sealed events leave it.
CREATE INDEX audit_events_unsealed ON audit_events (pos) WHERE seq IS NULL;
-- Filters of the event list (newest first, by pos). A time range needs no
-- index of its own: IDs are ULIDs of the event's time, so the id index
-- serves it.
CREATE INDEX audit_events_actor ON audit_events (actor_id, pos);
CREATE INDEX audit_events_action ON audit_events (action, pos);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id, pos);

-- The end of the chain, one row: the last sealed seq and its hash. Verify
-- compares it with the last event, which detects removal of the newest events.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL CHECK (seq >= 0), -- 0: nothing sealed yet
    hash BLOB    NOT NULL CHECK (length(hash) = 32) -- 32 zero bytes when seq = 0
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_events;
