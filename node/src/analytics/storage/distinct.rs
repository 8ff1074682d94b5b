//! Distinct counts without keeping who: HyperLogLog++ sketches (the `hyperloglogplus`
//! crate), sparse while small (exact in practice for tens of members), about 1.6 % error
//! at the platform's precision once large. Hashing is SHA-256 (`sha2`), fixed across
//! builds, so sketches stored by one version merge with the next's.

use std::hash::{BuildHasher, Hasher};

use hyperloglogplus::{HyperLogLog, HyperLogLogPlus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A hasher whose output never changes between Rust or crate versions.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StableHash;

pub struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_be_bytes(first)
    }
}

impl BuildHasher for StableHash {
    type Hasher = Sha256Hasher;

    fn build_hasher(&self) -> Sha256Hasher {
        Sha256Hasher(Sha256::new())
    }
}

/// A set of ids, estimated.
#[derive(Serialize, Deserialize)]
pub struct Distinct(HyperLogLogPlus<[u8], StableHash>);

/// Precision of platform-wide sketches (2^14 registers when dense: ~0.8 % error).
pub const PLATFORM: u8 = 14;
/// Precision of per-post reach (2^10: ~3 % error when dense, a few hundred bytes).
pub const PER_POST: u8 = 10;

impl Distinct {
    pub fn new(precision: u8) -> Self {
        // Precisions are the constants above, all within 4..=18: creation cannot fail.
        match HyperLogLogPlus::new(precision, StableHash) {
            Ok(h) => Distinct(h),
            Err(_) => Self::new(PER_POST),
        }
    }

    pub fn insert(&mut self, id: &str) {
        self.0.insert(id.as_bytes());
    }

    pub fn count(&mut self) -> u64 {
        self.0.count().round() as u64
    }

    /// Adds `other`'s members (both of one precision; a mismatch is ignored).
    pub fn merge(&mut self, other: &Distinct) {
        let _ = self.0.merge(&other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_are_counted_exactly_and_merge_without_double_counting() {
        let mut monday = Distinct::new(PLATFORM);
        let mut tuesday = Distinct::new(PLATFORM);
        for id in ["a", "b", "c", "a"] {
            monday.insert(id);
        }
        for id in ["c", "d"] {
            tuesday.insert(id);
        }
        assert_eq!(monday.count(), 3);
        monday.merge(&tuesday);
        assert_eq!(monday.count(), 4);
        let stored: Distinct =
            serde_json::from_slice(&serde_json::to_vec(&monday).unwrap()).unwrap();
        let mut stored = stored;
        assert_eq!(stored.count(), 4);
    }

    #[test]
    fn large_sets_are_within_the_error() {
        let mut d = Distinct::new(PER_POST);
        for i in 0..20_000 {
            d.insert(&format!("user-{i}"));
        }
        let n = d.count() as f64;
        assert!((n - 20_000.0).abs() / 20_000.0 < 0.1, "{n}");
    }
}
