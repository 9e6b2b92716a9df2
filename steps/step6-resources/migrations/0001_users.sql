-- Users, and the transactional outbox that makes `user.created` events reliable:
-- a user and its event are written in one transaction, and the outbox relay publishes
-- the event to Kafka afterwards (see outbox.rs).
--
-- Every step has this same schema, so that all steps can share one database.
CREATE TABLE users (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT        NOT NULL,
    email      TEXT        NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  TEXT        NOT NULL,
    message_key TEXT        NOT NULL,
    payload     TEXT        NOT NULL,
    -- Kafka headers to send with the event, as a JSON object. Empty until step 3, which
    -- stores the request's trace context here so the trace continues through Kafka.
    headers     TEXT        NOT NULL DEFAULT '{}',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
