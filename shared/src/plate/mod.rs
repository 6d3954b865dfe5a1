//! Clean plates: the background behind a person or object that a matte marks, rebuilt from the
//! frames of a shot (no OFX here; the `CleanPlate` effect feeds it host frames).
//!
//! - [`median`]: locked-off camera. Each hole pixel is the per-channel median of the window's
//!   frames in which that pixel is not covered by the matte.
//! - [`propagate`]: moving camera. Each neighbour is aligned to the current frame per pixel
//!   ([`flow`]: the flow model's map where forward and backward agree on the background,
//!   filled smoothly into the subject's matte) over a global affine fit ([`align`]: robust
//!   Gauss-Newton on the unmatted pixels of both frames); the background each neighbour shows
//!   under these maps is carried into the hole, and the candidates that agree are kept.
//! - [`inpaint`]: what no frame shows: a LaMa-contract model when one is given, else the
//!   built-in fill ([`texture`]: multi-scale PatchMatch texture synthesis).
//! - [`distant`]: locked-off camera, what the whole window hides (someone standing still):
//!   the median of frames further away in time, at fixed frame numbers, that are on the same
//!   fixed camera.
//! - [`Method::Auto`]: median, distant, propagate, inpaint, each filling what the previous
//!   left open; where the motion matte found the camera fixed, propagate is skipped, and where
//!   it found the camera moving, the two medians are. `Median` runs median and distant.
//! - [`motion`] and [`moving_camera`]: the motion matte (whatever moves against the window's
//!   background, on a fixed or a moving camera), merged into the frames' mattes.
//!
//! Confidence: 1 where a fill came from real pixels of some frame (and outside the hole), below
//! 0.5 where it was invented by [`inpaint`], falling with the distance from real pixels.
//!
//! Memory: the window's frames are read from a [`ShotSource`] one at a time, each once
//! (`gather`): a frame is aligned (propagate), then only the crop that the hole can reach
//! through its maps is kept, as half floats (RGB and matte, 8 bytes a pixel), and the frame is
//! dropped before the next is read. The builder also holds the current frame (filled in
//! place into the plate) with its matte and confidence, the grey pyramids of the current frame
//! and of the neighbour being aligned (8 bytes a pixel and a third more for the coarser
//! levels), and the flow model's maps at no more than 640 px. The built-in inpainting adds a
//! few float planes over the frame. So what grows with the window is one crop per frame:
//! for a subject a quarter of a 3840x2160 frame wide and most of it high, about 15 MB.
//! Through `pixelspace render` the reference host's own frame cache (a few full float frames
//! per clip) comes on top and dominates the process's peak.

// Pixel loops index several planes at once; iterators would hide which pixel is which.
#![allow(clippy::needless_range_loop)]

pub mod align;
mod bench;
pub mod distant;
pub mod flow;
mod gather;
pub mod inpaint;
pub mod median;
pub mod motion;
pub mod moving_camera;
pub mod person;
pub mod propagate;
pub mod texture;

use crate::error::{Error, Result};
use crate::image::FloatImage;

/// A matte value above this marks a hole pixel (after any dilation).
pub const HOLE_THRESHOLD: f32 = 0.1;

/// Where a plate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Median, distant, propagate, then inpaint (the medians or propagate skipped where the
    /// motion matte found the camera moving or fixed).
    Auto,
    /// Locked-off camera: temporal median of unmatted samples (the window, then far frames).
    Median,
    /// Moving camera: align neighbours, carry their background in.
    Propagate,
    /// Fill from the frame alone.
    Inpaint,
}

impl Method {
    /// Option names in the effect's order.
    pub const NAMES: [&'static str; 4] = ["auto", "median", "propagate", "inpaint"];

    /// The method from its option index.
    pub fn from_index(i: i32) -> Result<Method> {
        match i {
            0 => Ok(Method::Auto),
            1 => Ok(Method::Median),
            2 => Ok(Method::Propagate),
            3 => Ok(Method::Inpaint),
            _ => Err(Error::new(format!("unknown clean-plate method ({i})"))),
        }
    }
}

/// One frame of a shot: its RGBA pixels and its matte (one value per pixel, same order as the
/// image's pixels; > [`HOLE_THRESHOLD`] marks what is to be removed).
pub struct ShotFrame {
    pub image: FloatImage,
    pub matte: Vec<f32>,
}

/// The frames a plate is built from, read on demand (streamed: callers hold few at once).
pub trait ShotSource {
    /// First and last frame that exist (inclusive).
    fn range(&self) -> (i32, i32);
    /// Frame `t`, all frames covering the same bounds.
    fn load(&self, t: i32) -> Result<ShotFrame>;
}

/// A built plate.
pub struct Plate {
    /// The source with its hole filled (RGB), alpha copied from the source.
    pub image: FloatImage,
    /// Per pixel: 1 outside the hole and where real pixels filled it, lower where invented.
    pub confidence: Vec<f32>,
    /// Per pixel: true where the matte marked a hole.
    pub hole: Vec<bool>,
    /// The current frame's matte (after any dilation), one value a pixel.
    pub matte: Vec<f32>,
    /// The hole's pixels (indices) and the source's RGBA there, for a comp; everywhere else
    /// the plate is the source.
    pub hole_pixels: Vec<usize>,
    pub hole_source: Vec<[f32; 4]>,
    /// What the motion matte did.
    pub motion: motion::MotionUse,
    /// True where the matte covered every pixel: the plate is then the source, unchanged.
    pub passed_through: bool,
}

/// The frames of a window of `window` frames around `t`, inside `range`, nearest first
/// (`t` itself first).
pub fn window_frames(t: i32, window: u32, range: (i32, i32)) -> Vec<i32> {
    let n = window.max(1) as i32;
    let mut first = t - (n - 1) / 2;
    let mut last = first + n - 1;
    if first < range.0 {
        last += range.0 - first;
        first = range.0;
    }
    if last > range.1 {
        first -= last - range.1;
        last = range.1;
    }
    let first = first.max(range.0);
    let mut v: Vec<i32> = (first..=last).collect();
    if !v.contains(&t) {
        v.push(t);
    }
    v.sort_by_key(|k| ((k - t).abs(), *k));
    v
}

/// The temporal fills, in the order `build` tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// [`median`] over the window.
    Window,
    /// [`distant`]: the median of frames further away on a fixed camera.
    Distant,
    /// [`propagate`]: aligned neighbours.
    Propagate,
}

/// Options of [`build`].
pub struct PlateOptions<'a> {
    pub method: Method,
    /// Frames in the window (the current one included).
    pub window: u32,
    /// Flow model (RIFE contract) for `propagate`'s per-pixel alignment; without it only the
    /// global affine fit (started by a translation search) aligns the frames.
    pub flow: Option<&'a std::sync::Arc<crate::pipeline::InferencePipeline>>,
    /// Inpainting model (LaMa contract) for `inpaint`; without it the built-in fill runs.
    pub inpaint_model: Option<&'a crate::pipeline::InferencePipeline>,
    /// How frames are encoded (for the models).
    pub frame_colour: crate::colour::ColourSpace,
    /// Polled between frames; true stops with an error.
    pub is_cancelled: &'a (dyn Fn() -> bool + Sync),
    /// The motion matte ([`motion`]) grown by this many pixels, for `auto` and `median`;
    /// `None`: no motion matte.
    pub motion_grow: Option<u32>,
    /// The frames' mattes mark people (an automatic person matte): under a moving camera the
    /// motion matte then keeps only movers that a person matte touches somewhere in the
    /// window ([`moving_camera`]); false: it keeps every mover.
    pub mattes_mark_people: bool,
}

/// Builds the plate of frame `t`.
pub fn build(source: &dyn ShotSource, t: i32, opts: &PlateOptions) -> Result<Plate> {
    let grow = match (opts.motion_grow, opts.method) {
        (Some(g), Method::Auto | Method::Median) => g,
        _ => return build_from(source, t, opts, motion::MotionUse::Off),
    };
    match motion::detect(source, t, opts, grow)? {
        (used, Some(mattes)) => {
            let with = motion::WithMotion {
                inner: source,
                motion: &mattes,
            };
            build_from(&with, t, opts, used)
        }
        (why, None) => build_from(source, t, opts, why),
    }
}

fn build_from(
    source: &dyn ShotSource,
    t: i32,
    opts: &PlateOptions,
    motion: motion::MotionUse,
) -> Result<Plate> {
    let current = source.load(t)?;
    let n = current.image.bounds.area();
    if current.matte.len() != n {
        return Err(Error::new(format!(
            "the matte has {} values for {} pixels",
            current.matte.len(),
            n
        )));
    }
    let hole: Vec<bool> = current.matte.iter().map(|&m| m > HOLE_THRESHOLD).collect();
    let mut confidence = vec![1.0f32; n];
    let hole_pixels: Vec<usize> = (0..n).filter(|&i| hole[i]).collect();
    if n > 0 && hole_pixels.len() == n {
        // Nothing of the frame is left to rebuild from: the source, unchanged.
        let ShotFrame { image, matte } = current;
        return Ok(Plate {
            image,
            confidence: vec![0.0; n],
            hole,
            matte,
            hole_pixels: Vec::new(),
            hole_source: Vec::new(),
            motion,
            passed_through: true,
        });
    }
    // Pixels still to fill, and what the temporal methods found (written into the frame once
    // the neighbours no longer need it as it is).
    let mut open: Vec<usize> = hole_pixels.clone();
    let mut found: Vec<(usize, [f32; 3])> = Vec::new();
    for i in &open {
        confidence[*i] = 0.0;
    }
    // Where the motion matte found the camera fixed, aligning neighbours (propagate) finds
    // nothing the medians did not; where it found the camera moving, the medians of unaligned
    // frames would blend shifted copies of the background (distant checks each frame itself).
    let temporal = match (opts.method, motion) {
        (Method::Auto, motion::MotionUse::Used { .. }) => vec![Stage::Window, Stage::Distant],
        (
            Method::Auto,
            motion::MotionUse::MovingCamera { .. } | motion::MotionUse::Compensated { .. },
        ) => vec![Stage::Propagate],
        (Method::Auto, _) => vec![Stage::Window, Stage::Distant, Stage::Propagate],
        (Method::Median, _) => vec![Stage::Window, Stage::Distant],
        (Method::Propagate, _) => vec![Stage::Propagate],
        (Method::Inpaint, _) => vec![],
    };
    for stage in temporal {
        if open.is_empty() {
            break;
        }
        let filled = match stage {
            Stage::Window => median::fill(source, t, &current, &open, opts)?,
            Stage::Distant => distant::fill(source, t, &current, &open, opts)?,
            Stage::Propagate => propagate::fill(source, t, &current, &open, opts)?,
        };
        let mut still = Vec::with_capacity(open.len());
        for (k, &i) in open.iter().enumerate() {
            match filled[k] {
                Some(rgb) => {
                    found.push((i, rgb));
                    confidence[i] = 1.0;
                }
                None => still.push(i),
            }
        }
        open = still;
    }
    let ShotFrame { mut image, matte } = current;
    let hole_source: Vec<[f32; 4]> = hole_pixels
        .iter()
        .map(|&i| {
            let p = &image.data[4 * i..4 * i + 4];
            [p[0], p[1], p[2], p[3]]
        })
        .collect();
    for (i, rgb) in found {
        image.data[4 * i..4 * i + 3].copy_from_slice(&rgb);
    }
    if !open.is_empty() {
        if (opts.is_cancelled)() {
            return Err(Error::new(crate::pipeline::CANCELLED));
        }
        let mut unknown = vec![false; n];
        for &i in &open {
            unknown[i] = true;
        }
        let conf = inpaint::fill(&mut image, &unknown, opts)?;
        for &i in &open {
            confidence[i] = conf[i];
        }
    }
    Ok(Plate {
        image,
        confidence,
        hole,
        matte,
        hole_pixels,
        hole_source,
        motion,
        passed_through: false,
    })
}

/// Grows a matte by `radius` pixels (max over a disc), `width` pixels a row.
pub fn dilate(matte: &[f32], width: usize, radius: u32) -> Vec<f32> {
    if radius == 0 || width == 0 {
        return matte.to_vec();
    }
    let h = matte.len() / width;
    let r = radius as i64;
    // A disc: for each row offset dy, a row-wise max over the disc's half-width at dy.
    let spans: Vec<usize> = (-r..=r)
        .map(|dy| ((r * r - dy * dy) as f64).sqrt().floor() as usize)
        .collect();
    let mut per_width: Vec<(usize, Vec<f32>)> = Vec::new();
    for &s in &spans {
        if !per_width.iter().any(|(w, _)| *w == s) {
            per_width.push((s, max_1d_rows(matte, width, h, s)));
        }
    }
    let mut out = vec![0f32; matte.len()];
    for y in 0..h as i64 {
        for (k, dy) in (-r..=r).enumerate() {
            let sy = y + dy;
            if sy < 0 || sy >= h as i64 {
                continue;
            }
            let rows = &per_width
                .iter()
                .find(|(w, _)| *w == spans[k])
                .expect("span")
                .1;
            let src = &rows[sy as usize * width..(sy as usize + 1) * width];
            let dst = &mut out[y as usize * width..(y as usize + 1) * width];
            for (d, s) in dst.iter_mut().zip(src) {
                if *s > *d {
                    *d = *s;
                }
            }
        }
    }
    out
}

/// Each row's max over `[x - s, x + s]`.
fn max_1d_rows(m: &[f32], width: usize, h: usize, s: usize) -> Vec<f32> {
    let mut out = vec![0f32; m.len()];
    for y in 0..h {
        let row = &m[y * width..(y + 1) * width];
        let o = &mut out[y * width..(y + 1) * width];
        for x in 0..width {
            let a = x.saturating_sub(s);
            let b = (x + s + 1).min(width);
            o[x] = row[a..b].iter().copied().fold(0.0, f32::max);
        }
    }
    out
}

/// Per-channel median of the samples' first three channels (in place; reorders them).
pub(crate) fn median_rgb<const N: usize>(samples: &mut [[f32; N]]) -> Option<[f32; 3]> {
    let n = samples.len();
    if n == 0 {
        return None;
    }
    let mut out = [0f32; 3];
    let mut vals: [f32; 64] = [0.0; 64];
    for c in 0..3 {
        if n <= 64 {
            for (v, s) in vals.iter_mut().zip(samples.iter()) {
                *v = s[c];
            }
            out[c] = median_of(&mut vals[..n]);
        } else {
            let mut v: Vec<f32> = samples.iter().map(|s| s[c]).collect();
            out[c] = median_of(&mut v);
        }
    }
    Some(out)
}

fn median_of(v: &mut [f32]) -> f32 {
    let n = v.len();
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_the_shot() {
        assert_eq!(window_frames(5, 3, (0, 10)), vec![5, 4, 6]);
        assert_eq!(window_frames(0, 4, (0, 10)), vec![0, 1, 2, 3]);
        assert_eq!(window_frames(10, 3, (0, 10)), vec![10, 9, 8]);
        assert_eq!(window_frames(1, 8, (0, 2)), vec![1, 0, 2]);
        assert_eq!(window_frames(4, 1, (0, 10)), vec![4]);
    }

    #[test]
    fn dilation_grows_a_point_into_a_disc() {
        let w = 11;
        let mut m = vec![0f32; w * w];
        m[5 * w + 5] = 1.0;
        let d = dilate(&m, w, 3);
        let count = d.iter().filter(|&&v| v > 0.5).count();
        assert_eq!(count, 29); // lattice points within radius 3
        assert_eq!(d[5 * w + 8], 1.0);
        assert_eq!(d[8 * w + 8], 0.0);
    }

    #[test]
    fn median_ignores_outliers() {
        let mut s = vec![
            [0.5, 0.5, 0.5],
            [0.52, 0.5, 0.5],
            [0.0, 1.0, 0.0],
            [0.49, 0.5, 0.51],
            [0.51, 0.5, 0.5],
        ];
        let m = median_rgb(&mut s).unwrap();
        assert!((m[0] - 0.5).abs() < 0.011 && (m[1] - 0.5).abs() < 1e-6);
        assert!(median_rgb::<3>(&mut []).is_none());
    }
}
