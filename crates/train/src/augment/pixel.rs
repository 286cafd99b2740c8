/// A source pixel the augmenter can read: decoded frames are kept as `u8` (a quarter of the
/// memory), tests and callers with float images pass `f32` in [0, 1]. Reading converts to
/// [0, 1] on the fly, so no float copy of a full-size frame is ever made per view.
pub trait Pixel: Copy + Send + Sync + 'static {
    fn unit(self) -> f32;
    fn is_finite(self) -> bool;
}

impl Pixel for u8 {
    #[inline]
    fn unit(self) -> f32 {
        self as f32 * (1.0 / 255.0)
    }

    #[inline]
    fn is_finite(self) -> bool {
        true
    }
}

impl Pixel for f32 {
    #[inline]
    fn unit(self) -> f32 {
        self
    }

    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}
