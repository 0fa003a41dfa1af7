//! Arithmetic on identifiers: big-endian unsigned numbers of any length,
//! as DHTs use them (Kademlia's XOR metric, Chord's ring).
//!
//! An id of `n` bytes is a number below `2^(8n)`; with `bits` less than
//! `8n` (a scenario's `id_bits`), the unused high bits of the first byte
//! are zero and ring arithmetic is modulo `2^bits`.
//!
//! ```
//! use peershare_wire::id;
//! let a = [0b0000_0101u8];
//! let b = [0b0000_0011u8];
//! assert_eq!(id::xor(&a, &b), vec![0b0000_0110]);
//! assert_eq!(id::common_prefix_bits(&a, &b, 8), 5);
//! // On a ring of 2^4 positions, from 5 clockwise to 3 is 14 steps.
//! assert_eq!(id::ring_distance(&a, &b, 4), vec![14]);
//! assert_eq!(id::add_pow2(&a, 3, 4), vec![13]); // 5 + 8 mod 16
//! assert!(id::in_ring_interval(&[1], &[15], &[3], 4)); // 1 lies in (15, 3]
//! ```

use core::cmp::Ordering;

/// `a XOR b`, as long as the longer of the two (the shorter is read with
/// leading zeros).
pub fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    let n = a.len().max(b.len());
    (0..n).map(|i| byte(a, n, i) ^ byte(b, n, i)).collect()
}

/// Compares two ids as numbers.
pub fn cmp(a: &[u8], b: &[u8]) -> Ordering {
    if a.len() == b.len() {
        return a.cmp(b);
    }
    let n = a.len().max(b.len());
    (0..n).map(|i| byte(a, n, i).cmp(&byte(b, n, i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

/// Which of `a` and `b` is closer to `target` by XOR distance.
pub fn cmp_xor_distance(target: &[u8], a: &[u8], b: &[u8]) -> Ordering {
    if target.len() == a.len() && a.len() == b.len() {
        // The usual case, ids of one length: no padding to read through.
        for ((t, x), y) in target.iter().zip(a).zip(b) {
            match (t ^ x).cmp(&(t ^ y)) {
                Ordering::Equal => continue,
                other => return other,
            }
        }
        return Ordering::Equal;
    }
    let n = target.len().max(a.len()).max(b.len());
    (0..n)
        .map(|i| {
            let t = byte(target, n, i);
            (t ^ byte(a, n, i)).cmp(&(t ^ byte(b, n, i)))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// How many leading bits of `a` and `b`, of `bits`, are equal (Kademlia's
/// bucket index is `bits - 1 - common_prefix_bits` for distinct ids).
pub fn common_prefix_bits(a: &[u8], b: &[u8], bits: u32) -> u32 {
    let n = a.len().max(b.len());
    let total = n as u32 * 8;
    let zeros = (0..n)
        .map(|i| byte(a, n, i) ^ byte(b, n, i))
        .position(|x| x != 0)
        .map_or(total, |i| i as u32 * 8 + (byte(a, n, i) ^ byte(b, n, i)).leading_zeros());
    zeros.saturating_sub(total.saturating_sub(bits)).min(bits)
}

/// `(to - from) mod 2^bits`: how far `to` lies clockwise from `from` on a
/// ring of `2^bits` positions, as an id of `bits.div_ceil(8)` bytes.
pub fn ring_distance(from: &[u8], to: &[u8], bits: u32) -> Vec<u8> {
    let n = (bits.div_ceil(8) as usize).max(1);
    let mut out = vec![0u8; n];
    let mut borrow = 0i16;
    for i in (0..n).rev() {
        let mut d = byte(to, n, i) as i16 - byte(from, n, i) as i16 - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    mask(&mut out, bits);
    out
}

/// `(id + 2^i) mod 2^bits` (Chord's `i`-th finger start), as an id of
/// `bits.div_ceil(8)` bytes.
pub fn add_pow2(id: &[u8], i: u32, bits: u32) -> Vec<u8> {
    let n = (bits.div_ceil(8) as usize).max(1);
    let mut out: Vec<u8> = (0..n).map(|k| byte(id, n, k)).collect();
    if i < n as u32 * 8 {
        let mut k = n - 1 - (i / 8) as usize;
        let mut carry = 1u16 << (i % 8);
        loop {
            let sum = out[k] as u16 + carry;
            out[k] = sum as u8;
            carry = sum >> 8;
            if carry == 0 || k == 0 {
                break;
            }
            k -= 1;
        }
    }
    mask(&mut out, bits);
    out
}

/// Whether `x` lies in the ring interval `(from, to]` of `2^bits`
/// positions, going clockwise from `from`; `(a, a]` is the whole ring.
/// Allocation-free, like [`cmp_ring_offset`].
pub fn in_ring_interval(x: &[u8], from: &[u8], to: &[u8], bits: u32) -> bool {
    if cmp_masked(from, to, bits).is_eq() {
        return true;
    }
    cmp_masked(x, from, bits).is_ne() && cmp_ring_offset(from, x, to, bits) != Ordering::Greater
}

/// Compares how far `a` and `b` lie clockwise from `origin` on a ring of
/// `2^bits` positions: `ring_distance(origin, a)` against
/// `ring_distance(origin, b)`, without computing either (no allocation).
/// Chord's "closest preceding node" is the candidate with the greatest
/// offset that is still short of the key's.
///
/// ```
/// use peershare_wire::id;
/// use std::cmp::Ordering;
/// // From 250 on a ring of 2^8: 2 is 8 steps away, 252 only 2.
/// assert_eq!(id::cmp_ring_offset(&[250], &[2], &[252], 8), Ordering::Greater);
/// ```
pub fn cmp_ring_offset(origin: &[u8], a: &[u8], b: &[u8], bits: u32) -> Ordering {
    // Ids at or after the origin come first, in numeric order; ids that
    // wrapped past zero come after them, in numeric order too.
    let a_wrapped = cmp_masked(a, origin, bits).is_lt();
    let b_wrapped = cmp_masked(b, origin, bits).is_lt();
    match (a_wrapped, b_wrapped) {
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        _ => cmp_masked(a, b, bits),
    }
}

/// Compares `a mod 2^bits` with `b mod 2^bits`.
fn cmp_masked(a: &[u8], b: &[u8], bits: u32) -> Ordering {
    let n = a.len().max(b.len());
    if a.len() == b.len() && bits as usize >= 8 * n {
        return a.cmp(b);
    }
    let spare = (n as u32 * 8).saturating_sub(bits);
    (0..n)
        .map(|i| {
            let keep = byte_mask(i, spare);
            (byte(a, n, i) & keep).cmp(&(byte(b, n, i) & keep))
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Which bits of byte `i` lie below `2^bits` when the top `spare` bits of
/// the number are unused.
fn byte_mask(i: usize, spare: u32) -> u8 {
    let bit_start = i as u32 * 8;
    if bit_start + 8 <= spare {
        0
    } else if bit_start < spare {
        0xFF >> (spare - bit_start)
    } else {
        0xFF
    }
}

/// Byte `i` of `id` read as a number of `n` bytes (leading zeros added).
fn byte(id: &[u8], n: usize, i: usize) -> u8 {
    let pad = n - id.len().min(n);
    if i < pad { 0 } else { id[id.len() - (n - i)] }
}

/// Clears the bits above `bits` in a big-endian number.
fn mask(out: &mut [u8], bits: u32) {
    let spare = (out.len() as u32 * 8).saturating_sub(bits);
    for (k, b) in out.iter_mut().enumerate() {
        *b &= byte_mask(k, spare);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same arithmetic on u32 ids, for checking.
    fn n(x: u32) -> Vec<u8> {
        x.to_be_bytes().to_vec()
    }

    #[test]
    fn ring_arithmetic_matches_integers_for_every_width() {
        let samples = [0u32, 1, 2, 7, 255, 256, 4095, 65_535, 1 << 20, 0x00AB_CDEF, u32::MAX >> 8];
        for bits in [1u32, 4, 8, 12, 16, 24] {
            let m = (1u64 << bits) - 1;
            for &a in &samples {
                for &b in &samples {
                    let (a, b) = ((a as u64 & m) as u32, (b as u64 & m) as u32);
                    let bytes = bits.div_ceil(8) as usize;
                    let tail = |v: Vec<u8>| v[4 - bytes..].to_vec();
                    let want = (((b as u64).wrapping_sub(a as u64)) & m) as u32;
                    assert_eq!(ring_distance(&n(a), &n(b), bits), tail(n(want)), "{a} -> {b} on {bits} bits");
                    for i in [0, 1, bits - 1] {
                        let want = ((a as u64 + (1u64 << i)) & m) as u32;
                        assert_eq!(add_pow2(&n(a), i, bits), tail(n(want)), "{a} + 2^{i} on {bits} bits");
                    }
                    assert_eq!(cmp(&n(a), &n(b)), a.cmp(&b));
                    assert_eq!(xor(&n(a), &n(b)), n(a ^ b));
                }
            }
        }
    }

    #[test]
    fn intervals_wrap_around_the_ring() {
        let r = |x: u8, a: u8, b: u8| in_ring_interval(&[x], &[a], &[b], 8);
        assert!(r(5, 3, 9) && r(9, 3, 9) && !r(3, 3, 9) && !r(10, 3, 9));
        assert!(r(1, 250, 3) && r(255, 250, 3) && !r(100, 250, 3));
        assert!(r(42, 7, 7), "(a, a] is the whole ring");
    }

    #[test]
    fn ring_offsets_compare_like_ring_distances() {
        // Includes ids with junk above `bits` and ids of other lengths.
        let ids: [&[u8]; 9] = [&[0], &[1], &[7], &[0x80], &[0xFF], &[0x0F, 0xF0], &[0xF0, 0x0F], &[3, 0], &[]];
        for bits in [4u32, 8, 12, 16] {
            for o in ids {
                for a in ids {
                    for b in ids {
                        let want = cmp(&ring_distance(o, a, bits), &ring_distance(o, b, bits));
                        assert_eq!(cmp_ring_offset(o, a, b, bits), want, "{o:?}: {a:?} vs {b:?} on {bits} bits");
                        let span = ring_distance(o, b, bits);
                        let offset = ring_distance(o, a, bits);
                        let zero = |v: &[u8]| v.iter().all(|&x| x == 0);
                        let want = zero(&span) || (!zero(&offset) && cmp(&offset, &span).is_le());
                        assert_eq!(in_ring_interval(a, o, b, bits), want, "{a:?} in ({o:?}, {b:?}] on {bits} bits");
                    }
                }
            }
        }
    }

    #[test]
    fn common_prefixes_count_only_the_id_bits() {
        assert_eq!(common_prefix_bits(&[0b0000_1000], &[0b0000_1001], 4), 3);
        assert_eq!(common_prefix_bits(&[0xFF, 0], &[0xFF, 0], 16), 16);
        assert_eq!(common_prefix_bits(&[0x80, 0], &[0, 0], 16), 0);
        assert_eq!(cmp_xor_distance(&[0], &[1], &[2]), Ordering::Less);
    }
}
