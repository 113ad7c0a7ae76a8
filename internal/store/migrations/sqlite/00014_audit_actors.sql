-- +goose Up
-- The actor of each audit event indexed in bulk (SQLite only; see
-- 00012_transfer_parties.sql and internal/store/bulkindex.go): a list of
-- an actor's events reads audit_actors up to its mark and the events past
-- it, instead of the index audit_events_actor, whose last leaf per
-- customer every commit of a batch of transfers rewrote.
CREATE TABLE audit_actors (
    actor     TEXT    NOT NULL, -- audit_events.actor_id
    event_pos INTEGER NOT NULL, -- audit_events.pos
    PRIMARY KEY (actor, event_pos)
) WITHOUT ROWID;
INSERT INTO audit_actors (actor, event_pos) SELECT actor_id, pos FROM audit_events ORDER BY 1, 2;
INSERT INTO index_marks (name, upto) VALUES ('audit_actors', (SELECT COALESCE(max(pos), 0) FROM audit_events));
DROP INDEX audit_events_actor;

-- +goose Down
CREATE INDEX audit_events_actor ON audit_events (actor_id, pos);
DELETE FROM index_marks WHERE name = 'audit_actors';
DROP TABLE audit_actors;
