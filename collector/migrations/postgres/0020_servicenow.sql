-- ServiceNow incidents (issue 18): a ticket is shown by its number (INC0010001) but addressed by the record's
-- sys_id, so each ticket keeps the tracker's own reference beside the key people read. Jira's rows from before
-- keep '' (read back as their key, which is Jira's reference; new ones store the key in both). A ServiceNow subscription's settings go in integrations.settings as {"servicenow": …}.
ALTER TABLE integration_tickets ADD COLUMN reference TEXT NOT NULL DEFAULT '';
