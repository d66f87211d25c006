-- Single sign-on to the console with OpenID Connect (issue 18, collector/src/sso): users the identity provider
-- vouches for, keyed by the provider's issuer and subject (never by name, so a provider's user cannot take over a
-- local account), and the sign-ins under way between the redirect to the provider and its answer.

ALTER TABLE users ADD COLUMN sso_issuer TEXT;
ALTER TABLE users ADD COLUMN sso_subject TEXT;
-- 'sso' when sign-in found that the provider's claim no longer maps to a role: the next sign-in whose claim maps
-- enables the user again. A user an admin disabled stays disabled.
ALTER TABLE users ADD COLUMN disabled_reason TEXT;
CREATE UNIQUE INDEX users_sso ON users (sso_issuer, sso_subject);

-- One row per redirect to the provider, taken (deleted) by the answer, so a `state` works once. Only hashes of the
-- state and of the browser-binding cookie are kept; the nonce and PKCE verifier are needed in clear.
CREATE TABLE sso_logins (
    state_hash   TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    verifier     TEXT NOT NULL,
    next         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);
