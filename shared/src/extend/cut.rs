//! Scene-cut detection between two consecutive frames.
//!
//! Two statistics of the frames' luma (in a perceptual, sRGB-like encoding, clamped to 0..1):
//!
//! * the **histogram distance**: half the L1 distance between 32-bin luma histograms, in 0..1.
//!   Camera motion moves pixels but hardly changes the histogram; a cut to another scene does.
//! * the **block difference**: mean absolute difference of the luma averaged over blocks of
//!   about 1/24 of the frame width. Within a shot, blocks change little (motion moves a few
//!   percent of a block); a cut changes most blocks. A fade or a flash changes the histogram
//!   but keeps the layout, which this keeps from counting as a cut.
//!
//! The score is the smaller of the two (the block difference scaled by 2 so both span about
//! 0..1): a cut must change both what the frame holds and where. Frames are cut apart when the
//! score exceeds the threshold (default [`DEFAULT_THRESHOLD`]).

use crate::colour::{self, ColourSpace};
use crate::image::FloatImage;

/// The default threshold on [`cut_score`].
pub const DEFAULT_THRESHOLD: f64 = 0.25;

const BINS: usize = 32;
const GRID: u32 = 24;

/// Luma statistics of one frame, computed once and compared with others.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    hist: [f64; BINS],
    blocks: Vec<f64>,
    grid: (u32, u32),
}

/// Rec. 709 luma of an RGBA pixel, in a perceptual encoding, clamped to 0..1.
fn luma(p: &[f32], frame: ColourSpace) -> f64 {
    let y = 0.2126 * p[0] + 0.7152 * p[1] + 0.0722 * p[2];
    let y = if y.is_finite() { y } else { 0.0 };
    let y = match frame {
        ColourSpace::Linear => colour::linear_to_srgb(y.max(0.0)),
        ColourSpace::Srgb => y,
    };
    y.clamp(0.0, 1.0) as f64
}

impl Signature {
    /// The signature of a frame whose pixels are encoded as `frame`.
    pub fn of(image: &FloatImage, frame: ColourSpace) -> Signature {
        let (w, h) = (image.width().max(1), image.height().max(1));
        let gw = GRID.min(w);
        let gh = ((GRID as f64 * h as f64 / w as f64).round() as u32).clamp(1, h);
        let mut blocks = vec![0.0; (gw * gh) as usize];
        let mut counts = vec![0u32; (gw * gh) as usize];
        let mut hist = [0.0; BINS];
        let mut n = 0.0;
        // The block column of every pixel column, the same on every row.
        let block_cols: Vec<usize> = (0..image.width() as u64)
            .map(|col| (col * gw as u64 / w as u64) as usize)
            .collect();
        for row in 0..image.height() {
            let y = image.bounds.y1 + row as i32;
            let r = image.row(y);
            let by = (row as u64 * gh as u64 / h as u64) as usize;
            let row_blocks = by * gw as usize;
            for (px, &bx) in r.chunks_exact(4).zip(&block_cols) {
                let l = luma(px, frame);
                let i = row_blocks + bx;
                blocks[i] += l;
                counts[i] += 1;
                hist[((l * BINS as f64) as usize).min(BINS - 1)] += 1.0;
                n += 1.0;
            }
        }
        for (b, c) in blocks.iter_mut().zip(&counts) {
            *b /= (*c).max(1) as f64;
        }
        if n > 0.0 {
            hist.iter_mut().for_each(|v| *v /= n);
        }
        Signature {
            hist,
            blocks,
            grid: (gw, gh),
        }
    }

    /// Half the L1 distance of the histograms (0 = same, 1 = disjoint).
    pub fn histogram_distance(&self, other: &Signature) -> f64 {
        0.5 * self
            .hist
            .iter()
            .zip(&other.hist)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
    }

    /// Mean absolute difference of the block averages (1 when the grids differ).
    pub fn block_difference(&self, other: &Signature) -> f64 {
        if self.grid != other.grid || self.blocks.is_empty() {
            return 1.0;
        }
        self.blocks
            .iter()
            .zip(&other.blocks)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / self.blocks.len() as f64
    }

    /// The cut score against another frame's signature (see the module docs).
    pub fn score(&self, other: &Signature) -> f64 {
        self.histogram_distance(other)
            .min(2.0 * self.block_difference(other))
    }
}

/// The cut score between two frames (0 = same picture; above the threshold = a cut).
/// The two signatures are computed at the same time, on two threads.
pub fn cut_score(a: &FloatImage, b: &FloatImage, frame: ColourSpace) -> f64 {
    let (sa, sb) = std::thread::scope(|s| {
        let sb = s.spawn(|| Signature::of(b, frame));
        let sa = Signature::of(a, frame);
        (sa, sb.join())
    });
    match sb {
        Ok(sb) => sa.score(&sb),
        // The thread only computes; if it died, compute again here.
        Err(_) => sa.score(&Signature::of(b, frame)),
    }
}

/// Whether two consecutive frames belong to different scenes.
pub fn is_cut(a: &FloatImage, b: &FloatImage, frame: ColourSpace, threshold: f64) -> bool {
    cut_score(a, b, frame) > threshold
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    /// A textured test picture: smooth gradients plus a pattern, shifted by `dx` pixels.
    fn picture(seed: u32, dx: i32) -> FloatImage {
        let s = seed as f32;
        FloatImage::from_fn(Rect::from_size(200, 120), |x, y| {
            let x = (x + dx) as f32;
            let y = y as f32;
            let v = 0.5 + 0.3 * ((x * 0.05 + s).sin() * (y * 0.07 + 2.0 * s).cos());
            let w = 0.5 + 0.2 * ((x * 0.013 * (1.0 + s)).cos());
            [v, w, 0.5 * (v + w), 1.0]
        })
    }

    #[test]
    fn camera_motion_is_not_a_cut_and_a_new_scene_is() {
        let a = picture(0, 0);
        for dx in [2, 8, 16] {
            let s = cut_score(&a, &picture(0, dx), ColourSpace::Srgb);
            assert!(s < 0.1, "pan {dx}: {s}");
        }
        // Another scene: darker, with its light in other places.
        let b = FloatImage::from_fn(Rect::from_size(200, 120), |x, y| {
            let v = if (x / 50 + y / 40) % 2 == 0 {
                0.1
            } else {
                0.95
            };
            [v, v * 0.8, 0.2, 1.0]
        });
        let s = cut_score(&a, &b, ColourSpace::Srgb);
        assert!(s > DEFAULT_THRESHOLD, "{s}");
        assert!(is_cut(&a, &b, ColourSpace::Srgb, DEFAULT_THRESHOLD));
        assert_eq!(cut_score(&a, &a, ColourSpace::Linear), 0.0);
    }

    #[test]
    fn a_fade_is_not_a_cut() {
        // One step of a fade: the same picture 10% darker. The histogram moves, the layout stays.
        let a = picture(1, 0);
        let mut b = a.clone();
        b.data.iter_mut().for_each(|v| *v *= 0.9);
        let sa = Signature::of(&a, ColourSpace::Srgb);
        let sb = Signature::of(&b, ColourSpace::Srgb);
        assert!(sa.histogram_distance(&sb) > DEFAULT_THRESHOLD);
        assert!(sa.score(&sb) < DEFAULT_THRESHOLD, "{}", sa.score(&sb));
    }

    #[test]
    fn nan_and_hdr_pixels_do_not_break_the_score() {
        let mut a = picture(0, 0);
        a.data[0] = f32::NAN;
        a.data[5] = 40.0;
        let s = cut_score(&a, &picture(0, 0), ColourSpace::Linear);
        assert!(s.is_finite() && s < 0.01, "{s}");
    }
}
