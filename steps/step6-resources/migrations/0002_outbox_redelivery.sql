-- An outbox row now stays until the welcome-email consumer has done its work and deletes
-- it, not until the broker acknowledged it: a broker that restarts without its storage, or
-- whose topic is deleted, loses events it acknowledged. The relay publishes a row again
-- when it was not confirmed in time (see outbox.rs), so it needs to know when it last
-- published the row, and how often, to wait longer each time.
--
-- Every step has this same schema, so that all steps can share one database.
ALTER TABLE outbox
    ADD COLUMN published_at  TIMESTAMPTZ,
    ADD COLUMN publish_count INTEGER NOT NULL DEFAULT 0;

-- The consumer deletes a row by its key, once per event: without an index each delete would
-- scan the whole table, and a backlog (after a Kafka outage) would drain ever slower.
CREATE INDEX outbox_message_key ON outbox (message_key);
