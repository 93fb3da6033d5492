//! A small, stable 64-bit hash for cache fingerprints.
//!
//! `std`'s hashers may change between Rust releases and processes, and the
//! fingerprint is compared across processes and versions, so it is spelled out
//! here: FNV-1a over the bytes, then the SplitMix64 finaliser so that summing
//! many digests (see [`crate::Fingerprint`]) does not cancel out low bits.

pub(crate) struct Digest64(u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Digest64 {
    pub(crate) fn new() -> Self {
        Self(FNV_OFFSET)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Strings are followed by 0xFF, a byte UTF-8 never contains, so
    /// ("ab", "c") and ("a", "bc") hash differently.
    pub(crate) fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes());
        self.write(&[0xFF]);
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    pub(crate) fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
