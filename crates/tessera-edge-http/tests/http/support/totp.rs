//! TOTP codes for the browser test, from the seed that `tessera user add --totp` prints, computed
//! by Tessera's own TOTP module (`tessera_core::totp`, over `totp-rs`): the test types what an
//! authenticator app would show, with no second implementation to drift from the server's.

use tessera_core::totp::TotpSecret;
use time::OffsetDateTime;

/// The code for `secret` (base32) at step `counter`.
pub fn code_at(secret: &str, counter: u64) -> String {
    let secret = TotpSecret::from_base32(secret).expect("the printed seed is base32");
    secret.code_at(i64::try_from(counter).expect("a step after 1970"))
}

/// The current 30-second step.
pub fn current_step() -> u64 {
    u64::try_from(TotpSecret::step_of(OffsetDateTime::now_utc())).expect("clock after 1970")
}

/// The code valid now.
pub fn code_now(secret: &str) -> String {
    code_at(secret, current_step())
}

#[test]
fn rfc6238_sha1_vectors() {
    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(code_at(secret, 59 / 30), "287082");
    assert_eq!(code_at(secret, 1_111_111_109 / 30), "081804");
    assert_eq!(code_at(secret, 20_000_000_000 / 30), "353130");
}
