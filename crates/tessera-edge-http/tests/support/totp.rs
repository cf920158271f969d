//! RFC 6238 TOTP (SHA-1, 6 digits, 30-second steps), computed in the test from the seed that
//! `tessera user add --totp` prints.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Decodes RFC 4648 base32 (no padding needed, case-insensitive).
pub fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("{:?} is not base32", c as char)) as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// The code for `secret` (base32) at step `counter`.
pub fn code_at(secret: &str, counter: u64) -> String {
    let key = base32_decode(secret);
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// The current 30-second step.
pub fn current_step() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        / 30
}

/// The code valid now.
pub fn code_now(secret: &str) -> String {
    code_at(secret, current_step())
}

#[test]
fn rfc6238_sha1_vectors() {
    // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", truncated to 6 digits.
    let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
    assert_eq!(base32_decode(secret), b"12345678901234567890");
    assert_eq!(code_at(secret, 59 / 30), "287082");
    assert_eq!(code_at(secret, 1_111_111_109 / 30), "081804");
    assert_eq!(code_at(secret, 20_000_000_000 / 30), "353130");
}
