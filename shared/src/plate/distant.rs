//! Locked-off camera, background the window never shows: a person who stands still for the
//! whole window hides the same pixels in every frame of it, but seconds earlier or later the
//! spot was clear. Frames further away in time are read at fixed frame numbers (multiples of
//! [`STRIDE`], nearest first, at most [`FAR_FRAMES`] of them outside the window), each one
//! checked to be on the same fixed camera (its corners within [`super::motion::LOCKED_SHIFT`]
//! pixels of the current frame's), and each hole pixel takes the per-channel median of the
//! samples where those frames' mattes leave it uncovered, when there are at least
//! [`MIN_SAMPLES`].
//!
//! The frame numbers do not depend on `t` beyond which of them are nearest, so consecutive
//! plates draw on nearly the same frames and their fills agree: the plate holds still where
//! the hole does.

use super::align::{Level, estimate, pyramid};
use super::gather::{Crop, Span, bounding_box, gather};
use super::motion::LOCKED_SHIFT;
use super::propagate::MAX_RMS;
use super::{HOLE_THRESHOLD, PlateOptions, ShotFrame, ShotSource, median_rgb, window_frames};
use crate::error::Result;

/// Far frames are those whose number is a multiple of this.
pub const STRIDE: i32 = 10;
/// Far frames read at most (nearest first).
pub const FAR_FRAMES: usize = 24;
/// Least number of uncovered far samples a pixel needs.
pub const MIN_SAMPLES: usize = 3;

/// The far frames of frame `t`: multiples of [`STRIDE`] inside `range` and outside the
/// window, nearest first (ties: the earlier first), at most [`FAR_FRAMES`].
pub fn far_frames(t: i32, window: u32, range: (i32, i32)) -> Vec<i32> {
    let inside = window_frames(t, window, range);
    let reach = STRIDE * FAR_FRAMES as i32;
    let first = (t - reach).max(range.0).div_euclid(STRIDE) * STRIDE;
    let mut v: Vec<i32> = (first..=(t + reach).min(range.1))
        .step_by(STRIDE as usize)
        .filter(|k| *k >= range.0 && !inside.contains(k))
        .collect();
    v.sort_by_key(|k| ((k - t).abs(), *k));
    v.truncate(FAR_FRAMES);
    v
}

/// How far (full-size pixels) a corner of the frame moves between the current frame and a far
/// one, from their pyramids without the full-size level; infinite when they cannot be aligned
/// (robust RMS grey residual above [`MAX_RMS`]).
fn corner_shift(cur: &[Level], far: &[Level]) -> f64 {
    if cur.len() < 2 || far.len() < 2 {
        return f64::INFINITY;
    }
    let Some((a, rms)) = estimate(&cur[1..], &far[1..], None) else {
        return f64::INFINITY;
    };
    if rms > MAX_RMS {
        return f64::INFINITY;
    }
    let (w, h) = (cur[1].w as f64, cur[1].h as f64);
    let worst = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
        .iter()
        .map(|&(x, y)| {
            let (u, v) = a.apply(x, y);
            ((u - x).powi(2) + (v - y).powi(2)).sqrt()
        })
        .fold(0.0, f64::max);
    2.0 * worst
}

/// Fills the `open` pixels of frame `t` from the far frames: one entry per open pixel, `None`
/// where fewer than [`MIN_SAMPLES`] far frames on the same fixed camera show it.
pub fn fill(
    source: &dyn ShotSource,
    t: i32,
    current: &ShotFrame,
    open: &[usize],
    opts: &PlateOptions,
) -> Result<Vec<Option<[f32; 3]>>> {
    let frames = far_frames(t, opts.window, source.range());
    let w = current.image.width() as usize;
    let hole_box = bounding_box(open, w);
    let cur_pyr = pyramid(current, 24);
    gather(
        source,
        t,
        current,
        &frames,
        open,
        opts,
        1,
        |_, far| Ok(corner_shift(&cur_pyr, &pyramid(far, 24)) <= LOCKED_SHIFT),
        |&fixed| {
            if fixed {
                hole_box
            } else {
                Span {
                    x0: 0,
                    y0: 0,
                    x1: 0,
                    y1: 0,
                }
            }
        },
        |_, crop: &Crop, i, out| {
            let Some(p) = crop.at(i % w, i / w) else {
                return 0;
            };
            if p[3] > HOLE_THRESHOLD {
                return 0;
            }
            out[0] = [p[0], p[1], p[2], 1.0];
            1
        },
        |samples| {
            if samples.len() < MIN_SAMPLES {
                None
            } else {
                median_rgb(samples)
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::median::tests::{MemShot, background, opts};
    use crate::plate::{Method, build};

    #[test]
    fn far_frames_are_fixed_multiples_outside_the_window() {
        let v = far_frames(100, 5, (0, 1000));
        assert_eq!(&v[..4], &[90, 110, 80, 120]);
        assert_eq!(v.len(), FAR_FRAMES);
        assert!(v.iter().all(|k| k % STRIDE == 0 && !(98..=102).contains(k)));
        // Frame 101 draws on the same frames.
        let sorted = |mut v: Vec<i32>| {
            v.sort_unstable();
            v
        };
        assert_eq!(sorted(far_frames(101, 5, (0, 1000))), sorted(v));
        // Near the start of the shot: only what exists.
        let v = far_frames(3, 3, (0, 35));
        assert_eq!(v, vec![0, 10, 20, 30]);
    }

    /// A square that stands still over frames 20..40 and is elsewhere before and after.
    fn standing_shot(pan: f32) -> MemShot {
        let (w, h) = (64, 48);
        let bounds = Rect::from_size(w, h);
        MemShot(
            (0..60)
                .map(|t| {
                    let sx = if (20..40).contains(&t) {
                        24
                    } else {
                        2 + (t % 5)
                    };
                    let sq = move |x: i32, y: i32| x >= sx && x < sx + 12 && (14..30).contains(&y);
                    ShotFrame {
                        image: FloatImage::from_fn(bounds, |x, y| {
                            if sq(x, y) {
                                [1.0, 0.0, 0.0, 1.0]
                            } else {
                                background(x as f32 + pan * t as f32, y as f32)
                            }
                        }),
                        matte: bounds
                            .pixels()
                            .map(|(x, y)| if sq(x, y) { 1.0 } else { 0.0 })
                            .collect(),
                    }
                })
                .collect(),
        )
    }

    #[test]
    fn a_person_standing_through_the_window_is_removed_from_far_frames() {
        let shot = standing_shot(0.0);
        let plate = build(&shot, 30, &opts(Method::Median, 9)).unwrap();
        let mut worst = 0f32;
        for (i, (x, y)) in Rect::from_size(64, 48).pixels().enumerate() {
            let b = background(x as f32, y as f32);
            for c in 0..3 {
                worst = worst.max((plate.image.data[4 * i + c] - b[c]).abs());
            }
            assert_eq!(plate.confidence[i], 1.0);
        }
        assert!(worst < 5e-4, "worst {worst}");
    }

    #[test]
    fn far_frames_of_a_moving_camera_are_not_used() {
        let shot = standing_shot(1.5);
        let plate = build(&shot, 30, &opts(Method::Median, 9)).unwrap();
        // Nothing real shows the square's pixels: they are invented.
        let invented = plate.confidence.iter().filter(|&&c| c < 1.0).count();
        assert_eq!(invented, 12 * 16);
    }
}
