//! Frames past the end of a shot: the edge frame carried on along its own motion.
//!
//! Frames that do not exist cannot be interpolated (RIFE at a timestep past 1 is no better than
//! holding the last frame). Instead each pixel of the edge frame moves on along the motion
//! measured at the edge ([`super::motion::EdgeMotion`]): the camera's part and its own part.
//!
//! * **Easing**: after `s` frames a motion with per-frame decay `d` has carried a pixel
//!   `v (1 - d^s) / (1 - d)`, not `v s`, so a long tail never runs away. The decay of each
//!   pixel's motion goes from [`UNTRUSTED_DECAY`] (motion that changed over the last frames,
//!   or differs from its neighbours' as a swinging leg's does, stops within about a frame) to
//!   the settings' decay (steady, rigid motion keeps going), by the pixel's trust `t`, and the
//!   whole is scaled by `t^0.25` ([`TRUST_EXPONENT`]): motion nobody can trust is not carried
//!   at all (the region eases to a still frame instead of tearing; measured on real footage,
//!   this keeps every made frame within 0.25 dB of holding or better, where carrying it whole
//!   lost up to 0.8 dB).
//! * **No tearing**: a surface whose velocity changes across it (a leg swinging from the knee)
//!   is carried at most until neighbouring pixels drift [`MAX_STRETCH`] pixels apart.
//! * **No cracks, no combs**: the *displacement* of each pixel is splatted forward to where it
//!   lands, and the colour is then sampled backward from the edge frame along it (bilinear).
//!   A surface that spreads out (something coming closer) stays whole, since the samples are
//!   read from continuous positions rather than pushed into a grid with gaps.
//! * **Occlusion**: where several pixels land on one, the one with the fastest own motion is
//!   in front (a z-buffer with a tolerance so that neighbours of one surface blend).
//! * **Uncovered pixels** (behind a moving object, and the edge the camera moves towards) take
//!   the displacement of the background around them. Where the edge frame shows background
//!   there, it is used; where a moving
//!   object covered it, the frame before the edge is looked at, where that object was
//!   elsewhere; outside the frame, the picture is mirrored at its edge (texture continues, never
//!   a flat colour). Whatever is still unknown is filled from the background around it.
//! * **Confidence** (0..1 per pixel): 1 where the made frame carries the edge frame's pixels
//!   along trusted motion, lower where the motion was less certain or the pixel came from the
//!   frame before, 0 where it was invented (mirrored or filled).

use crate::image::FloatImage;

use super::motion::EdgeMotion;
use super::warp::for_rows;

/// The default per-frame decay of steady motion.
pub const DEFAULT_DECAY: f64 = 0.95;
/// How far (pixels) a surface may stretch between neighbouring pixels before its motion stops
/// being carried further: beyond it the surface would tear into stripes.
pub const MAX_STRETCH: f32 = 1.5;
/// The per-frame decay of motion that cannot be trusted.
pub const UNTRUSTED_DECAY: f64 = 0.2;
/// A pixel's motion is carried in proportion to its trust to this power (measured on real
/// footage: 0.25 gains 0.1 dB over the first four frames on average against 0.5, and every
/// made frame stays within 0.25 dB of holding or better).
pub const TRUST_EXPONENT: f32 = 0.25;

/// Own speeds (pixels per frame) at or below this count as background.
const BACKGROUND_SPEED: f32 = 0.5;

/// How far (in frames of the original speed) the motion has carried a pixel after `steps`
/// frames, with the per-frame decay `decay` (1 = no easing).
pub fn eased_steps(steps: f64, decay: f64) -> f64 {
    let steps = steps.max(0.0);
    let decay = decay.clamp(0.0, 1.0);
    if decay >= 1.0 - 1e-9 {
        steps
    } else {
        (1.0 - decay.powf(steps)) / (1.0 - decay)
    }
}

/// A made frame and its confidence per pixel.
#[derive(Clone, Debug)]
pub struct Made {
    pub image: FloatImage,
    /// One value per pixel, rows like the image.
    pub confidence: Vec<f32>,
}

/// Weights below this do not count as covering a pixel (rounding noise).
const COVERED: f32 = 1e-6;

/// Bilinear sample at local pixel coordinates, clamped to the picture.
fn sample(img: &FloatImage, w: usize, h: usize, x: f32, y: f32) -> [f32; 4] {
    let x = x.max(0.0).min((w - 1) as f32);
    let y = y.max(0.0).min((h - 1) as f32);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (cx, cy) = (x0 as usize, y0 as usize);
    let right = if cx + 1 < w { 4 } else { 0 };
    let up = if cy + 1 < h { 4 * w } else { 0 };
    let i = 4 * (cy * w + cx);
    let d = &img.data;
    let mut out = [0.0f32; 4];
    for c in 0..4 {
        let bottom = d[i + c] + (d[i + right + c] - d[i + c]) * fx;
        let top = d[i + up + c] + (d[i + up + right + c] - d[i + up + c]) * fx;
        out[c] = bottom + (top - bottom) * fy;
    }
    out
}

/// A coordinate mirrored back into `0..=n-1` at the picture's edges.
fn mirror(v: f32, n: usize) -> f32 {
    let top = (n - 1) as f32;
    if top <= 0.0 {
        return 0.0;
    }
    let period = 2.0 * top;
    let m = v.rem_euclid(period);
    if m > top { period - m } else { m }
}

fn inside(x: f32, y: f32, w: usize, h: usize) -> bool {
    x >= 0.0 && y >= 0.0 && x <= (w - 1) as f32 && y <= (h - 1) as f32
}

/// The frame `steps` frames past `edge`, moving with `motion`, steady motion eased by `decay`.
// Pixel indices address several parallel arrays at once here.
#[allow(clippy::needless_range_loop)]
pub fn extrapolate(edge: &FloatImage, motion: &EdgeMotion, steps: f64, decay: f64) -> Made {
    let (w, h) = (motion.width, motion.height);
    let n = w * h;
    assert_eq!(edge.data.len(), 4 * n, "the motion must cover the frame");
    if n == 0 {
        return Made {
            image: edge.clone(),
            confidence: Vec::new(),
        };
    }
    let camera_moves = motion.camera.a.iter().any(|v| *v != 0.0);
    // Each source pixel's displacement (its whole motion, eased by how far it is trusted),
    // its own speed beyond the camera's (the depth order) and its confidence.
    let mut shift = vec![0.0f32; 2 * n];
    let mut speed = vec![0.0f32; n];
    let mut source_confidence = vec![0.0f32; n];
    for i in 0..n {
        let (x, y) = ((i % w) as f64, (i / w) as f64);
        let (cx, cy) = if camera_moves {
            motion.camera.at(x, y)
        } else {
            (0.0, 0.0)
        };
        let (rx, ry) = (motion.residual[2 * i], motion.residual[2 * i + 1]);
        let (vx, vy) = (cx as f32 + rx, cy as f32 + ry);
        let trust = motion.trust[i].clamp(0.0, 1.0);
        let carried = (eased_steps(
            steps,
            UNTRUSTED_DECAY + (decay - UNTRUSTED_DECAY) * trust as f64,
        ) as f32
            * trust.powf(TRUST_EXPONENT))
        .min(MAX_STRETCH / motion.stretch[i].max(1e-6));
        shift[2 * i] = vx * carried;
        shift[2 * i + 1] = vy * carried;
        speed[i] = rx.hypot(ry);
        source_confidence[i] = if vx == 0.0 && vy == 0.0 { 1.0 } else { trust };
    }
    // Each source pixel lands on the pixels within 1.5 px of where it goes (weights falling
    // smoothly to 0 there), so a surface that spreads out by up to about twice stays closed.
    let footprint = |i: usize, out: &mut [(usize, f32); 16]| -> usize {
        let tx = (i % w) as f32 + shift[2 * i];
        let ty = (i / w) as f32 + shift[2 * i + 1];
        landing(tx, ty, w, h, out)
    };
    let in_front = |s: f32, front: f32| s >= front - (0.5 + 0.1 * front);

    // Pass 1: the fastest own motion landing on each pixel (the front surface).
    let mut front = vec![f32::NEG_INFINITY; n];
    let mut lands = [(0usize, 0.0f32); 16];
    for i in 0..n {
        let s = speed[i];
        let count = footprint(i, &mut lands);
        for &(j, _) in &lands[..count] {
            if s > front[j] {
                front[j] = s;
            }
        }
    }
    // Pass 2: the front surface's displacement, speed and confidence where it lands.
    let mut acc = vec![0.0f32; 5 * n];
    for i in 0..n {
        let (s, c) = (speed[i], source_confidence[i]);
        let (dx, dy) = (shift[2 * i], shift[2 * i + 1]);
        let count = footprint(i, &mut lands);
        for &(j, wgt) in &lands[..count] {
            if in_front(s, front[j]) {
                let a = &mut acc[5 * j..5 * j + 5];
                a[0] += wgt * dx;
                a[1] += wgt * dy;
                a[2] += wgt * s;
                a[3] += wgt * c;
                a[4] += wgt;
            }
        }
    }
    // The displacement of every made pixel: where something landed, its own; elsewhere, that of
    // the background around it.
    let mut displacement = vec![0.0f32; 2 * n];
    let mut displacement_weight = vec![0.0f32; n];
    let mut landed_speed = vec![0.0f32; n];
    let mut confidence = vec![0.0f32; n];
    for j in 0..n {
        let a = &acc[5 * j..5 * j + 5];
        if a[4] >= COVERED {
            let k = 1.0 / a[4];
            displacement[2 * j] = a[0] * k;
            displacement[2 * j + 1] = a[1] * k;
            landed_speed[j] = a[2] * k;
            confidence[j] = a[3] * k;
            displacement_weight[j] = if landed_speed[j] <= BACKGROUND_SPEED {
                1.0
            } else {
                1e-4
            };
        }
    }
    smooth_surfaces(&mut displacement, &landed_speed, &displacement_weight, w, h);
    // A pixel is really reached only if the edge pixel it reads from moves here: a background
    // pixel bleeding a little into the place an object left would read the object.
    for j in 0..n {
        if displacement_weight[j] <= 0.0 {
            continue;
        }
        let (dx, dy) = (displacement[2 * j], displacement[2 * j + 1]);
        let (sx, sy) = ((j % w) as f32 - dx, (j / w) as f32 - dy);
        if !inside(sx, sy, w, h) {
            displacement_weight[j] = 0.0;
            confidence[j] = 0.0;
            continue;
        }
        let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
        let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
        let mut nearest = f32::INFINITY;
        for (x, y, wgt) in [
            (x0, y0, (1.0 - fx) * (1.0 - fy)),
            (x0 + 1, y0, fx * (1.0 - fy)),
            (x0, y0 + 1, (1.0 - fx) * fy),
            (x0 + 1, y0 + 1, fx * fy),
        ] {
            if wgt >= 0.25 && x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                let i = y as usize * w + x as usize;
                nearest = nearest.min((shift[2 * i] - dx).hypot(shift[2 * i + 1] - dy));
            }
        }
        if nearest > 1.0 + 0.3 * dx.hypot(dy) {
            displacement_weight[j] = 0.0;
            confidence[j] = 0.0;
        }
    }
    let landed: Vec<bool> = displacement_weight.iter().map(|w| *w > 0.0).collect();
    pull_push(&mut displacement, 2, &displacement_weight, w, h);

    // Colours: read back along the displacement. Each pixel gives its colour, the weight it
    // has in filling what is still unknown, and its confidence (rows on every core).
    let earlier = motion.earlier.as_ref();
    let colour_of = |j: usize| -> ([f32; 4], f32, f32) {
        let (qx, qy) = ((j % w) as f32, (j / w) as f32);
        let (sx, sy) = (qx - displacement[2 * j], qy - displacement[2 * j + 1]);
        if landed[j] {
            let weight = if landed_speed[j] <= BACKGROUND_SPEED {
                1.0
            } else {
                1e-4
            };
            return (sample(edge, w, h, sx, sy), weight, confidence[j]);
        }
        if !inside(sx, sy, w, h) {
            // The edge the camera moves towards: the picture continues mirrored.
            return (sample(edge, w, h, mirror(sx, w), mirror(sy, h)), 1.0, 0.0);
        }
        let (ix, iy) = (sx.round() as usize, sy.round() as usize);
        if speed[iy.min(h - 1) * w + ix.min(w - 1)] <= BACKGROUND_SPEED {
            return (sample(edge, w, h, sx, sy), 1.0, 1.0);
        }
        // A moving object covered it in the edge frame: the frame before, if it showed
        // background there.
        if let Some(e) = earlier
            && let Some(earlier_speed) = &e.residual_speed
        {
            let (vx, vy) = if camera_moves {
                motion.camera.at(sx as f64, sy as f64)
            } else {
                (0.0, 0.0)
            };
            let (ex, ey) = (sx - (vx * e.dt) as f32, sy - (vy * e.dt) as f32);
            if inside(ex, ey, w, h) {
                let (ix, iy) = (ex.round() as usize, ey.round() as usize);
                if earlier_speed[iy.min(h - 1) * w + ix.min(w - 1)] <= BACKGROUND_SPEED {
                    return (sample(&e.frame, w, h, ex, ey), 1.0, 0.5);
                }
            }
        }
        ([0.0; 4], 0.0, 0.0)
    };
    let mut read = vec![0.0f32; 6 * n];
    for_rows(&mut read, 6 * w, |y, row| {
        for (x, px) in row.chunks_exact_mut(6).enumerate() {
            let (rgba, weight, c) = colour_of(y * w + x);
            px[..4].copy_from_slice(&rgba);
            px[4] = weight;
            px[5] = c;
        }
    });
    let mut out = FloatImage::new(edge.bounds);
    let mut colour_weight = vec![0.0f32; n];
    let mut confidence = vec![0.0f32; n];
    for (j, px) in read.chunks_exact(6).enumerate() {
        out.data[4 * j..4 * j + 4].copy_from_slice(&px[..4]);
        colour_weight[j] = px[4];
        confidence[j] = px[5];
    }
    pull_push(&mut out.data, 4, &colour_weight, w, h);
    Made {
        image: out,
        confidence,
    }
}

/// How far a landing pixel reaches (pixels).
const REACH: f32 = 1.5;

/// The pixels within [`REACH`] of `(tx, ty)` and their weights `(1 - d^2 / REACH^2)^2`, into
/// `out`; returns how many.
fn landing(tx: f32, ty: f32, w: usize, h: usize, out: &mut [(usize, f32); 16]) -> usize {
    if !(tx.is_finite() && ty.is_finite()) {
        return 0;
    }
    let (x0, x1) = (
        (tx - REACH).ceil().max(0.0),
        (tx + REACH).floor().min((w - 1) as f32),
    );
    let (y0, y1) = (
        (ty - REACH).ceil().max(0.0),
        (ty + REACH).floor().min((h - 1) as f32),
    );
    if x0 > x1 || y0 > y1 {
        return 0;
    }
    let mut n = 0;
    for y in y0 as usize..=y1 as usize {
        let dy = y as f32 - ty;
        for x in x0 as usize..=x1 as usize {
            let dx = x as f32 - tx;
            let k = 1.0 - (dx * dx + dy * dy) / (REACH * REACH);
            if k > 0.03 {
                out[n] = (y * w + x, k * k);
                n += 1;
            }
        }
    }
    n
}

/// Averages the displacement of each landed pixel over the landed pixels within 2 px that
/// belong to the same surface (a similar own speed). Where a fast, shearing surface lands
/// (a swinging leg), neighbouring pixels may be reached by different parts of it; without this
/// their displacements, and so the picture read back along them, alternate in stripes.
fn smooth_surfaces(displacement: &mut [f32], speed: &[f32], weight: &[f32], w: usize, h: usize) {
    const RADIUS: usize = 2;
    let source = displacement.to_vec();
    for_rows(displacement, 2 * w, |y, row| {
        for x in 0..w {
            let j = y * w + x;
            if weight[j] <= 0.0 || speed[j] <= BACKGROUND_SPEED {
                continue;
            }
            let s = speed[j];
            let (mut sx, mut sy, mut n) = (0.0f32, 0.0f32, 0.0f32);
            for yy in y.saturating_sub(RADIUS)..=(y + RADIUS).min(h - 1) {
                for xx in x.saturating_sub(RADIUS)..=(x + RADIUS).min(w - 1) {
                    let k = yy * w + xx;
                    if weight[k] > 0.0 && (speed[k] - s).abs() <= 0.5 + 0.3 * s {
                        sx += source[2 * k];
                        sy += source[2 * k + 1];
                        n += 1.0;
                    }
                }
            }
            row[2 * x] = sx / n;
            row[2 * x + 1] = sy / n;
        }
    });
}

/// Fills the pixels whose `weight` is 0 from those around them, in proportion to their weights
/// (so pixels of weight 1 drown those of 1e-4): pull-push over a pyramid, where each level sums
/// its children and a pixel short of weight takes the blend of the coarser level around it.
/// Pixels with a weight keep their values. `values` has `channels` values per pixel.
fn pull_push(values: &mut [f32], channels: usize, weight: &[f32], w: usize, h: usize) {
    if weight.iter().all(|v| *v > 0.0) || weight.iter().all(|v| *v <= 0.0) {
        return;
    }
    let stride = channels + 1;
    // Level 0: values premultiplied by their weight, then the weight.
    let mut base = vec![0.0f32; stride * w * h];
    for j in 0..w * h {
        for c in 0..channels {
            base[stride * j + c] = weight[j] * values[channels * j + c];
        }
        base[stride * j + channels] = weight[j];
    }
    let mut levels: Vec<(usize, usize, Vec<f32>)> = vec![(w, h, base)];
    loop {
        let (lw, lh, data) = levels.last().expect("level 0");
        if *lw <= 1 && *lh <= 1 {
            break;
        }
        let (cw, ch) = (lw.div_ceil(2), lh.div_ceil(2));
        let mut coarse = vec![0.0f32; stride * cw * ch];
        for y in 0..*lh {
            for x in 0..*lw {
                let (i, k) = (y * lw + x, (y / 2) * cw + x / 2);
                for c in 0..stride {
                    coarse[stride * k + c] += data[stride * i + c];
                }
            }
        }
        levels.push((cw, ch, coarse));
    }
    // Push down, coarsest first: a pixel with less than unit weight blends in the coarser level
    // (bilinear between coarse pixel centres) for the rest.
    for l in (0..levels.len() - 1).rev() {
        let (upper, lower) = levels.split_at_mut(l + 1);
        let (lw, lh, fine) = &mut upper[l];
        let (cw, ch, coarse) = &lower[0];
        for y in 0..*lh {
            for x in 0..*lw {
                let i = y * *lw + x;
                let wt = fine[stride * i + channels];
                if wt >= 1.0 {
                    continue;
                }
                let fx = ((x as f32 - 0.5) / 2.0).max(0.0).min((*cw - 1) as f32);
                let fy = ((y as f32 - 0.5) / 2.0).max(0.0).min((*ch - 1) as f32);
                let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
                let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
                let mut blended = vec![0.0f32; stride];
                for (cx, cy, k) in [
                    (x0, y0, (1.0 - ax) * (1.0 - ay)),
                    (x1, y0, ax * (1.0 - ay)),
                    (x0, y1, (1.0 - ax) * ay),
                    (x1, y1, ax * ay),
                ] {
                    let ci = cy * *cw + cx;
                    let cwt = coarse[stride * ci + channels];
                    if cwt > 0.0 && k > 0.0 {
                        for c in 0..channels {
                            blended[c] += k * coarse[stride * ci + c] / cwt;
                        }
                        blended[channels] += k;
                    }
                }
                if blended[channels] <= 0.0 {
                    continue;
                }
                let missing = 1.0 - wt;
                for c in 0..channels {
                    fine[stride * i + c] += missing * blended[c] / blended[channels];
                }
                fine[stride * i + channels] = 1.0;
            }
        }
    }
    let (_, _, filled) = &levels[0];
    for j in 0..w * h {
        let wt = filled[stride * j + channels];
        if weight[j] <= 0.0 && wt > 0.0 {
            for c in 0..channels {
                values[channels * j + c] = filled[stride * j + c] / wt;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extend::motion::{Affine, Earlier};
    use crate::geometry::Rect;

    fn texture(x: f32, y: f32) -> [f32; 4] {
        let v = 0.5 + 0.4 * (x * 0.3).sin() * (y * 0.21).cos();
        [v, 1.0 - v, 2.5 * v, 1.0]
    }

    /// A still camera, every pixel trusted, and per-pixel own motion `own(x, y)`.
    fn motion(w: usize, h: usize, own: impl Fn(usize, usize) -> (f32, f32)) -> EdgeMotion {
        let mut residual = vec![0.0f32; 2 * w * h];
        for y in 0..h {
            for x in 0..w {
                let (vx, vy) = own(x, y);
                residual[2 * (y * w + x)] = vx;
                residual[2 * (y * w + x) + 1] = vy;
            }
        }
        EdgeMotion {
            width: w,
            height: h,
            camera: Affine::zero(w, h),
            residual,
            trust: vec![1.0; w * h],
            stretch: vec![0.0; w * h],
            earlier: None,
        }
    }

    fn assert_close(got: [f32; 4], want: [f32; 4], tol: f32, at: &str) {
        for c in 0..4 {
            assert!((got[c] - want[c]).abs() <= tol, "{at}: {got:?} {want:?}");
        }
    }

    #[test]
    fn easing_slows_down_and_stays_bounded() {
        assert_eq!(eased_steps(1.0, 0.9), 1.0);
        assert!((eased_steps(2.0, 0.9) - 1.9).abs() < 1e-12);
        assert!(eased_steps(1000.0, 0.9) <= 10.0 + 1e-9);
        assert_eq!(eased_steps(3.0, 1.0), 3.0);
        assert_eq!(eased_steps(-1.0, 0.9), 0.0);
    }

    #[test]
    fn mirroring_folds_coordinates_back_into_the_picture() {
        assert_eq!(mirror(-3.0, 10), 3.0);
        assert_eq!(mirror(12.0, 10), 6.0);
        assert_eq!(mirror(4.5, 10), 4.5);
        assert_eq!(mirror(-20.0, 10), 2.0);
        assert_eq!(mirror(7.0, 1), 0.0);
    }

    #[test]
    fn a_camera_pan_moves_the_picture_and_mirrors_the_revealed_edge() {
        let (w, h) = (40usize, 20usize);
        let last = FloatImage::from_fn(Rect::from_size(w as u32, h as u32), |x, y| {
            texture(x as f32, y as f32)
        });
        let mut m = motion(w, h, |_, _| (0.0, 0.0));
        m.camera.a = [3.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let made = extrapolate(&last, &m, 1.0, DEFAULT_DECAY);
        for y in 0..h as i32 {
            // Everything moved right by 3 px, HDR values (2.5 * v) included.
            for x in 3..w as i32 {
                let want = texture((x - 3) as f32, y as f32);
                assert_close(made.image.pixel(x, y), want, 1e-4, &format!("({x},{y})"));
                assert!(made.confidence[y as usize * w + x as usize] > 0.999);
            }
            // The revealed left edge continues the picture mirrored, and is marked invented.
            for x in 0..3 {
                let want = texture((3 - x) as f32, y as f32);
                assert_close(made.image.pixel(x, y), want, 1e-4, &format!("({x},{y})"));
                assert_eq!(made.confidence[y as usize * w + x as usize], 0.0);
            }
        }
    }

    #[test]
    fn the_faster_object_occludes_and_the_background_fills_its_trail() {
        // Background still (0.2), a 6x6 square (value 1, alpha 0.5) at x 10..16 moving right 5 px.
        let (w, h) = (40usize, 20usize);
        let inside = |x: i32, y: i32| (10..16).contains(&x) && (7..13).contains(&y);
        let last = FloatImage::from_fn(Rect::from_size(w as u32, h as u32), |x, y| {
            if inside(x, y) {
                [1.0, 1.0, 1.0, 0.5]
            } else {
                [0.2, 0.2, 0.2, 1.0]
            }
        });
        let m = motion(w, h, |x, y| {
            if inside(x as i32, y as i32) {
                (5.0, 0.0)
            } else {
                (0.0, 0.0)
            }
        });
        let made = extrapolate(&last, &m, 1.0, DEFAULT_DECAY);
        for y in 7..13 {
            // The square covers the background where it lands, alpha travelling with it.
            for x in 15..21 {
                assert_eq!(made.image.pixel(x, y), [1.0, 1.0, 1.0, 0.5], "({x},{y})");
            }
            // Its trail is background again, filled from around it (invented) where the
            // square covered the background in the only frame there is.
            for x in 10..15 {
                assert_close(
                    made.image.pixel(x, y),
                    [0.2, 0.2, 0.2, 1.0],
                    0.03,
                    &format!("({x},{y})"),
                );
            }
            for x in 10..13 {
                assert_eq!(
                    made.confidence[y as usize * w + x as usize],
                    0.0,
                    "({x},{y})"
                );
            }
        }
    }

    #[test]
    fn the_frame_before_shows_the_background_a_moving_object_uncovers() {
        let (w, h) = (40usize, 20usize);
        let b = Rect::from_size(w as u32, h as u32);
        let square_at =
            |x0: i32| move |x: i32, y: i32| (x0..x0 + 6).contains(&x) && (7..13).contains(&y);
        let (now, before) = (square_at(10), square_at(5));
        let picture = |is_square: &dyn Fn(i32, i32) -> bool| {
            FloatImage::from_fn(b, |x, y| {
                if is_square(x, y) {
                    [1.0, 1.0, 1.0, 1.0]
                } else {
                    texture(x as f32, y as f32)
                }
            })
        };
        let last = picture(&now);
        let mut m = motion(w, h, |x, y| {
            if now(x as i32, y as i32) {
                (5.0, 0.0)
            } else {
                (0.0, 0.0)
            }
        });
        let earlier_speed = b
            .pixels()
            .map(|(x, y)| if before(x, y) { 5.0 } else { 0.0 })
            .collect();
        m.earlier = Some(Earlier {
            frame: picture(&before),
            dt: 1.0,
            residual_speed: Some(earlier_speed),
        });
        let made = extrapolate(&last, &m, 1.0, DEFAULT_DECAY);
        for y in 7..13 {
            // x 11..15 was behind the square now but open a frame before: the real background.
            for x in 11..15 {
                assert_close(
                    made.image.pixel(x, y),
                    texture(x as f32, y as f32),
                    1e-3,
                    &format!("({x},{y})"),
                );
                assert_eq!(made.confidence[y as usize * w + x as usize], 0.5);
            }
        }
    }

    #[test]
    fn a_surface_that_spreads_out_stays_whole() {
        // A disc coming closer: its pixels move away from its centre, twice as far apart.
        let (w, h) = (64usize, 64usize);
        let (cx, cy) = (32.0f32, 32.0f32);
        let disc = |x: f32, y: f32| (x - cx).hypot(y - cy) <= 10.0;
        let last = FloatImage::from_fn(Rect::from_size(w as u32, h as u32), |x, y| {
            if disc(x as f32, y as f32) {
                [0.9, 0.6, 0.3, 1.0]
            } else {
                [0.1, 0.1, 0.1, 1.0]
            }
        });
        let m = motion(w, h, |x, y| {
            if disc(x as f32, y as f32) {
                (x as f32 - cx, y as f32 - cy)
            } else {
                (0.0, 0.0)
            }
        });
        let made = extrapolate(&last, &m, 1.0, DEFAULT_DECAY);
        for y in 0..h as i32 {
            for x in 0..w as i32 {
                // (Its centre hardly moves, and is not tested: still pixels are background.)
                let r = (x as f32 - cx).hypot(y as f32 - cy);
                if (3.0..=17.0).contains(&r) {
                    assert_close(
                        made.image.pixel(x, y),
                        [0.9, 0.6, 0.3, 1.0],
                        1e-4,
                        &format!("({x},{y})"),
                    );
                }
            }
        }
    }
}
