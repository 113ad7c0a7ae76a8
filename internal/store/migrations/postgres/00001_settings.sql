-- +goose Up
-- Instance-wide settings and markers (for example, that demo data was seeded).
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL -- Unix microseconds, UTC
);

-- +goose Down
DROP TABLE settings;
