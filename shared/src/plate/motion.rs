//! Moving things on a locked-off camera: whatever moves in the window of frames (people, cars,
//! bicycles, their shadows), found from the shot itself against its temporal background.
//!
//! 1. Each frame of the window is read once and kept small (box-averaged so that its long side
//!    is at most [`WORK_SIDE`] pixels, RGB as half floats).
//! 2. Is the camera fixed? The frames at both ends of the window are aligned to the current
//!    one ([`super::align::estimate`] on the unmatted pixels); when a corner of the frame
//!    moves by more than [`LOCKED_SHIFT`] pixels the camera moves, and the mattes come from
//!    [`super::moving_camera`] (a background that follows the camera) instead of 3 and 4.
//! 3. The background is the per-pixel, per-channel median of the window. A frame's pixel moves
//!    where its largest channel difference from that background exceeds [`NOISE_K`] times the
//!    current frame's median difference (the shot's own noise), and at least [`MIN_STEP`].
//! 4. Clean-up: regions smaller than a specks' size go, small gaps are closed, holes enclosed
//!    by a region (up to [`MAX_HOLE`] of the frame) are filled, and the matte grows by the
//!    caller's radius (motion blur, shadow fringe).
//!
//! Every frame of the window gets its matte from the same background and threshold, so the
//! median fill leaves the movers out of its samples too. Everything is sequential and depends
//! only on the window's frames: the same at any thread count and in any render order.

use super::align::{self, Level};
use super::gather::{full, half};
use super::moving_camera;
use super::{HOLE_THRESHOLD, PlateOptions, ShotFrame, ShotSource, dilate, window_frames};
use crate::error::{Error, Result};

/// Long side of the working resolution (pixels).
pub const WORK_SIDE: usize = 1024;
/// A corner moving by more than this (full-size pixels) across the window: the camera moves.
pub const LOCKED_SHIFT: f64 = 1.0;
/// Threshold over the median difference from the background.
pub const NOISE_K: f32 = 4.0;
/// The smallest difference that counts as motion (values 0..1).
pub const MIN_STEP: f32 = 6.0 / 255.0;
/// Largest hole (share of the frame) filled inside a moving region.
pub const MAX_HOLE: f64 = 0.01;
/// A motion matte covering more than this share of the current frame is not used.
pub const MAX_SHARE: f32 = 0.5;
/// Frames a window needs for a background.
pub const MIN_FRAMES: usize = 5;

/// What the motion matte did for one plate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MotionUse {
    /// Not asked for, or the method does not use it.
    Off,
    /// Too few frames in the window for a background.
    TooFewFrames,
    /// Used; it covers this share of the current frame.
    Used { share: f32 },
    /// The camera moves (this many pixels at a corner across the window) and the window's
    /// frames could not be aligned: not used.
    MovingCamera { shift: f64 },
    /// The camera moves (`shift` as above); found against a background aligned to each frame
    /// ([`super::moving_camera`]). It covers `share` of the current frame.
    Compensated { share: f32, shift: f64 },
    /// It covered this share of the current frame (a light change, a shaking camera): not used.
    TooLarge { share: f32 },
}

/// The motion mattes of the window's frames, at the working resolution.
pub struct MotionMattes {
    frames: Vec<i32>,
    scale: usize,
    lw: usize,
    lh: usize,
    mattes: Vec<Vec<u8>>,
}

impl MotionMattes {
    /// The matte of frame `k` over a `w`-wide frame of `n` pixels (1 where it moves), `None`
    /// for a frame outside the window.
    pub fn full(&self, k: i32, w: usize, n: usize) -> Option<Vec<f32>> {
        let j = self.frames.iter().position(|&f| f == k)?;
        let m = &self.mattes[j];
        Some(
            (0..n)
                .map(|i| {
                    let (x, y) = ((i % w) / self.scale, (i / w) / self.scale);
                    m[y.min(self.lh - 1) * self.lw + x.min(self.lw - 1)] as f32
                })
                .collect(),
        )
    }
}

/// A shot whose frames' mattes include their motion mattes.
pub struct WithMotion<'a> {
    pub inner: &'a dyn ShotSource,
    pub motion: &'a MotionMattes,
}

impl ShotSource for WithMotion<'_> {
    fn range(&self) -> (i32, i32) {
        self.inner.range()
    }
    fn load(&self, t: i32) -> Result<ShotFrame> {
        let mut f = self.inner.load(t)?;
        let w = f.image.width() as usize;
        if let Some(m) = self.motion.full(t, w, f.matte.len()) {
            for (a, b) in f.matte.iter_mut().zip(m) {
                *a = a.max(b);
            }
        }
        Ok(f)
    }
}

/// One frame at the working resolution.
pub(super) struct Small {
    pub(super) rgb: Vec<[u16; 3]>,
    pub(super) valid: Vec<f32>,
}

/// Box-averages `f` by `s` (RGB as half floats; valid where no pixel of the box is matted).
fn shrink(f: &ShotFrame, s: usize, lw: usize, lh: usize) -> Small {
    let (w, h) = (f.image.width() as usize, f.image.height() as usize);
    let mut rgb = Vec::with_capacity(lw * lh);
    let mut valid = Vec::with_capacity(lw * lh);
    for y in 0..lh {
        for x in 0..lw {
            let (mut sum, mut n, mut ok) = ([0f32; 3], 0f32, 1f32);
            for yy in y * s..((y + 1) * s).min(h) {
                for xx in x * s..((x + 1) * s).min(w) {
                    let i = yy * w + xx;
                    for c in 0..3 {
                        sum[c] += f.image.data[4 * i + c];
                    }
                    n += 1.0;
                    if f.matte[i] > HOLE_THRESHOLD {
                        ok = 0.0;
                    }
                }
            }
            rgb.push([half(sum[0] / n), half(sum[1] / n), half(sum[2] / n)]);
            valid.push(ok);
        }
    }
    Small { rgb, valid }
}

pub(super) fn level(s: &Small, lw: usize, lh: usize) -> Level {
    let grey = s
        .rgb
        .iter()
        .map(|p| 0.25 * full(p[0]) + 0.5 * full(p[1]) + 0.25 * full(p[2]))
        .collect();
    Level {
        w: lw,
        h: lh,
        grey,
        valid: s.valid.clone(),
    }
}

pub(super) fn pyramid(base: Level) -> Vec<Level> {
    let mut v = vec![base];
    while v.last().map(|l| l.w.min(l.h) / 2 >= 24).unwrap_or(false) {
        let next = v.last().expect("level").half();
        v.push(next);
    }
    v
}

/// How far (working pixels) a corner of the frame moves between `cur` and `nb`; infinite
/// when they cannot be aligned.
fn corner_shift(cur: &[Level], nb: &[Level]) -> f64 {
    let Some((a, _)) = align::estimate(cur, nb, None) else {
        return f64::INFINITY;
    };
    let (w, h) = (cur[0].w as f64, cur[0].h as f64);
    [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
        .iter()
        .map(|&(x, y)| {
            let (u, v) = a.apply(x, y);
            ((u - x).powi(2) + (v - y).powi(2)).sqrt()
        })
        .fold(0.0, f64::max)
}

/// The motion mattes of the window around `t` (grown by `grow` full-size pixels), or why
/// there are none.
pub fn detect(
    source: &dyn ShotSource,
    t: i32,
    opts: &PlateOptions,
    grow: u32,
) -> Result<(MotionUse, Option<MotionMattes>)> {
    let mut frames = window_frames(t, opts.window, source.range());
    if frames.len() < MIN_FRAMES {
        return Ok((MotionUse::TooFewFrames, None));
    }
    frames.sort_unstable();
    let (first, last) = (frames[0], *frames.last().expect("a frame"));
    let mut smalls = Vec::with_capacity(frames.len());
    let (mut w, mut h, mut s, mut lw, mut lh) = (0, 0, 1, 0, 0);
    let (mut cur_pyr, mut ends) = (Vec::new(), Vec::new());
    for &k in &frames {
        if (opts.is_cancelled)() {
            return Err(Error::new(crate::pipeline::CANCELLED));
        }
        let f = source.load(k)?;
        if smalls.is_empty() {
            (w, h) = (f.image.width() as usize, f.image.height() as usize);
            s = w.max(h).div_ceil(WORK_SIDE).max(1);
            (lw, lh) = (w.div_ceil(s), h.div_ceil(s));
        } else if (f.image.width() as usize, f.image.height() as usize) != (w, h) {
            return Err(Error::new(format!(
                "frame {k} of the shot is not the size of the others"
            )));
        }
        let small = shrink(&f, s, lw, lh);
        if k == t {
            cur_pyr = pyramid(level(&small, lw, lh));
        }
        if k == first || k == last {
            ends.push(pyramid(level(&small, lw, lh)));
        }
        smalls.push(small);
    }
    // The camera: the window's two ends against the current frame.
    let shift = ends
        .iter()
        .map(|e| corner_shift(&cur_pyr, e))
        .fold(0.0, f64::max)
        * s as f64;
    let ti = frames
        .iter()
        .position(|&k| k == t)
        .expect("t in its window");
    let grow_small = grow.div_ceil(s as u32);
    let n = lw * lh;
    if shift > LOCKED_SHIFT {
        let Some(mattes) = moving_camera::mattes(
            &smalls,
            ti,
            lw,
            lh,
            grow_small,
            MIN_FRAMES,
            opts.mattes_mark_people,
        ) else {
            return Ok((MotionUse::MovingCamera { shift }, None));
        };
        let share = mattes[ti].iter().filter(|&&m| m > 0).count() as f32 / n as f32;
        if share > MAX_SHARE {
            return Ok((MotionUse::TooLarge { share }, None));
        }
        let mattes = MotionMattes {
            frames,
            scale: s,
            lw,
            lh,
            mattes,
        };
        return Ok((MotionUse::Compensated { share, shift }, Some(mattes)));
    }
    // The temporal background and each frame's difference from it.
    let nf = smalls.len();
    let mut bg = vec![[0f32; 3]; n];
    let mut vals = vec![0f32; nf];
    for i in 0..n {
        for c in 0..3 {
            for (v, sm) in vals.iter_mut().zip(&smalls) {
                *v = full(sm.rgb[i][c]);
            }
            bg[i][c] = median(&mut vals);
        }
    }
    let diff = |sm: &Small| -> Vec<f32> {
        sm.rgb
            .iter()
            .zip(&bg)
            .map(|(p, b)| {
                (0..3)
                    .map(|c| (full(p[c]) - b[c]).abs())
                    .fold(0.0, f32::max)
            })
            .collect()
    };
    let mut d_t = diff(&smalls[ti]);
    let noise = median(&mut d_t);
    let threshold = (NOISE_K * noise).max(MIN_STEP);
    let mut mattes = Vec::with_capacity(nf);
    for sm in &smalls {
        let d = diff(sm);
        let raw: Vec<u8> = d.iter().map(|&v| (v > threshold) as u8).collect();
        mattes.push(clean(&raw, lw, lh, grow_small));
    }
    let share = mattes[ti].iter().filter(|&&m| m > 0).count() as f32 / n as f32;
    if share > MAX_SHARE {
        return Ok((MotionUse::TooLarge { share }, None));
    }
    Ok((
        MotionUse::Used { share },
        Some(MotionMattes {
            frames,
            scale: s,
            lw,
            lh,
            mattes,
        }),
    ))
}

/// Specks removed, gaps closed, enclosed holes filled, grown by `grow` pixels.
pub(super) fn clean(raw: &[u8], w: usize, h: usize, grow: u32) -> Vec<u8> {
    let n = w * h;
    let speck = (n / 20000).max(6);
    let mut m = raw.to_vec();
    // Regions (8-connected) smaller than a speck go.
    for (region, _) in regions(&m, w, h, 1, true) {
        if region.len() < speck {
            for i in region {
                m[i] = 0;
            }
        }
    }
    // Closing by 2 pixels: small gaps between the parts of one mover.
    let f: Vec<f32> = m.iter().map(|&v| v as f32).collect();
    let grown = dilate(&f, w, 2);
    let inv: Vec<f32> = grown.iter().map(|v| 1.0 - v).collect();
    let closed: Vec<f32> = dilate(&inv, w, 2).iter().map(|v| 1.0 - v).collect();
    let mut m: Vec<u8> = closed.iter().map(|&v| (v > 0.5) as u8).collect();
    // Holes: regions of the rest that do not touch the border and are small.
    let max_hole = (MAX_HOLE * n as f64) as usize;
    for (region, border) in regions(&m, w, h, 0, false) {
        if !border && region.len() <= max_hole {
            for i in region {
                m[i] = 1;
            }
        }
    }
    let f: Vec<f32> = m.iter().map(|&v| v as f32).collect();
    dilate(&f, w, grow)
        .iter()
        .map(|&v| (v > 0.5) as u8)
        .collect()
}

/// The connected regions of pixels equal to `value` (8-connected when `eight`, else 4), each
/// with whether it touches the frame's border, in scan order.
pub(super) fn regions(
    m: &[u8],
    w: usize,
    h: usize,
    value: u8,
    eight: bool,
) -> Vec<(Vec<usize>, bool)> {
    let mut seen = vec![false; m.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..m.len() {
        if seen[start] || m[start] != value {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut region = Vec::new();
        let mut border = false;
        while let Some(i) = stack.pop() {
            region.push(i);
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            if x == 0 || y == 0 || x == w as i64 - 1 || y == h as i64 - 1 {
                border = true;
            }
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    if (dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0) {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !seen[j] && m[j] == value {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        out.push((region, border));
    }
    out
}

/// The median of `v` (reorders it; the lower middle value for an even count).
pub(super) fn median(v: &mut [f32]) -> f32 {
    let k = (v.len() - 1) / 2;
    *v.select_nth_unstable_by(k, |a, b| a.total_cmp(b)).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::Method;
    use crate::plate::median::tests::{MemShot, background, opts};

    /// A textured box crossing a noisy, fixed background (`pan` px a frame of camera motion);
    /// no matte.
    fn shot(pan: f32) -> MemShot {
        let (w, h) = (64, 48);
        let bounds = Rect::from_size(w, h);
        MemShot(
            (0..12)
                .map(|t| {
                    let bx = 2 + 5 * t;
                    ShotFrame {
                        image: FloatImage::from_fn(bounds, |x, y| {
                            let n = (((x * 7919 + y * 104729 + t * 1299709) % 1000) as f32
                                / 1000.0
                                - 0.5)
                                * 0.01;
                            if x >= bx && x < bx + 10 && (18..30).contains(&y) {
                                let v = if (x + y) % 4 < 2 { 0.95 } else { 0.05 };
                                [v, 1.0 - v, v, 1.0]
                            } else {
                                let b = background(x as f32 + pan * t as f32, y as f32);
                                [b[0] + n, b[1] + n, b[2] - n, 1.0]
                            }
                        }),
                        matte: vec![0.0; (w * h) as usize],
                    }
                })
                .collect(),
        )
    }

    #[test]
    fn a_moving_box_is_matted_on_a_fixed_camera() {
        let s = shot(0.0);
        let (u, m) = detect(&s, 6, &opts(Method::Median, 12), 0).unwrap();
        let m = m.expect("a matte");
        let MotionUse::Used { share } = u else {
            panic!("{u:?}")
        };
        let full = m.full(6, 64, 64 * 48).unwrap();
        // The box of frame 6: x 32..42, y 18..30 (120 pixels), all of it and little else.
        let inside = (18..30)
            .flat_map(|y| (32..42).map(move |x| y * 64 + x))
            .filter(|&i| full[i] > 0.5)
            .count();
        assert_eq!(inside, 120);
        let total = full.iter().filter(|&&v| v > 0.5).count();
        assert!(total <= 140, "{total} pixels matted");
        assert!((share - total as f32 / 3072.0).abs() < 1e-6);
    }

    #[test]
    fn a_moving_box_is_matted_under_a_panning_camera() {
        let s = shot(2.0);
        // The opening against edge slivers rounds the box's corners; 2 px of growth brings
        // them back.
        let (u, m) = detect(&s, 6, &opts(Method::Median, 12), 2).unwrap();
        let MotionUse::Compensated { shift, .. } = u else {
            panic!("{u:?}")
        };
        assert!(shift > 5.0, "shift {shift}");
        let m = m.expect("a matte");
        for t in [3, 6, 9] {
            let full = m.full(t, 64, 64 * 48).unwrap();
            let bx = 2 + 5 * t as usize;
            let inside = (18..30)
                .flat_map(|y| (bx..(bx + 10).min(64)).map(move |x| y * 64 + x))
                .filter(|&i| full[i] > 0.5)
                .count();
            let size = 12 * ((bx + 10).min(64) - bx);
            assert!(
                inside == size,
                "frame {t}: {inside} of {size} box pixels matted"
            );
            let total = full.iter().filter(|&&v| v > 0.5).count();
            // The box grown by 2 px on every side, and no more.
            let grown = 16 * ((bx + 12).min(64) - bx + 2);
            assert!(total <= grown, "frame {t}: {total} pixels matted");
        }
    }

    #[test]
    fn under_a_moving_camera_with_person_mattes_only_movers_a_matte_touches_are_kept() {
        // The box of `shot` is marked by a matte in frames 2 and 3 only; a second box, never
        // marked, crosses lower down the other way.
        let (w, h) = (64usize, 48usize);
        let mut s = shot(2.0);
        for (t, f) in s.0.iter_mut().enumerate() {
            let t = t as i32;
            let bx = 2 + 5 * t;
            if t == 2 || t == 3 {
                for y in 18..30 {
                    for x in bx..bx + 10 {
                        f.matte[y as usize * w + x as usize] = 1.0;
                    }
                }
            }
            let cx = 52 - 4 * t;
            for y in 36..44 {
                for x in cx.max(0)..(cx + 8).min(w as i32) {
                    let v = if (x + y) % 4 < 2 { 0.9 } else { 0.1 };
                    let i = 4 * (y as usize * w + x as usize);
                    f.image.data[i..i + 3].copy_from_slice(&[1.0 - v, v, 1.0 - v]);
                }
            }
        }
        let mut o = opts(Method::Median, 12);
        let count = |m: &MotionMattes, x0: usize, x1: usize, y0: usize, y1: usize| {
            let full = m.full(6, w, w * h).unwrap();
            (y0..y1)
                .flat_map(|y| (x0..x1).map(move |x| y * w + x))
                .filter(|&i| full[i] > 0.5)
                .count()
        };
        // Every mover without person mattes; the marked one alone with them.
        for (people, second) in [(false, true), (true, false)] {
            o.mattes_mark_people = people;
            let (u, m) = detect(&s, 6, &o, 0).unwrap();
            assert!(matches!(u, MotionUse::Compensated { .. }), "{u:?}");
            let m = m.expect("a matte");
            // Frame 6: the first box at x 32..42, y 18..30; the second at x 28..36, y 36..44.
            assert!(
                count(&m, 32, 42, 18, 30) >= 100,
                "people {people}: first box"
            );
            let lower = count(&m, 28, 36, 36, 44);
            assert_eq!(
                lower > 40,
                second,
                "people {people}: {lower} px of the second box"
            );
        }
    }

    #[test]
    fn a_moving_camera_without_shared_background_gets_no_motion_matte() {
        let mut s = shot(2.0);
        for (t, f) in s.0.iter_mut().enumerate() {
            if t != 6 {
                f.matte.iter_mut().for_each(|m| *m = 1.0);
            }
        }
        let (u, m) = detect(&s, 6, &opts(Method::Median, 12), 0).unwrap();
        assert!(m.is_none());
        assert!(matches!(u, MotionUse::MovingCamera { .. }), "{u:?}");
    }

    #[test]
    fn holes_inside_a_region_are_filled_and_specks_dropped() {
        let (w, h) = (200, 150);
        let mut raw = vec![0u8; w * h];
        for y in 5..20 {
            for x in 5..25 {
                // A ring: the inside (7..23 x 7..18) is a hole.
                raw[y * w + x] = (!(7..23).contains(&x) || !(7..18).contains(&y)) as u8;
            }
        }
        raw[27 * w + 35] = 1; // a speck
        let m = clean(&raw, w, h, 0);
        assert_eq!(m[12 * w + 15], 1);
        assert_eq!(m[27 * w + 35], 0);
        assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), 300);
    }
}
