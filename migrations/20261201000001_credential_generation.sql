-- Issue 12: no token outlives what should end it. Each account carries a credential generation,
-- bumped in the same transaction as a password reset, a disable or a role change; each token is
-- stamped with its account's generation when issued (a child inherits its parent's). Introspect's
-- one statement treats a token whose generation differs from its account's as inactive, so a
-- session minted from a login that raced a reset is dead even if the reset's revocation walk
-- never saw it. Existing rows start at 0 on both sides, so every token in force stays in force.

ALTER TABLE users ADD COLUMN generation bigint NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN generation bigint NOT NULL DEFAULT 0;
