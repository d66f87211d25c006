-- Subscription filters (issue 18) beside the least severity: `rules` (rule or advisory ids, or prefixes ending in
-- `*`) and `tags` (the host has one of them), each a JSON array of strings; empty lets everything through.
ALTER TABLE integrations ADD COLUMN rules TEXT NOT NULL DEFAULT '[]';
ALTER TABLE integrations ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
