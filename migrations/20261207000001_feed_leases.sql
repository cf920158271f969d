-- Followers of the revocation feed (replicas and edges) and their leases.
--
-- A follower caches decisions only while it holds a lease, and it gets or renews one only by
-- proving, in `tessera_feed_renew`, that it has applied every revocation committed so far. The
-- lease is recorded here so that Revoke can wait until every follower with a live lease has
-- acknowledged the new revocations (`applied_sequence`), or its lease has run out.
CREATE TABLE feed_followers (
    follower_id      uuid        PRIMARY KEY,
    kind             text        NOT NULL,
    name             text        NOT NULL,
    applied_sequence bigint      NOT NULL,
    -- The anchor of the revocation at applied_sequence (token id and revocation time): an
    -- acknowledgement counts only while the feed still holds that revocation there, so rows left
    -- from before the feed moved backwards (a restore, a failover) acknowledge nothing new.
    applied_token    uuid,
    applied_at       timestamptz,
    lease_until      timestamptz NOT NULL,
    renewed_at       timestamptz NOT NULL
);

CREATE INDEX feed_followers_lease_idx ON feed_followers (lease_until);

-- Acknowledges what a follower has applied and renews its lease when it is current.
--
-- The follower's position is a sequence and the anchor of the revocation at that sequence (its
-- token id and revocation time): the feed must still hold that very revocation there, or the feed
-- moved backwards under the follower (a restore, point-in-time recovery, failover to a lagging
-- standby) and whatever it derived from the feed is unknown.
--
-- The lease lock orders a renewal against every Revoke: the renewal holds it shared from before it
-- reads the head until it commits; a Revoke, after its own commit and before it first reads the
-- followers, takes it exclusively for a moment (a barrier). A renewal that began before the barrier
-- has committed by the time the Revoke reads the followers, so the Revoke sees its lease and waits
-- for it; one that begins after it reads a head that holds the revocation, so a follower that has
-- not applied it is `behind` and gets no lease. Neither waits for a Revoke's tree walk: the lease
-- lock is not the feed lock that orders the revocations themselves.
--
-- status: 'current' (lease renewed until lease_until), 'behind' (acknowledged, no lease: read the
-- feed after applied_sequence, then renew again), 'moved' (the anchor is not in the feed any more:
-- drop everything derived from the feed and start again from the head), 'pruned' (revocations after
-- the position were pruned: the same), 'acknowledged' (with p_renew false: the acknowledgement is
-- recorded, the lease left as it was, and no lock taken, so a follower can acknowledge right after
-- applying revocations without queueing behind the Revokes waiting for it).
CREATE FUNCTION tessera_feed_renew(
    p_follower uuid, p_kind text, p_name text, p_applied bigint,
    p_anchor_token uuid, p_anchor_at timestamptz, p_lease_ms integer, p_renew boolean)
RETURNS TABLE (status text, head bigint, lease_until timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    v_head bigint;
    v_oldest bigint;
    v_status text;
    v_until timestamptz;
    v_previous bigint;
BEGIN
    IF NOT p_renew THEN
        UPDATE feed_followers AS f SET
            applied_sequence = p_applied, applied_token = p_anchor_token,
            applied_at = p_anchor_at, renewed_at = clock_timestamp()
        WHERE f.follower_id = p_follower AND f.applied_sequence IS DISTINCT FROM p_applied;
        IF FOUND THEN
            PERFORM pg_notify('tessera_feed_acks', p_applied::text);
        END IF;
        RETURN QUERY SELECT 'acknowledged'::text, NULL::bigint, NULL::timestamptz;
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(8391176340604285797); -- LEASE_LOCK, "tsrlease"
    SELECT COALESCE(MAX(r.sequence), 0), MIN(r.sequence) INTO v_head, v_oldest FROM revocations r;
    IF p_applied > v_head THEN
        v_status := 'moved';
    ELSIF p_applied > 0 AND v_oldest IS NOT NULL AND p_applied < v_oldest THEN
        v_status := 'pruned';
    ELSIF p_applied > 0 AND NOT EXISTS (
            SELECT 1 FROM revocations r
            WHERE r.sequence = p_applied AND r.token_id = p_anchor_token
              AND r.revoked_at = p_anchor_at) THEN
        v_status := 'moved';
    ELSIF p_applied < v_head THEN
        v_status := 'behind';
    ELSE
        v_status := 'current';
    END IF;
    IF v_status IN ('moved', 'pruned') THEN
        -- The row stays as it was: a Revoke keeps waiting for this follower's lease, which runs
        -- out unless the follower, having emptied its cache, acknowledges a position in the feed
        -- as it is now.
        RETURN QUERY SELECT v_status, v_head, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT f.applied_sequence INTO v_previous FROM feed_followers f
        WHERE f.follower_id = p_follower;
    IF v_status = 'current' THEN
        v_until := clock_timestamp() + make_interval(secs => p_lease_ms / 1000.0);
    END IF;
    INSERT INTO feed_followers AS f
        (follower_id, kind, name, applied_sequence, applied_token, applied_at, lease_until,
         renewed_at)
    VALUES (p_follower, p_kind, p_name, p_applied, p_anchor_token, p_anchor_at,
            COALESCE(v_until, clock_timestamp()), clock_timestamp())
    ON CONFLICT (follower_id) DO UPDATE SET
        applied_sequence = EXCLUDED.applied_sequence,
        applied_token = EXCLUDED.applied_token,
        applied_at = EXCLUDED.applied_at,
        lease_until = COALESCE(v_until, f.lease_until),
        renewed_at = EXCLUDED.renewed_at,
        name = EXCLUDED.name;
    IF v_previous IS DISTINCT FROM p_applied THEN
        -- Revokes waiting for acknowledgements look again.
        PERFORM pg_notify('tessera_feed_acks', p_applied::text);
    END IF;
    RETURN QUERY SELECT v_status, v_head, v_until;
END;
$$;
