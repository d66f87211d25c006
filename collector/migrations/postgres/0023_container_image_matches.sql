-- Container images are matched against advisories like machines of their own OS (issue 19). Each host keeps the
-- package lists of its images here rather than in its software section, which every rule evaluation decodes. One
-- row per host and image: an image id claimed by one agent never changes what another host's image is said to hold.
-- `digest` is the SHA-256 of `packages`, so a report rewrites only the images that changed.
CREATE TABLE host_image_packages (
    host_id  TEXT NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    image_id TEXT NOT NULL,
    digest   TEXT NOT NULL,
    packages TEXT NOT NULL,
    PRIMARY KEY (host_id, image_id)
);

-- A match in one of the host's container images names the image; NULL for the host's own packages.
ALTER TABLE host_vulnerabilities ADD COLUMN image_id TEXT;

-- Package lists of images stored before this migration were dropped: a host with images is asked for its software
-- section in full at its next report (a stored hash that matches no agent's makes ingest ask), so its images are
-- matched without waiting for its software to change.
UPDATE host_sections SET hash = '' WHERE section = 'software' AND content LIKE '%"container_images"%';
