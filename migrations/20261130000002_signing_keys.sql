-- JWT signing keys (Ed25519). The private half is sealed with the key from configuration (the one
-- that also seals TOTP seeds), never stored in clear; the public half is served as JWKS. The newest
-- key not yet retired signs new tokens; retired keys keep verifying the tokens they signed.

CREATE TABLE signing_keys (
    kid             text        PRIMARY KEY CHECK (kid <> '' AND length(kid) <= 128),
    algorithm       text        NOT NULL DEFAULT 'EdDSA' CHECK (algorithm = 'EdDSA'),
    public_key      bytea       NOT NULL CHECK (octet_length(public_key) = 32),
    private_sealed  bytea       NOT NULL,
    created_at      timestamptz NOT NULL,
    -- When a newer key took over signing; the key still verifies.
    retired_at      timestamptz,
    -- When the key stops verifying too (NULL: while it is kept).
    not_after       timestamptz
);

CREATE INDEX signing_keys_current_idx ON signing_keys (created_at) WHERE retired_at IS NULL;
