//! What the codec's test files share.

/// `p` with its request authenticator recomputed for `secret` (RFC 2866
/// §3, over the header's Length), so a test can change an attribute and
/// still get past the signature to the check it means.
pub fn resign(p: &mut [u8], secret: &[u8]) {
    use md5::{Digest, Md5};
    let len = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let auth: [u8; 16] = Md5::new()
        .chain_update(&p[..4])
        .chain_update([0u8; 16])
        .chain_update(&p[20..len])
        .chain_update(secret)
        .finalize()
        .into();
    p[4..20].copy_from_slice(&auth);
}
