//! Moving camera: each neighbour in the window is aligned to the current frame by a global
//! affine ([`super::align`]), every hole pixel looks up where its background sits in the
//! neighbour, takes it when no matte covers it there, and keeps the median of what the
//! neighbours offered. Neighbours whose alignment does not fit (robust RMS residual above
//! [`MAX_RMS`]) offer nothing.

use super::align::{Affine2, estimate, pyramid};
use super::median::gather;
use super::{HOLE_THRESHOLD, PlateOptions, ShotFrame, ShotSource, window_frames};
use crate::error::Result;

/// Largest robust RMS grey residual (0..1 scale) of an alignment that is used.
pub const MAX_RMS: f64 = 0.08;

/// Propagation fill of the `open` pixels of frame `t` (see [`super::median::fill`]).
pub fn fill(
    source: &dyn ShotSource,
    t: i32,
    current: &ShotFrame,
    open: &[usize],
    opts: &PlateOptions,
) -> Result<Vec<Option<[f32; 3]>>> {
    let frames: Vec<i32> = window_frames(t, opts.window, source.range())
        .into_iter()
        .filter(|&k| k != t)
        .collect();
    let cur_pyr = pyramid(current, 24);
    let w = current.image.width() as usize;
    let h = current.image.height() as usize;
    gather(
        source,
        t,
        current,
        &frames,
        open,
        opts,
        |cur, nb| {
            Ok(estimate(cur, &cur_pyr, nb, opts.flow, opts.frame_colour)?
                .filter(|(_, rms)| *rms <= MAX_RMS)
                .map(|(a, _)| a))
        },
        |state: &Option<Affine2>, frame, i| {
            let a = state.as_ref()?;
            let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            let (qx, qy) = a.apply(x, y);
            sample_clear(frame, w, h, qx, qy)
        },
    )
}

/// Bilinear RGB of `frame` at continuous `(x, y)` when all four taps are inside and unmatted.
fn sample_clear(frame: &ShotFrame, w: usize, h: usize, x: f64, y: f64) -> Option<[f32; 3]> {
    let fx = x - 0.5;
    let fy = y - 0.5;
    if !(fx >= 0.0 && fy >= 0.0 && fx <= (w - 1) as f64 && fy <= (h - 1) as f64) {
        return None;
    }
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
    let taps = [y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1];
    let weights = [
        (1.0 - wx) * (1.0 - wy),
        wx * (1.0 - wy),
        (1.0 - wx) * wy,
        wx * wy,
    ];
    let mut out = [0f32; 3];
    for (&i, &wt) in taps.iter().zip(&weights) {
        if wt > 0.0 && frame.matte[i] > HOLE_THRESHOLD {
            return None;
        }
        for c in 0..3 {
            out[c] += wt * frame.image.data[4 * i + c];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::median::tests::{MemShot, background, opts};
    use crate::plate::{Method, build};

    #[test]
    fn a_panning_shot_is_rebuilt_from_its_neighbours() {
        let (w, h) = (96, 64);
        let bounds = Rect::from_size(w, h);
        // The camera pans 3 px a frame; a square moves 6 px a frame the other way on screen.
        let frames: Vec<ShotFrame> = (0..8)
            .map(|t| {
                let sq =
                    |x: i32, y: i32| x >= 64 - 6 * t && x < 80 - 6 * t && (20..40).contains(&y);
                ShotFrame {
                    image: FloatImage::from_fn(bounds, |x, y| {
                        if sq(x, y) {
                            [0.9, 0.1, 0.1, 1.0]
                        } else {
                            background((x + 3 * t) as f32, y as f32)
                        }
                    }),
                    matte: bounds
                        .pixels()
                        .map(|(x, y)| if sq(x, y) { 1.0 } else { 0.0 })
                        .collect(),
                }
            })
            .collect();
        let shot = MemShot(frames);
        let t = 4;
        let plate = build(&shot, t, &opts(Method::Propagate, 8)).unwrap();
        let mut worst = 0f32;
        let mut n = 0;
        for (i, (x, y)) in bounds.pixels().enumerate() {
            if !plate.hole[i] {
                continue;
            }
            n += 1;
            let b = background((x + 3 * t) as f32, y as f32);
            for c in 0..3 {
                worst = worst.max((plate.image.data[4 * i + c] - b[c]).abs());
            }
            assert_eq!(plate.confidence[i], 1.0);
        }
        assert_eq!(n, 16 * 20);
        assert!(worst < 0.01, "worst {worst}");
    }
}
