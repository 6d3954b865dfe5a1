//! Lengthening shots: the maths of the ExtendShot effect, free of OFX.
//!
//! - [`time`]: which source frames an output frame shows (`retime`, `extend`)
//! - [`cut`]: scene-cut detection between consecutive frames
//! - [`warp`]: flow fields in frame pixels, backward warps and RIFE's fusion on host pixels
//! - [`interpolate`]: running a flow model (RIFE) and composing the in-between frame
//! - [`extrapolate`]: frames past the ends: forward warping with easing, occlusion and holes
//! - [`learned`]: the model slot for a learned predictor or generative extender
//!
//! [`make_frame`] puts them together for one output frame. A [`VelocityCache`] keeps the
//! motion measured at an edge of the shot, so a tail (or head) of many frames runs the model
//! once rather than once per frame.

pub mod cut;
pub mod extrapolate;
pub mod interpolate;
pub mod learned;
pub mod time;
pub mod warp;

use std::sync::{Arc, Mutex};

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::FloatImage;
use crate::pipeline::CANCELLED;

pub use interpolate::Interpolator;
pub use learned::Extender;
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
    /// Where the velocity at an edge is kept between frames (None: measured every time).
    pub velocity_cache: Option<&'a VelocityCache>,
}

/// The velocity last measured at an edge of the shot, for the frames after it: every tail
/// frame extrapolates from the same two source frames, so their motion is measured once. The
/// entry is keyed by the two frames' contents (a hash of their pixels), the model, the colour
/// encoding and the edge, so a changed source or setting measures again.
#[derive(Default)]
pub struct VelocityCache {
    entry: Mutex<Option<(u64, Arc<FlowField>)>>,
}

impl VelocityCache {
    pub fn new() -> VelocityCache {
        VelocityCache::default()
    }

    fn get(&self, key: u64) -> Option<Arc<FlowField>> {
        let entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        entry
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: u64, velocity: Arc<FlowField>) {
        *self.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, velocity));
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
        let mut run = vec![(self.read)(edge)?];
        let mut k = edge + dir;
        while run.len() < count && self.in_range(k) {
            self.check()?;
            let next = (self.read)(k)?;
            if self.is_cut(run.last().expect("non-empty"), &next) {
                break;
            }
            run.push(next);
            k += dir;
        }
        Ok(run)
    }

    /// The velocity of the pixels of `last` from `prev`, from the cache when it holds the
    /// motion of these very frames.
    fn velocity(
        &self,
        edge: i32,
        dir: i32,
        prev: &FloatImage,
        last: &FloatImage,
    ) -> Result<Arc<FlowField>> {
        let Some(cache) = self.velocity_cache else {
            return Ok(Arc::new(self.interpolator.velocity(
                prev,
                last,
                self.frame_colour,
            )?));
        };
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for part in [
            self.interpolator
                .pipeline()
                .model_path()
                .display()
                .to_string(),
            format!("{edge} {dir} {:?}", self.frame_colour),
        ] {
            for b in part.bytes() {
                h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        let key = content_hash(last, content_hash(prev, h));
        if let Some(v) = cache.get(key) {
            return Ok(v);
        }
        let v = Arc::new(self.interpolator.velocity(prev, last, self.frame_colour)?);
        cache.put(key, v.clone());
        Ok(v)
    }

    /// Extrapolates `steps` frames beyond the edge frame `edge`, away from direction `dir`
    /// (the direction of the frames before the edge: -1 for a tail, +1 for a head).
    fn beyond(&self, edge: i32, dir: i32, steps: f64) -> Result<(Frame, How)> {
        if let Some(ext) = self.extender {
            let mut run = self.scene_run(edge, dir, ext.history_len())?;
            run.reverse(); // oldest first, the edge frame last
            let n = steps.round().max(1.0) as u32;
            let img = ext.extend(run, n, self.frame_colour, self.is_cancelled)?;
            return Ok((Frame::New(img), How::Predicted));
        }
        let run = self.scene_run(edge, dir, 2)?;
        if run.len() < 2 {
            return Ok((Frame::Copy(edge), How::Held));
        }
        (self.progress)(0.2);
        self.check()?;
        let velocity = self.velocity(edge, dir, &run[1], &run[0])?;
        (self.progress)(0.8);
        self.check()?;
        let img = extrapolate::extrapolate(&run[0], &velocity, steps, self.settings.decay);
        Ok((Frame::New(img), How::Extrapolated))
    }
}

/// Makes the output frame for `sample`.
pub fn make_frame(sample: Sample, cx: &Context) -> Result<(Frame, How)> {
    cx.check()?;
    let out = match sample {
        Sample::Source(k) => (Frame::Copy(k.clamp(cx.first, cx.last)), How::Passthrough),
        Sample::Between { k0, k1, t } => {
            let a = (cx.read)(k0)?;
            let b = (cx.read)(k1)?;
            cx.check()?;
            if cx.is_cut(&a, &b) {
                let k = if t < 0.5 { k0 } else { k1 };
                (Frame::Copy(k), How::HeldAtCut)
            } else {
                (cx.progress)(0.1);
                let img = cx.interpolator.interpolate(&a, &b, t, cx.frame_colour)?;
                (Frame::New(img), How::Interpolated)
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
