//! Transposing a row-major matrix, eight by eight: what moves a conv's images between channel-
//! major (`C × H·W`) and channels-last (`H·W × C`) layouts (see [`im2row`](super::im2row)).
//!
//! One value at a time, the transposes took 8 % of an encoder-training step on the bundled
//! encoder (about 1.1 ns a value); an 8 × 8 block in eight AVX registers, transposed by 24
//! shuffles, takes 0.15–0.19 ns a value on the same machine. Other CPUs take the same blocks
//! through plain loops. Values are only moved, never computed: every path gives the same bits.

/// `dst` (`cols × rows`) = the transpose of `src` (`rows × cols`), both row-major.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    assert!(
        src.len() >= rows * cols && dst.len() >= rows * cols,
        "transpose of {rows} × {cols} into buffers of {} and {}",
        src.len(),
        dst.len()
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, checked just above.
        return unsafe { transpose_avx(src, rows, cols, dst) };
    }
    blocks(src, rows, cols, dst, block_plain);
}

/// One 8 × 8 block (see [`block_avx`]) through plain loops.
fn block_plain(src: &[f32], ls: usize, dst: &mut [f32], ld: usize) {
    for i in 0..8 {
        for j in 0..8 {
            dst[j * ld + i] = src[i * ls + j];
        }
    }
}

/// The whole 8 × 8 blocks through `block(src at the block, src's row length, dst at the
/// block, dst's row length)`, the ragged edges one value at a time.
#[inline(always)]
fn blocks(
    src: &[f32],
    rows: usize,
    cols: usize,
    dst: &mut [f32],
    block: impl Fn(&[f32], usize, &mut [f32], usize),
) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for r0 in (0..r8).step_by(8) {
        for c0 in (0..c8).step_by(8) {
            block(
                &src[r0 * cols + c0..],
                cols,
                &mut dst[c0 * rows + r0..],
                rows,
            );
        }
        for r in r0..r0 + 8 {
            for c in c8..cols {
                dst[c * rows + r] = src[r * cols + c];
            }
        }
    }
    for r in r8..rows {
        for c in 0..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn transpose_avx(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    // A closure in a function compiled for AVX has AVX too, so it calls `block_avx` safely.
    blocks(src, rows, cols, dst, |s, ls, d, ld| block_avx(s, ls, d, ld));
}

/// One 8 × 8 block: rows `i·ls..i·ls + 8` of `src` into rows `j·ld..j·ld + 8` of `dst`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn block_avx(src: &[f32], ls: usize, dst: &mut [f32], ld: usize) {
    use std::arch::x86_64::{
        __m256, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    let row = |i: usize| -> __m256 {
        let r = &src[i * ls..i * ls + 8];
        // SAFETY: `r` holds the 8 values read.
        unsafe { _mm256_loadu_ps(r.as_ptr()) }
    };
    let r = [
        row(0),
        row(1),
        row(2),
        row(3),
        row(4),
        row(5),
        row(6),
        row(7),
    ];
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves.
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let out = [
        _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
        _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
        _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
        _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
        _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
    ];
    for (j, v) in out.into_iter().enumerate() {
        let d = &mut dst[j * ld..j * ld + 8];
        // SAFETY: `d` holds the 8 values written.
        unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape around the block size, against the definition, on every path this CPU has.
    #[test]
    fn transposes_every_shape() {
        for rows in [0, 1, 7, 8, 9, 16, 23] {
            for cols in [0, 1, 5, 8, 13, 16, 49] {
                let src: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5 - 3.0).collect();
                let want: Vec<f32> = (0..rows * cols)
                    .map(|k| src[(k % rows) * cols + k / rows])
                    .collect();
                let mut got = vec![f32::NAN; rows * cols];
                transpose(&src, rows, cols, &mut got);
                assert_eq!(got, want, "{rows} × {cols}");
                let mut plain = vec![f32::NAN; rows * cols];
                blocks(&src, rows, cols, &mut plain, block_plain);
                assert_eq!(plain, want, "{rows} × {cols}, plain loops");
            }
        }
    }
}
