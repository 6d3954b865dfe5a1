//! Lengthening shots: the maths of the ExtendShot effect, free of OFX.
//!
//! - [`time`]: which source frames an output frame shows (`retime`, `extend`)
//! - [`cut`]: scene-cut detection between consecutive frames
//! - [`warp`]: flow fields in frame pixels, backward warps and RIFE's fusion on host pixels
//! - [`interpolate`]: running a flow model (RIFE) and composing the in-between frame
//! - [`motion`]: the motion at an edge: camera, each pixel's own motion, and how far to trust them
//! - [`extrapolate`]: frames past the ends: the edge frame carried on along that motion
//! - [`learned`]: the model slot for a learned predictor or generative extender
//!
//! [`make_frame`] puts them together for one output frame. A [`VelocityCache`] keeps the
//! motion measured at an edge of the shot, so a tail (or head) of many frames runs the model
//! once rather than once per frame (the name is older than the cache's contents: it keeps the
//! whole [`EdgeMotion`]).

pub mod cut;
pub mod extrapolate;
pub mod interpolate;
pub mod learned;
pub mod motion;
pub mod time;
pub mod warp;

use std::sync::{Arc, Mutex};

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::FloatImage;
use crate::pipeline::CANCELLED;

use crate::geometry::Rect;
use crate::resize::resize_to;
pub use interpolate::Interpolator;
pub use learned::Extender;
use motion::EdgeMotion;
pub use time::{Mode, Sample, TimeMap};
use warp::FlowField;

/// Tunables of [`make_frame`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Cut score above which two consecutive frames are different scenes ([`cut`]).
    pub cut_threshold: f64,
    /// Per-frame decay of extrapolated motion ([`extrapolate::eased_steps`]).
    pub decay: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cut_threshold: cut::DEFAULT_THRESHOLD,
            decay: extrapolate::DEFAULT_DECAY,
        }
    }
}

/// What an output frame is.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// Source frame `k` as it is (copied bit for bit by the effect).
    Copy(i32),
    /// A new picture, pixels encoded like the source frames.
    New(FloatImage),
}

/// How much of an output frame carries real pixels of the shot (1) and how much was invented
/// (0): the confidence view of the effect.
#[derive(Clone, Debug, PartialEq)]
pub enum Confidence {
    /// Every pixel real: a source frame, or one interpolated between two.
    Real,
    /// Every pixel made up by a model (a learned predictor's frame).
    Invented,
    /// Per pixel, rows like the frame ([`extrapolate::Made::confidence`]).
    Map(Vec<f32>),
}

/// An output frame, why it is what it is, and what the artist should be told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Made {
    pub frame: Frame,
    pub how: How,
    pub confidence: Confidence,
    /// A warning for the host's message area (the frame is still made).
    pub warning: Option<String>,
}

/// Why [`make_frame`] chose what it did, for messages and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    Passthrough,
    Interpolated,
    /// A cut lies between the two frames: the nearest frame of the same scene is shown.
    HeldAtCut,
    Extrapolated,
    Predicted,
    /// Nothing to extrapolate from (a one-frame shot, or a cut just before the edge frame).
    Held,
}

/// Two frames whose mean absolute difference (over RGB) is below this are the same picture
/// repeated (webcams and screen recordings duplicate frames).
const DUPLICATE: f64 = 0.5 / 255.0;

/// Frames of more pixels than this (1280x720) measure the motion before the edge at half size.
const HALF_SIZE_ABOVE: usize = 1280 * 720;

/// Frames read at most from an edge, looking for three distinct ones.
const EDGE_READS: usize = 8;

fn mean_abs_difference(a: &FloatImage, b: &FloatImage) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (p, q) in a.data.chunks_exact(4).zip(b.data.chunks_exact(4)) {
        for c in 0..3 {
            sum += (p[c] - q[c]).abs() as f64;
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// The first pixel value that is not a finite number, as (x, y).
fn non_finite(img: &FloatImage) -> Option<(i32, i32)> {
    let w = img.bounds.width() as usize;
    img.data.iter().position(|v| !v.is_finite()).map(|i| {
        let p = i / 4;
        (
            img.bounds.x1 + (p % w) as i32,
            img.bounds.y1 + (p / w) as i32,
        )
    })
}

/// Reads source frames (whole frames, all the same bounds, encoded as the host's frames).
pub type FrameReader<'a> = dyn Fn(i32) -> Result<FloatImage> + 'a;

/// Everything [`make_frame`] needs besides the sample.
pub struct Context<'a> {
    /// First and last source frame.
    pub first: i32,
    pub last: i32,
    pub read: &'a FrameReader<'a>,
    pub interpolator: &'a Interpolator,
    pub extender: Option<&'a Extender>,
    pub frame_colour: ColourSpace,
    pub settings: Settings,
    pub is_cancelled: &'a dyn Fn() -> bool,
    /// Called with the fraction done (0..1).
    pub progress: &'a dyn Fn(f64),
    /// Where the motion at an edge is kept between frames (None: measured every time).
    pub velocity_cache: Option<&'a VelocityCache>,
}

/// The motion last measured at an edge of the shot, for the frames after it: every tail frame
/// extrapolates from the same source frames, so their motion is measured once. The entry is
/// keyed by the frames' contents (a hash of their pixels), the model, the colour encoding and
/// the edge, so a changed source or setting measures again.
#[derive(Default)]
pub struct VelocityCache {
    entry: Mutex<Option<(u64, Arc<EdgeMotion>)>>,
}

impl VelocityCache {
    pub fn new() -> VelocityCache {
        VelocityCache::default()
    }

    fn get(&self, key: u64) -> Option<Arc<EdgeMotion>> {
        let entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        entry
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: u64, motion: Arc<EdgeMotion>) {
        *self.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, motion));
    }

    /// Forgets the entry.
    pub fn clear(&self) {
        *self.entry.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// A 64-bit hash of the pixels (bits of every value) and bounds of an image, fast enough to run
/// on every frame read: each 64-bit word is mixed in by a rotate, xor and multiply, so every
/// input bit reaches every bit of the result within a few words (a plain FNV multiply only
/// carries bits upwards, and two flips of a word's top bit would cancel).
fn content_hash(img: &FloatImage, mut h: u64) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut mix = |v: u64| {
        h = (h.rotate_left(23) ^ v).wrapping_mul(K);
    };
    let b = img.bounds;
    mix(((b.x1 as u32 as u64) << 32) | b.y1 as u32 as u64);
    mix(((b.x2 as u32 as u64) << 32) | b.y2 as u32 as u64);
    for pair in img.data.chunks(2) {
        let lo = pair[0].to_bits() as u64;
        let hi = pair.get(1).map_or(0, |v| v.to_bits() as u64);
        mix((hi << 32) | lo);
    }
    h ^ (h >> 31)
}

impl Context<'_> {
    fn check(&self) -> Result<()> {
        if (self.is_cancelled)() {
            Err(Error::new(CANCELLED))
        } else {
            Ok(())
        }
    }

    fn in_range(&self, k: i32) -> bool {
        (self.first..=self.last).contains(&k)
    }

    fn is_cut(&self, a: &FloatImage, b: &FloatImage) -> bool {
        cut::is_cut(a, b, self.frame_colour, self.settings.cut_threshold)
    }

    /// The frames of the same scene going away from the edge frame `edge` in direction `dir`
    /// (-1: earlier, +1: later), up to `count` frames, the edge frame first.
    fn scene_run(&self, edge: i32, dir: i32, count: usize) -> Result<Vec<FloatImage>> {
        let mut run = vec![self.read_checked(edge)?];
        let mut k = edge + dir;
        while run.len() < count && self.in_range(k) {
            self.check()?;
            let next = self.read_checked(k)?;
            if self.is_cut(run.last().expect("non-empty"), &next) {
                break;
            }
            run.push(next);
            k += dir;
        }
        Ok(run)
    }

    /// Reads frame `k`, refusing pixels that are not numbers.
    fn read_checked(&self, k: i32) -> Result<FloatImage> {
        let img = (self.read)(k)?;
        if let Some((x, y)) = non_finite(&img) {
            return Err(Error::new(format!(
                "source frame {k} has pixels that are not numbers (NaN or infinite), the first at \
                 ({x}, {y}): motion cannot be measured from them; clamp or fix the frame before \
                 ExtendShot"
            )));
        }
        Ok(img)
    }

    /// The distinct frames of the same scene going away from the edge: up to three, the edge
    /// frame first, each with its distance in frames from the one before it (repeated frames
    /// are skipped and counted).
    fn distinct_run(&self, edge: i32, dir: i32) -> Result<Vec<(FloatImage, f64)>> {
        let mut distinct = vec![(self.read_checked(edge)?, 0.0)];
        let mut since = 0.0;
        let mut k = edge + dir;
        while distinct.len() < 3 && self.in_range(k) && (k - edge).abs() < EDGE_READS as i32 {
            self.check()?;
            let img = self.read_checked(k)?;
            let newest = &distinct.last().expect("non-empty").0;
            if self.is_cut(newest, &img) {
                break;
            }
            since += 1.0;
            if mean_abs_difference(newest, &img) >= DUPLICATE {
                distinct.push((img, since));
                since = 0.0;
            }
            k += dir;
        }
        Ok(distinct)
    }

    /// The motion at the edge from its distinct frames (the edge frame first), from the cache
    /// when it holds the motion of these very frames.
    fn edge_motion(
        &self,
        edge: i32,
        dir: i32,
        run: &[(FloatImage, f64)],
    ) -> Result<Arc<EdgeMotion>> {
        let key = self.velocity_cache.map(|_| {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            let gaps: Vec<f64> = run.iter().map(|r| r.1).collect();
            for part in [
                self.interpolator
                    .pipeline()
                    .model_path()
                    .display()
                    .to_string(),
                format!("{edge} {dir} {:?} {gaps:?}", self.frame_colour),
            ] {
                for b in part.bytes() {
                    h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            run.iter().fold(h, |h, (img, _)| content_hash(img, h))
        });
        if let (Some(cache), Some(key)) = (self.velocity_cache, key)
            && let Some(m) = cache.get(key)
        {
            return Ok(m);
        }
        let v1 = self
            .interpolator
            .velocity(&run[1].0, &run[0].0, self.frame_colour)?;
        (self.progress)(0.5);
        self.check()?;
        let second = match run.get(2) {
            Some((third, dt2)) => Some((self.earlier_velocity(third, &run[1].0)?, *dt2)),
            None => None,
        };
        let motion = Arc::new(EdgeMotion::measure(v1, run[1].1, run[1].0.clone(), second));
        if let (Some(cache), Some(key)) = (self.velocity_cache, key) {
            cache.put(key, motion.clone());
        }
        Ok(motion)
    }

    /// The velocity of `later`'s pixels from `earlier`, for the frame before the edge: it only
    /// says how steady the motion was and where the background was open, so frames larger than
    /// [`HALF_SIZE_ABOVE`] pixels are measured at half size (a quarter of the model's work).
    fn earlier_velocity(&self, earlier: &FloatImage, later: &FloatImage) -> Result<FlowField> {
        let b = later.bounds;
        if b.area() <= HALF_SIZE_ABOVE {
            return self
                .interpolator
                .velocity(earlier, later, self.frame_colour);
        }
        let half = Rect::from_size(b.width().div_ceil(2), b.height().div_ceil(2));
        let small = self.interpolator.velocity(
            &resize_to(earlier, half),
            &resize_to(later, half),
            self.frame_colour,
        )?;
        let (kx, ky) = (
            half.width() as f32 / b.width() as f32,
            half.height() as f32 / b.height() as f32,
        );
        Ok(FlowField::from_fn(b, |x, y| {
            let (hx, hy) = (
                ((x - b.x1) as f32 + 0.5) * kx - 0.5,
                ((y - b.y1) as f32 + 0.5) * ky - 0.5,
            );
            let (vx, vy) = interpolate::sample_flow(&small, hx, hy);
            (vx / kx, vy / ky)
        }))
    }

    /// Extrapolates `steps` frames beyond the edge frame `edge`, away from direction `dir`
    /// (the direction of the frames before the edge: -1 for a tail, +1 for a head).
    fn beyond(&self, edge: i32, dir: i32, steps: f64) -> Result<Made> {
        let end = if dir < 0 { "last" } else { "first" };
        if let Some(ext) = self.extender {
            let mut run = self.scene_run(edge, dir, ext.history_len())?;
            let warning = (run.len() < ext.history_len()).then(|| {
                format!(
                    "the extender reads {} frames but the scene at the {end} frame ({edge}) has \
                     {}: the oldest of them stands in for the missing ones",
                    ext.history_len(),
                    run.len()
                )
            });
            run.reverse(); // oldest first, the edge frame last
            let n = steps.round().max(1.0) as u32;
            let img = ext.extend(run, n, self.frame_colour, self.is_cancelled)?;
            return Ok(Made {
                frame: Frame::New(img),
                how: How::Predicted,
                confidence: Confidence::Invented,
                warning,
            });
        }
        let run = self.distinct_run(edge, dir)?;
        if run.len() < 2 {
            let why = if self.first == self.last {
                "the shot has one frame".to_string()
            } else if self.in_range(edge + dir) && run.len() == 1 {
                let scan = self.scene_run(edge, dir, 2)?;
                if scan.len() < 2 {
                    format!("a cut lies right before the {end} frame ({edge})")
                } else {
                    format!("the frames next to the {end} frame ({edge}) repeat it")
                }
            } else {
                format!("no other frame of the scene at the {end} frame ({edge})")
            };
            return Ok(Made {
                frame: Frame::Copy(edge),
                how: How::Held,
                confidence: Confidence::Real,
                warning: Some(format!(
                    "{why}, so there is no motion to carry on: frame {edge} is held"
                )),
            });
        }
        (self.progress)(0.2);
        self.check()?;
        let motion = self.edge_motion(edge, dir, &run)?;
        (self.progress)(0.8);
        self.check()?;
        let made = extrapolate::extrapolate(&run[0].0, &motion, steps, self.settings.decay);
        Ok(Made {
            frame: Frame::New(made.image),
            how: How::Extrapolated,
            confidence: Confidence::Map(made.confidence),
            warning: None,
        })
    }
}

/// Makes the output frame for `sample`.
pub fn make_frame(sample: Sample, cx: &Context) -> Result<Made> {
    cx.check()?;
    let real = |frame: Frame, how: How| Made {
        frame,
        how,
        confidence: Confidence::Real,
        warning: None,
    };
    let out = match sample {
        Sample::Source(k) => real(Frame::Copy(k.clamp(cx.first, cx.last)), How::Passthrough),
        Sample::Between { k0, k1, t } => {
            let a = (cx.read)(k0)?;
            let b = (cx.read)(k1)?;
            cx.check()?;
            if cx.is_cut(&a, &b) {
                let k = if t < 0.5 { k0 } else { k1 };
                real(Frame::Copy(k), How::HeldAtCut)
            } else {
                (cx.progress)(0.1);
                let img = cx.interpolator.interpolate(&a, &b, t, cx.frame_colour)?;
                real(Frame::New(img), How::Interpolated)
            }
        }
        Sample::After { last, steps } => cx.beyond(last, -1, steps)?,
        Sample::Before { first, steps } => cx.beyond(first, 1, steps)?,
    };
    cx.check()?;
    (cx.progress)(1.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    #[test]
    fn content_hash_sees_sign_flips_and_bounds() {
        let img = FloatImage::from_fn(Rect::new(0, 0, 4, 2), |x, y| {
            [x as f32 * 0.1, y as f32 * 0.2, 0.3, 1.0]
        });
        let h = content_hash(&img, 7);
        assert_eq!(h, content_hash(&img.clone(), 7));
        // The sign bits of two words' upper halves flipped together.
        let mut flipped = img.clone();
        flipped.data[1] = -flipped.data[1];
        flipped.data[5] = -flipped.data[5];
        assert_ne!(h, content_hash(&flipped, 7));
        let mut moved = img.clone();
        moved.bounds = Rect::new(1, 0, 5, 2);
        assert_ne!(h, content_hash(&moved, 7));
        assert_ne!(h, content_hash(&img, 8));
    }
}
