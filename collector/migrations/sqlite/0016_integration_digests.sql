-- Digests for chat subscriptions (issue 18): with `digest_minutes` set, a Slack or Teams subscription's events are
-- held until the oldest has waited that long, then sent as one message (a fleet's first evaluation opens thousands
-- of findings; nobody reads thousands of chat messages). NULL: one message per event.
ALTER TABLE integrations ADD COLUMN digest_minutes BIGINT;
