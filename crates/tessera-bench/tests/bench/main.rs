//! tessera-bench's integration tests, linked into one binary (linking is the slow part of a build
//! on a small machine): the smoke run of every scenario (`smoke`), the one-minute soak (`soak`)
//! and a toy-sized scale run (`scale`), as CI runs them.
//!
//! Each one loads the machine on purpose and bounds its own run time, so they take turns: each
//! holds [`one_at_a_time`] for its whole run, as they did when each was a binary of its own.

// A test reads as one story, from its set-up to its last assertion.
#![allow(clippy::too_many_lines)]

mod scale;
mod smoke;
mod soak;

/// Held by each test for its whole run: one load run at a time.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
