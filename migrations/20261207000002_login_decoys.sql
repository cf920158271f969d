-- Login attempts on unknown or disabled accounts (issue 30: timing told them from real ones).
--
-- A wrong password reserves an attempt on its account (an UPDATE that commits), then records the
-- failure and its audit row in one transaction. An attempt on an account that does not exist
-- does the same work on one of these rows, chosen by a hash of the name, so both cost the same
-- statements and the same committed writes. The rows hold nothing anyone reads; the count wraps.
CREATE TABLE login_decoys (
    slot          smallint    PRIMARY KEY,
    failed_logins integer     NOT NULL DEFAULT 0,
    locked_until  timestamptz
);

INSERT INTO login_decoys (slot) SELECT generate_series(0, 63);
