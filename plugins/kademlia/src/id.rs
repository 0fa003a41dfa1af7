//! Identifiers and the XOR metric.

use std::cmp::Ordering;

/// A node id or key: big-endian bytes, `bits` significant bits.
pub type Id = Vec<u8>;

/// The XOR distance between two ids of the same length.
pub fn distance(a: &[u8], b: &[u8]) -> Id {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Compares the distances of `a` and `b` to `target` without allocating.
pub fn cmp_distance(target: &[u8], a: &[u8], b: &[u8]) -> Ordering {
    for ((t, x), y) in target.iter().zip(a).zip(b) {
        match (t ^ x).cmp(&(t ^ y)) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// The bucket an id at XOR distance `d` belongs in: the position of the
/// highest set bit, counting from 0 at the least significant of `bits` bits.
/// `None` for distance zero (the node itself).
pub fn bucket_index(d: &[u8], bits: u32) -> Option<usize> {
    let total = d.len() as u32 * 8;
    for (i, byte) in d.iter().enumerate() {
        if *byte != 0 {
            let from_top = i as u32 * 8 + byte.leading_zeros();
            return Some((total - 1 - from_top).min(bits - 1) as usize);
        }
    }
    None
}

/// A random id whose distance from `own` falls in bucket `bucket`: the
/// bucket's bit set, higher bits equal to `own`'s, lower bits random.
pub fn random_in_bucket(own: &[u8], bucket: usize, mut random: impl FnMut() -> u64) -> Id {
    let total = own.len() * 8;
    let mut d = vec![0u8; own.len()];
    for byte in d.iter_mut() {
        *byte = random() as u8;
    }
    // Clear every bit above `bucket`, set the bit `bucket` itself.
    for bit in bucket + 1..total {
        let from_top = total - 1 - bit;
        d[from_top / 8] &= !(0x80 >> (from_top % 8));
    }
    let from_top = total - 1 - bucket;
    d[from_top / 8] |= 0x80 >> (from_top % 8);
    distance(own, &d)
}
