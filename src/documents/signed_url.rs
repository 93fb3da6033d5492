//! Download links that need no credentials, for documents on local storage (on S3 the
//! store presigns them itself: `Storage::presigned_get_url`).
//!
//! A link names the document, its organisation and an expiry (Unix seconds), and carries
//! an HMAC-SHA256 over the three, keyed with the server's `SECRET_KEY` and a purpose
//! label (so no other signature of that key can be replayed as a link). A link past its
//! expiry, or with any character changed, is refused `403`; the organisation in the link
//! still scopes the document lookup, so a link never reaches another organisation's row.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// The shortest and longest lifetime a link may be asked for, in seconds (1 s, 7 days).
pub const MIN_EXPIRES_IN: u64 = 1;
pub const MAX_EXPIRES_IN: u64 = 7 * 24 * 3600;

const PURPOSE: &[u8] = b"quire.documents.signed-download.v1";

/// HMAC-SHA256 (RFC 2104) over the concatenated `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The hex signature of a link to `document_id` of `org_id` valid until `expires`.
pub fn sign(key: &Secret, org_id: &str, document_id: &str, expires: i64) -> String {
    let expires = expires.to_string();
    hex::encode(hmac_sha256(
        key.expose().as_bytes(),
        &[
            PURPOSE,
            b"\n",
            org_id.as_bytes(),
            b"\n",
            document_id.as_bytes(),
            b"\n",
            expires.as_bytes(),
        ],
    ))
}

#[derive(Debug, PartialEq, Eq)]
pub enum LinkError {
    Expired,
    BadSignature,
}

/// Checks a link at `now` (Unix seconds).
pub fn verify(
    key: &Secret,
    org_id: &str,
    document_id: &str,
    expires: i64,
    signature: &str,
    now: i64,
) -> Result<(), LinkError> {
    let expected = sign(key, org_id, document_id, expires);
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(LinkError::BadSignature);
    }
    if now > expires {
        return Err(LinkError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 test case 6).
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_link_verifies_until_it_expires_and_not_when_any_part_changes() {
        let key = Secret::new("k".repeat(40));
        let sig = sign(&key, "org", "doc", 1_000);
        assert_eq!(verify(&key, "org", "doc", 1_000, &sig, 999), Ok(()));
        assert_eq!(verify(&key, "org", "doc", 1_000, &sig, 1_000), Ok(()));
        assert_eq!(
            verify(&key, "org", "doc", 1_000, &sig, 1_001),
            Err(LinkError::Expired)
        );
        for (org, doc, expires) in [
            ("org2", "doc", 1_000),
            ("org", "doc2", 1_000),
            ("org", "doc", 1_001),
        ] {
            assert_eq!(
                verify(&key, org, doc, expires, &sig, 0),
                Err(LinkError::BadSignature)
            );
        }
        let other = Secret::new("j".repeat(40));
        assert_eq!(
            verify(&other, "org", "doc", 1_000, &sig, 0),
            Err(LinkError::BadSignature)
        );
    }
}
