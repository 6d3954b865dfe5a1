//! A person matte from MediaPipe's pose models, for people of any size and any number: the
//! person detector (manifest `detection`) finds each person by their face, on the whole frame
//! and on overlapping square tiles (so that people a few dozen pixels tall are seen at the
//! detector's input size); for each person the landmark model (manifest `alignment` kind
//! `keypoint_circle`, MediaPipe's pose_detection_to_roi) is fed the square crop centred on the
//! hips, sized by the circle around the whole body and rotated upright; its `segmentation`
//! output is warped back into the frame and the persons' mattes merged by their maximum.
//!
//! Steady over time ([`held_people`]): the detector misses people now and then, for a frame or
//! two, while the landmark model still sees them in a crop. So a person found within
//! [`HOLD_FRAMES`] frames before and within as many after, but not in this frame, is looked for
//! in this frame at the crop interpolated between the two; the landmark model's presence score
//! says whether they are there.
//!
//! Runs on the tiles and persons are independent and merged by maximum (detections by a fixed
//! ordering), so the matte is the same however many threads compute it. A frame where nobody
//! is found gives an all-zero matte. [`MatteCache`] keeps the people and mattes of recent
//! frames (by their pixels), as a plate reads each frame of a window again for every frame it
//! renders.
//! Reference implementation: `decode_blazeface` with `POSE_DECODE`, `pose_roi` and `crop_roi`
//! in `models/convert/face_common.py`.

use std::collections::VecDeque;
use std::f64::consts::PI;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::face::Face;
use crate::face::align::warp;
use crate::face::detect;
use crate::face::landmarks::Roi;
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::manifest::{Activation, Alignment, Border, Segmentation, Size};
use crate::pipeline::{InferRequest, InferencePipeline};

/// Tiles searched besides the whole frame, as fractions of the frame's shorter side.
const TILE_FRACTIONS: [f64; 2] = [1.0 / 2.0, 1.0 / 3.0];
/// Tiles smaller than this (frame pixels) are not searched: the detector would see a person
/// upscaled past what the frame holds.
const MIN_TILE: f64 = 128.0;
/// Neighbouring tiles overlap by a quarter of their side.
const TILE_STEP: f64 = 0.75;
/// Two detections are one person when the smaller face box lies more than this share inside
/// the other (the same face found on several tiles, at slightly different sizes).
const SAME_PERSON_OVERLAP: f64 = 0.5;
/// A tile keeps only people whose body circle is at most this many times its side across:
/// larger people are found whole on a larger tile or the frame, and a tile of a close-up shows
/// only parts of one (which the detector takes for small people).
const TILE_PERSON_MAX: f64 = 1.0;

/// A person missed by the detector is looked for when found this many frames before and after.
pub const HOLD_FRAMES: i32 = 4;
/// Two crops are one person when their centres are closer than this share of the larger side
/// and their sides differ by less than a factor of two.
const SAME_CROP: f64 = 0.2;

/// One person found in a frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// The detector's result (face box and keypoints, frame pixels, y up).
    pub detection: Face,
    /// The crop the landmark model is fed.
    pub roi: Roi,
}

/// The person detector and the pose landmark model with their manifests' decoding.
pub struct PersonMatter {
    detector: Arc<InferencePipeline>,
    detector_input: String,
    landmarks: Arc<InferencePipeline>,
    landmarks_input: String,
    segmentation: Segmentation,
    centre_keypoint: String,
    circle_keypoint: String,
    target_angle: f64,
    scale: f64,
    border: Border,
    size: u32,
}

fn only_image_input(p: &InferencePipeline, what: &str) -> Result<String> {
    let m = p.manifest();
    let mut inputs = m.image_inputs();
    let name = inputs
        .next()
        .map(|i| i.name.clone())
        .ok_or_else(|| Error::new(format!("{what} '{}' has no image input", m.name)))?;
    if inputs.next().is_some() {
        return Err(Error::new(format!(
            "{what} '{}' has more than one image input; it takes one picture",
            m.name
        )));
    }
    Ok(name)
}

impl PersonMatter {
    /// Pairs a person detector (manifest `detection`) with a pose landmark model whose manifest
    /// has a `segmentation` block, a `keypoint_circle` alignment naming that detector's
    /// keypoints and a fixed square size.
    pub fn new(
        detector: Arc<InferencePipeline>,
        landmarks: Arc<InferencePipeline>,
    ) -> Result<PersonMatter> {
        let dm = detector.manifest();
        let lm = landmarks.manifest();
        let what = format!(
            "pose model '{}' ({})",
            lm.name,
            landmarks.model_path().display()
        );
        let Some(crate::manifest::Detection::SsdAnchors { decode, .. }) = &dm.detection else {
            return Err(Error::new(format!(
                "model '{}' is not a person detector: its manifest has no SSD 'detection' block",
                dm.name
            )));
        };
        let segmentation = lm.segmentation.clone().ok_or_else(|| {
            Error::new(format!(
                "{what} has no 'segmentation' block (no person matte)"
            ))
        })?;
        let Some(Alignment::KeypointCircle {
            detector: detector_name,
            centre_keypoint,
            circle_keypoint,
            target_angle_deg,
            scale,
            border,
        }) = lm.alignment.clone()
        else {
            return Err(Error::new(format!(
                "{what}: its crop is not described by a 'keypoint_circle' alignment"
            )));
        };
        if detector_name != dm.name {
            return Err(Error::new(format!(
                "{what} is cropped by the detections of '{detector_name}', not of '{}'",
                dm.name
            )));
        }
        for k in [&centre_keypoint, &circle_keypoint] {
            if !decode.keypoints.contains(k) {
                return Err(Error::new(format!(
                    "{what} needs the detector keypoint '{k}', which '{}' does not give",
                    dm.name
                )));
            }
        }
        let Size::Fixed { width, height, .. } = lm.size else {
            return Err(Error::new(format!(
                "{what} takes a fixed-size crop (size mode 'fixed')"
            )));
        };
        if width != height {
            return Err(Error::new(format!(
                "{what}: the person crop needs a square model input"
            )));
        }
        Ok(PersonMatter {
            detector_input: only_image_input(&detector, "person detector")?,
            landmarks_input: only_image_input(&landmarks, "pose model")?,
            detector,
            landmarks,
            segmentation,
            centre_keypoint,
            circle_keypoint,
            target_angle: target_angle_deg as f64,
            scale: scale as f64,
            border,
            size: width,
        })
    }

    /// The square regions the detector is run on: the whole frame, then overlapping tiles of
    /// a half and a third of the shorter side (those at least [`MIN_TILE`] px), in a fixed order.
    pub fn search_regions(frame: Rect) -> Vec<Rect> {
        let mut out = vec![frame];
        let short = frame.width().min(frame.height()) as f64;
        for f in TILE_FRACTIONS {
            let side = (short * f).round();
            if side < MIN_TILE {
                continue;
            }
            let side = side as i32;
            let step = ((side as f64) * TILE_STEP).round().max(1.0) as i32;
            let starts = |lo: i32, hi: i32| {
                let mut v: Vec<i32> = (0..)
                    .map(|k| lo + k * step)
                    .take_while(|s| s + side < hi)
                    .collect();
                v.push((hi - side).max(lo));
                v.dedup();
                v
            };
            for y in starts(frame.y1, frame.y2) {
                for x in starts(frame.x1, frame.x2) {
                    out.push(Rect::new(x, y, x + side, y + side).intersect(&frame));
                }
            }
        }
        out
    }

    /// The people in `frame` (pixels RGBA in `colour`'s encoding; its bounds are the frame),
    /// one detection per person (the best-scoring of those that overlap), best first.
    pub fn people(&self, frame: &FloatImage, colour: ColourSpace) -> Result<Vec<Person>> {
        let Some(detection) = &self.detector.manifest().detection else {
            return Ok(Vec::new());
        };
        let regions = Self::search_regions(frame.bounds);
        let found: Vec<Result<Vec<Face>>> = crate::face::each_on_cores(regions.len(), |i| {
            let r = regions[i];
            let tile;
            let image = if r == frame.bounds {
                frame
            } else {
                tile = FloatImage::from_fn(r, |x, y| frame.pixel(x, y));
                &tile
            };
            let inferred = self.detector.infer(&InferRequest {
                images: &[(self.detector_input.as_str(), image)],
                frame_colour: colour,
                constants: &[],
            })?;
            let found = detect::decode(detection, &inferred)?;
            if r == frame.bounds {
                return Ok(found);
            }
            let side = r.width().max(r.height()) as f64;
            Ok(found
                .into_iter()
                .filter(|d| {
                    self.roi(d)
                        .is_some_and(|roi| roi.side / self.scale <= TILE_PERSON_MAX * side)
                })
                .collect())
        });
        let mut all = Vec::new();
        for f in found {
            all.extend(f?);
        }
        // Best first; ties by position so the order never depends on the search order.
        all.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.bbox.x1.total_cmp(&b.bbox.x1))
                .then(a.bbox.y1.total_cmp(&b.bbox.y1))
        });
        let mut kept: Vec<Face> = Vec::new();
        for face in all {
            if kept
                .iter()
                .all(|k| overlap_of_smaller(&k.bbox, &face.bbox) <= SAME_PERSON_OVERLAP)
            {
                kept.push(face);
            }
        }
        Ok(kept
            .into_iter()
            .filter_map(|d| self.roi(&d).map(|roi| Person { detection: d, roi }))
            .collect())
    }

    /// The landmark model's crop for a detection: centred on the centre keypoint, its side
    /// twice the distance to the circle keypoint times `scale`, turned so the line between them
    /// points at the target angle. None when the two keypoints coincide or are missing.
    pub fn roi(&self, person: &Face) -> Option<Roi> {
        let (x0, y0) = person.keypoint(&self.centre_keypoint)?;
        let (x1, y1) = person.keypoint(&self.circle_keypoint)?;
        let radius = (x1 - x0).hypot(y1 - y0);
        if !(radius.is_finite() && radius > 0.5) {
            return None;
        }
        // As in `Roi::from_face`: the angle in the top-down picture, from y-up coordinates.
        let angle = self.target_angle.to_radians() - (y1 - y0).atan2(x1 - x0);
        Some(Roi {
            centre: (x0, y0),
            side: 2.0 * radius * self.scale,
            rotation: (angle + PI).rem_euclid(2.0 * PI) - PI,
        })
    }

    /// The person matte of one person over `bounds` (row by row from `bounds.y1`, 0..1), or
    /// None when the model says its crop holds no person.
    pub fn person_matte(
        &self,
        frame: &FloatImage,
        colour: ColourSpace,
        roi: &Roi,
        bounds: Rect,
    ) -> Result<Option<Vec<f32>>> {
        let n = self.size;
        let to_frame = roi.crop_to_frame(n, n);
        let read = roi.frame_rect(n, n, frame.bounds);
        let source = if read.is_empty() {
            return Ok(None);
        } else {
            FloatImage::from_fn(read, |x, y| frame.pixel(x, y))
        };
        let crop = warp(&source, &to_frame, n, n, self.border);
        let out = self.landmarks.infer(&InferRequest {
            images: &[(self.landmarks_input.as_str(), &crop)],
            frame_colour: colour,
            constants: &[],
        })?;
        let name = &self.landmarks.manifest().name;
        let seg = &self.segmentation;
        if let Some(p) = &seg.presence {
            let t = out.get(p).ok_or_else(|| {
                Error::new(format!(
                    "pose model '{name}' did not return its output '{p}'"
                ))
            })?;
            let v = t.data.first().copied().unwrap_or(0.0);
            let v = activate(v, seg.presence_activation.unwrap_or(Activation::None));
            if v < seg.min_presence.unwrap_or(0.0) {
                return Ok(None);
            }
        }
        let t = out.get(&seg.output).ok_or_else(|| {
            Error::new(format!(
                "pose model '{name}' did not return its output '{}'",
                seg.output
            ))
        })?;
        // [1, H, W, 1] or [1, 1, H, W]: either way H x W values, rows top-down.
        let dims: Vec<usize> = t.shape.iter().copied().filter(|&d| d != 1).collect();
        let (mh, mw) = match dims[..] {
            [h, w] => (h, w),
            _ => {
                return Err(Error::new(format!(
                    "pose model '{name}' output '{}' has shape {:?}; one matte channel was expected",
                    seg.output, t.shape
                )));
            }
        };
        let mask: Vec<f32> = t
            .data
            .iter()
            .map(|&v| activate(v, seg.activation))
            .collect();
        let from_frame = to_frame.inverse()?;
        let (kx, ky) = (mw as f64 / n as f64, mh as f64 / n as f64);
        let sample = |u: f64, v: f64| -> f32 {
            // Mask pixel centres sit at (i + 0.5, j + 0.5); outside the mask is no person.
            let (fx, fy) = (u * kx - 0.5, v * ky - 0.5);
            let (i0, j0) = (fx.floor(), fy.floor());
            let (ax, ay) = ((fx - i0) as f32, (fy - j0) as f32);
            let at = |i: f64, j: f64| -> f32 {
                if i < 0.0 || j < 0.0 || i >= mw as f64 || j >= mh as f64 {
                    0.0
                } else {
                    mask[j as usize * mw + i as usize]
                }
            };
            let top = at(i0, j0) * (1.0 - ax) + at(i0 + 1.0, j0) * ax;
            let bottom = at(i0, j0 + 1.0) * (1.0 - ax) + at(i0 + 1.0, j0 + 1.0) * ax;
            top * (1.0 - ay) + bottom * ay
        };
        let reach = roi.frame_rect(n, n, bounds);
        let w = bounds.width() as usize;
        let mut matte = vec![0f32; bounds.area()];
        for (x, y) in reach.pixels() {
            let (u, v) = from_frame.apply(x as f64 + 0.5, y as f64 + 0.5);
            matte[(y - bounds.y1) as usize * w + (x - bounds.x1) as usize] = sample(u, v);
        }
        Ok(Some(matte))
    }

    /// The merged (maximum) matte of everyone found in `frame`, over its bounds, row by row
    /// from the bottom (0..1); all zero when nobody is found.
    pub fn matte(&self, frame: &FloatImage, colour: ColourSpace) -> Result<Vec<f32>> {
        let people = self.people(frame, colour)?;
        self.matte_of(frame, colour, &people)
    }

    /// The merged (maximum) matte of `people` in `frame` (each one's crop; those the landmark
    /// model finds no person in add nothing), over the frame's bounds.
    pub fn matte_of(
        &self,
        frame: &FloatImage,
        colour: ColourSpace,
        people: &[Person],
    ) -> Result<Vec<f32>> {
        let bounds = frame.bounds;
        let mattes = crate::face::each_on_cores(people.len(), |i| {
            self.person_matte(frame, colour, &people[i].roi, bounds)
        });
        let mut matte = vec![0f32; bounds.area()];
        for m in mattes {
            if let Some(m) = m? {
                for (a, b) in matte.iter_mut().zip(m) {
                    *a = a.max(b);
                }
            }
        }
        Ok(matte)
    }
}

/// The people of a frame held over the detector's misses: everyone found in it (`current`),
/// then each person found in a frame before it and in a frame after it (`near`: frame offset
/// and the people found there, offsets within [`HOLD_FRAMES`]) whom `current` lacks, at the
/// crop interpolated between the nearest such frames (nearest first on each side; the same
/// person when the crops match, see [`SAME_CROP`]).
pub fn held_people(current: &[Person], near: &[(i32, Vec<Person>)]) -> Vec<Person> {
    let mut out = current.to_vec();
    let mut near: Vec<&(i32, Vec<Person>)> = near.iter().collect();
    near.sort_by_key(|(offset, _)| (offset.abs(), *offset));
    for &(before_at, ref before) in near.iter().copied().filter(|(o, _)| *o < 0) {
        for b in before {
            if out.iter().any(|p| same_crop(&p.roi, &b.roi)) {
                continue;
            }
            let after = near.iter().filter(|(o, _)| *o > 0).find_map(|(o, people)| {
                people
                    .iter()
                    .find(|a| same_crop(&a.roi, &b.roi))
                    .map(|a| (*o, a))
            });
            if let Some((after_at, a)) = after {
                let w = -before_at as f64 / (after_at - before_at) as f64;
                out.push(Person {
                    detection: b.detection.clone(),
                    roi: between(&b.roi, &a.roi, w),
                });
            }
        }
    }
    out
}

/// True when two crops frame the same person (see [`SAME_CROP`]).
fn same_crop(a: &Roi, b: &Roi) -> bool {
    let d = (a.centre.0 - b.centre.0).hypot(a.centre.1 - b.centre.1);
    let (small, large) = (a.side.min(b.side), a.side.max(b.side));
    d < SAME_CROP * large && large < 2.0 * small
}

/// The crop `w` of the way from `a` to `b` (rotation along the shorter way round).
fn between(a: &Roi, b: &Roi, w: f64) -> Roi {
    let lerp = |x: f64, y: f64| x + w * (y - x);
    let turn = (b.rotation - a.rotation + PI).rem_euclid(2.0 * PI) - PI;
    Roi {
        centre: (lerp(a.centre.0, b.centre.0), lerp(a.centre.1, b.centre.1)),
        side: lerp(a.side, b.side),
        rotation: (a.rotation + w * turn + PI).rem_euclid(2.0 * PI) - PI,
    }
}

/// Person mattes of recently seen frames, keyed by the frame's pixels and the models, stored
/// in 1/255 steps. A matte always goes through the steps, cached or not, so a render gives
/// the same result whether the frame was seen before.
pub struct MatteCache {
    entries: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
    people: Mutex<VecDeque<(u64, Arc<Vec<Person>>)>>,
    /// Clip time and cache key of the frames read last.
    seen: Mutex<VecDeque<(i32, u64)>>,
    budget: usize,
}

/// How many frames' people a [`MatteCache`] keeps (a few hundred bytes each).
const PEOPLE_KEPT: usize = 512;

impl MatteCache {
    /// A cache holding at most `budget` bytes of mattes (the oldest go first).
    pub fn new(budget: usize) -> MatteCache {
        MatteCache {
            entries: Mutex::new(VecDeque::new()),
            people: Mutex::new(VecDeque::new()),
            seen: Mutex::new(VecDeque::new()),
            budget,
        }
    }

    /// Forgets every matte and person.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.people
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// [`PersonMatter::matte`] of `frame`, from the cache when this frame was seen before.
    pub fn matte(
        &self,
        matter: &PersonMatter,
        frame: &FloatImage,
        colour: ColourSpace,
    ) -> Result<Vec<f32>> {
        let key = key_of_frame(matter, frame, colour);
        let people = self.people_of(matter, frame, colour, key)?;
        self.matte_of_people(matter, frame, colour, key, &people)
    }

    /// The matte of frame `t`'s people (`frame` holds its pixels) held over the detector's
    /// misses ([`held_people`]) with the frames within [`HOLD_FRAMES`] of it. Their people come
    /// from the cache where a frame at that time was seen (by its pixels) before, else `fetch`
    /// reads the frame (`None`: outside the shot). Pixels that changed at a time since it was
    /// last read are seen when that frame is read again; until then the people found there
    /// before only add crops to look at, and the landmark model decides from this frame's
    /// pixels whether someone is there.
    pub fn held_matte(
        &self,
        matter: &PersonMatter,
        t: i32,
        frame: &FloatImage,
        fetch: &dyn Fn(i32) -> Result<Option<FloatImage>>,
        colour: ColourSpace,
    ) -> Result<Vec<f32>> {
        let key = key_of_frame(matter, frame, colour);
        self.remember(t, key);
        let current = self.people_of(matter, frame, colour, key)?;
        let mut near = Vec::new();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        for offset in (-HOLD_FRAMES..=HOLD_FRAMES).filter(|&o| o != 0) {
            let k = t + offset;
            let seen = self
                .key_at(k)
                .and_then(|key| self.cached_people(key).map(|p| (key, p)));
            let found = match seen {
                Some(found) => Some(found),
                None => match fetch(k)? {
                    Some(f) => {
                        let key = key_of_frame(matter, &f, colour);
                        self.remember(k, key);
                        Some((key, self.people_of(matter, &f, colour, key)?))
                    }
                    None => None,
                },
            };
            if let Some((key, people)) = found {
                (offset, key).hash(&mut h);
                near.push((offset, people.as_ref().clone()));
            }
        }
        let people = held_people(&current, &near);
        self.matte_of_people(matter, frame, colour, h.finish(), &people)
    }

    /// The matte of `people` in `frame` under the cache key `key`.
    fn matte_of_people(
        &self,
        matter: &PersonMatter,
        frame: &FloatImage,
        colour: ColourSpace,
        key: u64,
        people: &[Person],
    ) -> Result<Vec<f32>> {
        let found = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, m)| m.clone())
        };
        let steps = match found {
            Some(m) => m,
            None => {
                let m: Vec<u8> = matter
                    .matte_of(frame, colour, people)?
                    .into_iter()
                    .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                    .collect();
                let m = Arc::new(m);
                let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
                if !entries.iter().any(|(k, _)| *k == key) {
                    entries.push_back((key, m.clone()));
                }
                let mut total: usize = entries.iter().map(|(_, m)| m.len()).sum();
                while total > self.budget && entries.len() > 1 {
                    total -= entries.pop_front().map_or(0, |(_, m)| m.len());
                }
                m
            }
        };
        Ok(steps.iter().map(|&v| v as f32 / 255.0).collect())
    }

    /// Notes that the frame at time `t` had the cache key `key`.
    fn remember(&self, t: i32, key: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|(k, _)| *k != t);
        seen.push_back((t, key));
        while seen.len() > PEOPLE_KEPT {
            seen.pop_front();
        }
    }

    /// The cache key of the frame last read at time `t`.
    fn key_at(&self, t: i32) -> Option<u64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter().find(|(k, _)| *k == t).map(|(_, key)| *key)
    }

    /// The people of the frame with cache key `key`, when cached.
    fn cached_people(&self, key: u64) -> Option<Arc<Vec<Person>>> {
        let people = self.people.lock().unwrap_or_else(|e| e.into_inner());
        people
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| p.clone())
    }

    /// [`PersonMatter::people`] of the frame whose key is `key`, from the cache when seen.
    fn people_of(
        &self,
        matter: &PersonMatter,
        frame: &FloatImage,
        colour: ColourSpace,
        key: u64,
    ) -> Result<Arc<Vec<Person>>> {
        if let Some(p) = self.cached_people(key) {
            return Ok(p);
        }
        let p = Arc::new(matter.people(frame, colour)?);
        let mut people = self.people.lock().unwrap_or_else(|e| e.into_inner());
        if !people.iter().any(|(k, _)| *k == key) {
            people.push_back((key, p.clone()));
        }
        while people.len() > PEOPLE_KEPT {
            people.pop_front();
        }
        Ok(p)
    }
}

/// A frame's cache key: its bounds and pixels, the models and the colour encoding.
fn key_of_frame(matter: &PersonMatter, frame: &FloatImage, colour: ColourSpace) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    matter.detector.model_path().hash(&mut h);
    matter.landmarks.model_path().hash(&mut h);
    format!("{colour:?}").hash(&mut h);
    (
        frame.bounds.x1,
        frame.bounds.y1,
        frame.bounds.x2,
        frame.bounds.y2,
    )
        .hash(&mut h);
    for v in &frame.data {
        h.write_u32(v.to_bits());
    }
    h.finish()
}

/// The share of the smaller box that lies inside the other.
fn overlap_of_smaller(a: &crate::face::FaceBox, b: &crate::face::FaceBox) -> f64 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let smaller = a.area().min(b.area());
    if smaller <= 0.0 { 0.0 } else { w * h / smaller }
}

fn activate(v: f32, activation: Activation) -> f32 {
    match activation {
        Activation::Sigmoid => 1.0 / (1.0 + (-v.clamp(-80.0, 80.0)).exp()),
        Activation::None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_regions_cover_the_frame_with_overlapping_squares() {
        let frame = Rect::new(0, 0, 768, 576);
        let regions = PersonMatter::search_regions(frame);
        assert_eq!(regions[0], frame);
        // Halves (288 px) and thirds (192 px) of the shorter side.
        let halves: Vec<_> = regions.iter().filter(|r| r.width() == 288).collect();
        let thirds: Vec<_> = regions.iter().filter(|r| r.width() == 192).collect();
        assert_eq!(halves.len() + thirds.len() + 1, regions.len());
        for r in halves.iter().chain(&thirds) {
            assert_eq!(r.width(), r.height());
            assert_eq!(r.intersect(&frame), **r);
        }
        // Every pixel is in some tile of each size.
        for tiles in [&halves, &thirds] {
            for (x, y) in [(0, 0), (767, 575), (400, 300), (767, 0)] {
                assert!(tiles.iter().any(|r| r.contains(x, y)), "({x}, {y})");
            }
        }
        // A small frame is searched whole only.
        assert_eq!(
            PersonMatter::search_regions(Rect::new(0, 0, 300, 200)).len(),
            1
        );
    }

    fn person_at(x: f64, y: f64, side: f64, rotation: f64) -> Person {
        Person {
            detection: Face {
                bbox: crate::face::FaceBox {
                    x1: x - 5.0,
                    y1: y - 5.0,
                    x2: x + 5.0,
                    y2: y + 5.0,
                },
                score: 0.9,
                keypoints: Vec::new(),
            },
            roi: Roi {
                centre: (x, y),
                side,
                rotation,
            },
        }
    }

    #[test]
    fn a_person_missed_between_two_frames_is_held_at_the_crop_between() {
        let before = person_at(100.0, 50.0, 80.0, 0.1);
        let after = person_at(112.0, 50.0, 84.0, 0.2);
        // Missed in this frame only: halfway.
        let held = held_people(&[], &[(-1, vec![before.clone()]), (1, vec![after.clone()])]);
        assert_eq!(held.len(), 1);
        let r = &held[0].roi;
        assert!((r.centre.0 - 106.0).abs() < 1e-9 && (r.side - 82.0).abs() < 1e-9);
        assert!((r.rotation - 0.15).abs() < 1e-9);
        // Missed in two frames, seen two before and one after: two thirds of the way.
        let held = held_people(&[], &[(-2, vec![before.clone()]), (1, vec![after.clone()])]);
        assert!((held[0].roi.centre.0 - 108.0).abs() < 1e-9);
        // The nearest frame on each side is used.
        let far = person_at(90.0, 50.0, 80.0, 0.1);
        let held = held_people(
            &[],
            &[
                (-2, vec![far]),
                (-1, vec![before.clone()]),
                (1, vec![after.clone()]),
            ],
        );
        assert_eq!(held.len(), 1);
        assert!((held[0].roi.centre.0 - 106.0).abs() < 1e-9);
    }

    #[test]
    fn only_people_seen_on_both_sides_and_missing_here_are_held() {
        let before = person_at(100.0, 50.0, 80.0, 0.0);
        let after = person_at(104.0, 52.0, 80.0, 0.0);
        // Found in this frame: kept once.
        let here = person_at(102.0, 51.0, 80.0, 0.0);
        let held = held_people(
            std::slice::from_ref(&here),
            &[(-1, vec![before.clone()]), (1, vec![after.clone()])],
        );
        assert_eq!(held, vec![here]);
        // Leaving (seen before only) or arriving (after only): not held.
        assert!(held_people(&[], &[(-1, vec![before.clone()])]).is_empty());
        assert!(held_people(&[], &[(1, vec![after.clone()])]).is_empty());
        // Someone else after (far away, or of another size): not held.
        let other = person_at(300.0, 50.0, 80.0, 0.0);
        let bigger = person_at(100.0, 50.0, 200.0, 0.0);
        assert!(held_people(&[], &[(-1, vec![before.clone()]), (1, vec![other])]).is_empty());
        assert!(held_people(&[], &[(-1, vec![before]), (1, vec![bigger])]).is_empty());
    }

    #[test]
    fn a_held_crop_turns_the_short_way_round() {
        let a = Roi {
            centre: (0.0, 0.0),
            side: 10.0,
            rotation: PI - 0.1,
        };
        let b = Roi {
            rotation: -PI + 0.1,
            ..a
        };
        let r = between(&a, &b, 0.5).rotation;
        assert!((r.abs() - PI).abs() < 1e-9, "{r}");
    }
}
