-- Tessera's initial schema: accounts, tokens (stored only as SHA-256 hashes), the revocation feed
-- and the audit trail. Times always come from the application's clock, never from now(), so expiry
-- logic can be tested without sleeping.

CREATE TABLE users (
    id               uuid        PRIMARY KEY,
    username         text        NOT NULL UNIQUE CHECK (username <> ''),
    display_name     text        NOT NULL DEFAULT '',
    role             text        NOT NULL CHECK (role IN ('user', 'admin', 'owner', 'superuser', 'root')),
    password_hash    text        NOT NULL,
    -- TOTP seed sealed with the key from configuration (never the database's).
    totp_sealed      bytea,
    -- Highest TOTP time step accepted so far: a code is accepted once.
    totp_last_step   bigint,
    -- Attempts reserved since the last success; reserved before the password is checked, so
    -- parallel attempts can never exceed the limit.
    failed_logins    integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    disabled         boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL
);

CREATE TABLE tokens (
    id              uuid        PRIMARY KEY,
    hash            bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    kind            text        NOT NULL CHECK (kind IN ('session', 'elevated', 'api', 'service', 'static', 'master')),
    subject         uuid        REFERENCES users (id) ON DELETE CASCADE,
    parent_id       uuid        REFERENCES tokens (id) ON DELETE CASCADE,
    session_id      uuid,
    namespace       text        NOT NULL CHECK (namespace <> ''),
    permissions     text[]      NOT NULL,
    elevated        boolean     NOT NULL DEFAULT false,
    description     text        NOT NULL DEFAULT '',
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz,
    -- NULL means unlimited; otherwise decremented atomically by Introspect.
    uses_remaining  integer     CHECK (uses_remaining >= 0),
    max_uses        integer,
    revoked_at      timestamptz
);

CREATE INDEX tokens_parent_idx ON tokens (parent_id) WHERE parent_id IS NOT NULL;
CREATE INDEX tokens_session_idx ON tokens (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX tokens_subject_idx ON tokens (subject) WHERE subject IS NOT NULL;
CREATE INDEX tokens_expires_idx ON tokens (expires_at) WHERE expires_at IS NOT NULL;

-- Every revocation, in order, for WatchRevocations and replica caches. Kept after the token row is
-- swept so a subscriber resuming from an old sequence still sees it.
CREATE TABLE revocations (
    sequence    bigserial   PRIMARY KEY,
    token_id    uuid        NOT NULL,
    token_hash  bytea       NOT NULL,
    revoked_at  timestamptz NOT NULL
);

CREATE TABLE audit_events (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    outcome     text        NOT NULL,
    actor       uuid,
    username    text,
    token_id    uuid,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, at);
