-- Retention (app::retention) deletes host history by age across all hosts.
CREATE INDEX history_at ON history (at);
