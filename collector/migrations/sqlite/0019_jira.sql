-- Ticket integrations (issue 18): a Jira subscription's own settings (project, issue type, the account, priority
-- per severity, transitions) as a JSON object in `settings` ('{}' for the kinds that have none), and the ticket
-- each finding got from each subscription, so later changes comment on and transition that ticket instead of
-- opening another. The secret column holds the Jira API token for these.
ALTER TABLE integrations ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

CREATE TABLE integration_tickets (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    finding_id     TEXT NOT NULL,
    ticket         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (integration_id, finding_id)
);
CREATE INDEX integration_tickets_finding ON integration_tickets (finding_id);
