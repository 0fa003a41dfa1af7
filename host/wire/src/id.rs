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
pub fn in_ring_interval(x: &[u8], from: &[u8], to: &[u8], bits: u32) -> bool {
    let span = ring_distance(from, to, bits);
    let offset = ring_distance(from, x, bits);
    let zero = span.iter().all(|&b| b == 0);
    let offset_zero = offset.iter().all(|&b| b == 0);
    if zero {
        return true;
    }
    !offset_zero && cmp(&offset, &span) != Ordering::Greater
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
        let bit_start = k as u32 * 8;
        if bit_start + 8 <= spare {
            *b = 0;
        } else if bit_start < spare {
            *b &= 0xFF >> (spare - bit_start);
        }
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
    fn common_prefixes_count_only_the_id_bits() {
        assert_eq!(common_prefix_bits(&[0b0000_1000], &[0b0000_1001], 4), 3);
        assert_eq!(common_prefix_bits(&[0xFF, 0], &[0xFF, 0], 16), 16);
        assert_eq!(common_prefix_bits(&[0x80, 0], &[0, 0], 16), 0);
        assert_eq!(cmp_xor_distance(&[0], &[1], &[2]), Ordering::Less);
    }
}
