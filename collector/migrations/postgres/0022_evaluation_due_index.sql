-- A scheduled run lists the hosts due (`evaluate_after` NULL or past) from this index instead of reading every host
-- (issue 14): at 100,000 hosts a quarter-hour run with little due then reads little. The id makes it covering.
CREATE INDEX hosts_evaluate_after ON hosts (evaluate_after, id);
