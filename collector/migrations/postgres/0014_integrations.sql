-- Integrations (issue 18): the collector pushes what happens to the places security teams work.
--
-- `integrations` are the subscriptions: a destination (`kind`, `url`, the payload `format`), the signing secret a generic webhook is
-- signed with (and the previous one, still signed with until `previous_until` while receivers switch over), the
-- event types and the least severity wanted. (`claimed_by`, `claimed_until`) is the lease of the one worker, of
-- all replicas, that delivers the subscription's events, one after another, oldest first; `retry_at` holds the
-- whole subscription back after a failed attempt so its events stay in order.
CREATE TABLE integrations (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    url             TEXT NOT NULL,
    format          TEXT NOT NULL DEFAULT 'json',
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  BIGINT,
    events          TEXT NOT NULL,
    min_severity    TEXT,
    enabled         BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    retry_at        BIGINT,
    claimed_by      TEXT,
    claimed_until   BIGINT
);

-- The transactional outbox: an event is written in the transaction of the change it tells, with one delivery per
-- subscription that wants it, so a change committed is an event that will be sent and a change rolled back never
-- is. `id` is the event's `webhook-id`, the same in every attempt so receivers can drop repeats.
CREATE TABLE events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    type           TEXT NOT NULL,
    at             BIGINT NOT NULL,
    body           TEXT NOT NULL
);

-- One event for one subscription: `pending` until a 2xx answer (`delivered`) or too many failures (`dead`, kept
-- to be replayed); the last attempt's answer is kept for the delivery log.
CREATE TABLE deliveries (
    integration_id  TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_seq       BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    response_code   INTEGER,
    error           TEXT,
    PRIMARY KEY (integration_id, event_seq)
);
CREATE INDEX deliveries_pending ON deliveries (integration_id, status, event_seq);
CREATE INDEX deliveries_event ON deliveries (event_seq);
