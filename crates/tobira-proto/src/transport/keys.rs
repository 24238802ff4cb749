//! Key derivation (RFC 4253 §7.2).

use zeroize::Zeroizing;

use crate::crypto::HashAlg;

/// Derives `need` bytes for `letter` ('A'..'F'):
/// K1 = HASH(K || H || letter || session_id), Kn = HASH(K || H || K1 || … ||
/// K(n-1)), concatenated and truncated. `k_encoded` is K as it appears on
/// the wire (an mpint for DH/ECDH, a string for the hybrid methods).
pub fn derive(
    hash: HashAlg,
    k_encoded: &[u8],
    h: &[u8],
    letter: u8,
    session_id: &[u8],
    need: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(need + hash.output_len()));
    let mut ctx = hash.context();
    ctx.update(k_encoded);
    ctx.update(h);
    ctx.update(&[letter]);
    ctx.update(session_id);
    out.extend_from_slice(ctx.finish().as_ref());
    while out.len() < need {
        let mut ctx = hash.context();
        ctx.update(k_encoded);
        ctx.update(h);
        ctx.update(&out);
        out.extend_from_slice(ctx.finish().as_ref());
    }
    out.truncate(need);
    out
}
