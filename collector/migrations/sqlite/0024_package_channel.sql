-- The channel a host follows for a package's updates (a snap's tracking channel): the host's choice, so a column of
-- its link, like the package manager's state, not of the shared catalogue row.
ALTER TABLE host_software ADD COLUMN channel TEXT;
