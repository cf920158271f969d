use super::*;
use std::time::Instant;

fn settings() -> CacheSettings {
    CacheSettings {
        ttl: Duration::from_secs(30),
        capacity: 100,
    }
}

fn active(token_id: &str, session_id: &str) -> Introspection {
    Introspection {
        active: true,
        token_id: token_id.into(),
        session_id: session_id.into(),
        subject: "u1".into(),
        username: "alice".into(),
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::hours(1)),
        ..Default::default()
    }
}

fn hex_of(secret: &str) -> String {
    TokenHash::of(secret).to_hex()
}

/// A cache whose feed reports itself connected.
fn followed() -> AnswerCache {
    let cache = AnswerCache::new(settings(), EdgeMetrics::default());
    connect(&cache, 0);
    cache
}

/// The feed connects after `after` and the database grants a lease of an hour.
fn connect(cache: &AnswerCache, after: u64) {
    follower(cache).connected(after);
    follower(cache).renewed(Instant::now() + Duration::from_secs(3600));
}

fn follower(cache: &AnswerCache) -> &AnswerTable {
    cache.inner.as_deref().expect("enabled")
}

fn remember(cache: &AnswerCache, secret: &str, answer: &Introspection) -> TokenHash {
    let key = TokenHash::of(secret);
    cache.insert(key, answer, cache.epoch());
    key
}

#[test]
fn a_zero_ttl_or_size_turns_the_cache_off() {
    for settings in [
        CacheSettings {
            ttl: Duration::ZERO,
            capacity: 10,
        },
        CacheSettings {
            ttl: Duration::from_secs(5),
            capacity: 0,
        },
    ] {
        let cache = AnswerCache::new(settings, EdgeMetrics::default());
        assert!(!cache.is_enabled());
        remember(&cache, "tsr_api_a", &active("t1", "s1"));
        assert!(cache.get(&TokenHash::of("tsr_api_a")).is_none());
    }
}

#[test]
fn nothing_is_served_or_kept_until_the_feed_is_followed() {
    let cache = AnswerCache::new(settings(), EdgeMetrics::default());
    assert!(!cache.is_trusted());
    let key = remember(&cache, "tsr_api_a", &active("t1", "s1"));
    assert!(cache.is_empty(), "an untrusted cache keeps nothing");
    connect(&cache, 0);
    assert!(cache.get(&key).is_none());
    remember(&cache, "tsr_api_a", &active("t1", "s1"));
    assert_eq!(
        cache.get(&key).map(|a| a.token_id.clone()),
        Some("t1".into())
    );
}

#[test]
fn only_active_unlimited_unexpired_answers_are_kept() {
    let cache = followed();
    let limited = Introspection {
        uses_remaining: Some(5),
        ..active("t1", "s1")
    };
    let inactive = Introspection::default();
    let expired = Introspection {
        expires_at: Some(OffsetDateTime::now_utc() - time::Duration::seconds(1)),
        ..active("t3", "s1")
    };
    for (secret, answer) in [("a", &limited), ("b", &inactive), ("c", &expired)] {
        let key = remember(&cache, secret, answer);
        assert!(cache.get(&key).is_none(), "{secret} was cached");
    }
    let forever = Introspection {
        expires_at: None,
        ..active("t4", "")
    };
    let key = remember(&cache, "d", &forever);
    assert!(
        cache.get(&key).is_some(),
        "a token without expiry, for the ttl"
    );
}

#[test]
fn an_entry_dies_at_the_tokens_expiry_or_the_ttl_whichever_is_first() {
    let cache = followed();
    let soon = Introspection {
        expires_at: Some(OffsetDateTime::now_utc() + time::Duration::milliseconds(1500)),
        ..active("t1", "s1")
    };
    let key = remember(&cache, "a", &soon);
    let inner = follower(&cache);
    let until = inner.read().by_key[&key].until;
    assert!(until <= Instant::now() + Duration::from_millis(1500));

    let short = AnswerCache::new(
        CacheSettings {
            ttl: Duration::from_millis(200),
            capacity: 10,
        },
        EdgeMetrics::default(),
    );
    connect(&short, 0);
    let key = remember(&short, "b", &active("t2", "s2"));
    let until = follower(&short).read().by_key[&key].until;
    assert!(until <= Instant::now() + Duration::from_millis(200));
}

#[test]
fn a_revocation_drops_entries_by_hash_token_id_and_session() {
    let cache = followed();
    let by_hash = remember(&cache, "tsr_api_a", &active("t1", "s1"));
    let by_id = remember(&cache, "tsr_api_b", &active("t2", "s2"));
    let child_one = remember(&cache, "tsr_api_c", &active("t3", "s3"));
    let child_two = remember(&cache, "tsr_api_d", &active("t4", "s3"));
    let other = remember(&cache, "tsr_api_e", &active("t5", "s5"));

    assert_eq!(cache.record(&hex_of("tsr_api_a"), ""), 1);
    assert!(cache.get(&by_hash).is_none());
    assert_eq!(cache.record("not-hex", "t2"), 1);
    assert!(cache.get(&by_id).is_none());
    // The session token itself is revoked: everything deriving from it goes.
    assert_eq!(cache.record(&hex_of("tsr_api_session"), "s3"), 2);
    assert!(cache.get(&child_one).is_none() && cache.get(&child_two).is_none());
    assert!(cache.get(&other).is_some(), "an unrelated token stays");
    assert_eq!(cache.len(), 1);
    assert!(
        follower(&cache).read().by_id.len() == 2,
        "index tracks entries"
    );
}

#[test]
fn an_answer_begun_before_an_invalidation_is_not_kept() {
    let cache = followed();
    let key = TokenHash::of("tsr_api_a");
    let epoch = cache.epoch();
    // The revocation overtakes the Introspect in flight.
    cache.record(&hex_of("tsr_api_a"), "t1");
    cache.insert(key, &active("t1", "s1"), epoch);
    assert!(cache.get(&key).is_none());
    cache.insert(key, &active("t1", "s1"), cache.epoch());
    assert!(cache.get(&key).is_some());
}

#[test]
fn a_feed_down_or_a_lost_place_empties_and_bypasses_the_cache() {
    let cache = followed();
    let key = remember(&cache, "tsr_api_a", &active("t1", "s1"));
    let epoch = cache.epoch();
    follower(&cache).disconnected(&Error::from_status(&tonic::Status::unavailable("down")));
    assert!(!cache.is_trusted() && cache.is_empty());
    assert!(cache.get(&key).is_none());
    connect(&cache, 3);
    cache.insert(key, &active("t1", "s1"), epoch);
    assert!(
        cache.get(&key).is_none(),
        "an answer from before the outage is not kept"
    );
    remember(&cache, "tsr_api_a", &active("t1", "s1"));
    assert!(cache.get(&key).is_some());

    follower(&cache).lost_place(Some(10));
    assert!(!cache.is_trusted() && cache.is_empty());
    remember(&cache, "tsr_api_a", &active("t1", "s1"));
    assert!(
        cache.is_empty(),
        "not rebuilt until the feed is followed again"
    );
}

#[test]
fn forgetting_a_token_drops_it_and_what_derives_from_it() {
    let cache = followed();
    let session = remember(&cache, "tsr_ses_a", &active("s1", ""));
    let child = remember(&cache, "tsr_api_b", &active("t2", "s1"));
    cache.forget(&session);
    assert!(cache.get(&session).is_none() && cache.get(&child).is_none());
}

#[test]
fn the_cache_stays_within_its_size() {
    let cache = AnswerCache::new(
        CacheSettings {
            ttl: Duration::from_secs(30),
            capacity: 3,
        },
        EdgeMetrics::default(),
    );
    connect(&cache, 0);
    for n in 0..10 {
        remember(
            &cache,
            &format!("tsr_api_{n}"),
            &active(&format!("t{n}"), "s"),
        );
        assert!(cache.len() <= 3);
    }
    assert!(
        cache.get(&TokenHash::of("tsr_api_9")).is_some(),
        "the newest stays"
    );
    let inner = follower(&cache);
    assert_eq!(inner.read().by_id["s"].len(), 3);
}

#[test]
fn keys_come_from_the_feeds_hex_only() {
    assert!(TokenHash::from_hex(&hex_of("x")) == Some(TokenHash::of("x")));
    assert!(TokenHash::from_hex("").is_none());
    assert!(TokenHash::from_hex("zz").is_none());
    let printed = format!("{:?}", TokenHash::of("tsr_api_secret"));
    assert!(!printed.contains("secret"), "{printed}");
}

#[test]
fn a_lapsed_lease_bypasses_the_cache_and_the_next_lease_starts_empty() {
    let cache = followed();
    let key = remember(&cache, "tsr_api_a", &active("t1", "s1"));
    assert!(cache.get(&key).is_some());
    // Connected, but the database has not renewed the lease in time (a silent stream).
    follower(&cache).renewed(Instant::now());
    assert!(!cache.is_trusted());
    assert!(cache.get(&key).is_none(), "nothing served past the lease");
    let epoch = cache.epoch();
    remember(&cache, "tsr_api_b", &active("t2", "s2"));
    follower(&cache).renewed(Instant::now() + Duration::from_secs(60));
    assert!(cache.is_trusted());
    assert!(
        cache.get(&key).is_none() && cache.is_empty(),
        "what was held before the lapse is gone"
    );
    cache.insert(key, &active("t1", "s1"), epoch);
    assert!(
        cache.is_empty(),
        "an answer begun before the lapse is not kept"
    );
}
