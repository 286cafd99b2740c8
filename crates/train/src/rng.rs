//! A seeded generator whose whole state is one `u64`.
//!
//! Reproducibility is a feature here: `--seed` must give the same adapter on every machine, and a
//! resumed run must match an uninterrupted one bit for bit. SplitMix64 is tiny, fast, statistically
//! good enough for shuffles, crops and initial weights, and its state fits in a checkpoint's
//! metadata. [`Rng::stream`] derives independent generators from a seed and a path of ids
//! (frame, view, step…), so a random decision depends on *what* it is for, never on how many
//! random numbers other threads or batches drew before it.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng {
            state: mix(seed ^ GOLDEN),
        }
    }

    /// An independent generator for `seed` and a path of ids, e.g. `[AUGMENT, frame, view]`.
    pub fn stream(seed: u64, ids: &[u64]) -> Self {
        let mut s = mix(seed ^ GOLDEN);
        for &id in ids {
            s = mix(s ^ mix(id.wrapping_add(GOLDEN)));
        }
        Rng { state: s }
    }

    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn from_state(state: u64) -> Self {
        Rng { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in [0, 1) with 24 random bits, the full precision of an `f32` mantissa.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.next_f32() < p
    }

    /// Uniform integer in `0..n` (Lemire's multiply-shift; `n` must be > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal by Box–Muller; no cached second value, so the state stays one `u64`.
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// Two independent standard normals from one draw (Box–Muller in `f32`, both outputs used):
    /// the cheap form for per-pixel noise, where `f32` precision is plenty. The first uniform is
    /// taken in (0, 1], so the logarithm is finite and |z| ≤ 5.8.
    pub fn normal_pair(&mut self) -> (f32, f32) {
        let bits = self.next_u64();
        let u1 = ((bits >> 40) as f32 + 1.0) * (1.0 / (1u64 << 24) as f32);
        let u2 = ((bits >> 16) & 0xff_ffff) as f32 * (1.0 / (1u64 << 24) as f32);
        let r = (-2.0 * u1.ln()).sqrt();
        let (s, c) = (std::f32::consts::TAU * u2).sin_cos();
        (r * c, r * s)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }

    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(7, &[1, 2]).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::stream(7, &[1, 2]).next_u64(),
            Rng::stream(7, &[2, 1]).next_u64()
        );
        assert_ne!(
            Rng::stream(7, &[1]).next_u64(),
            Rng::stream(8, &[1]).next_u64()
        );
    }

    #[test]
    fn moments_are_plausible() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let (mut s, mut s2, mut u) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            let z = r.normal() as f64;
            s += z;
            s2 += z * z;
            u += r.next_f32() as f64;
        }
        assert!((s / n as f64).abs() < 0.03);
        assert!((s2 / n as f64 - 1.0).abs() < 0.05);
        assert!((u / n as f64 - 0.5).abs() < 0.01);
        assert!((0..1000).all(|_| r.below(3) < 3));
        let (mut s, mut s2, mut cross) = (0.0f64, 0.0f64, 0.0f64);
        for _ in 0..n {
            let (a, b) = r.normal_pair();
            s += (a + b) as f64;
            s2 += (a * a + b * b) as f64;
            cross += (a * b) as f64;
        }
        assert!((s / (2 * n) as f64).abs() < 0.03);
        assert!((s2 / (2 * n) as f64 - 1.0).abs() < 0.05);
        assert!(
            (cross / n as f64).abs() < 0.03,
            "the pair must be uncorrelated"
        );
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(3).permutation(100);
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
