//! Frames past the end of a shot: the last frame pushed forward along its own motion.
//!
//! Frames that do not exist cannot be interpolated (RIFE at a timestep past 1 is no better than
//! holding the last frame). Instead every pixel of the last frame moves on along its velocity
//! (the flow between the last two frames of the same scene), by forward warping (splatting):
//!
//! * **Easing**: after `s` frames a pixel has moved `v * (1 - decay^s) / (1 - decay)`, not
//!   `v * s`: the motion slows down and the total displacement stays bounded
//!   (`v / (1 - decay)`), so a long tail never runs away.
//! * **Occlusion**: when several pixels land on one, the one moving fastest is taken to be in
//!   front (a z-buffer on the velocity magnitude, with a tolerance so that neighbours of one
//!   surface blend); the rest are hidden behind it.
//! * **Holes** (disocclusions, and the edge the camera moves towards) are filled from the
//!   background: each hole takes the slowest velocity found around it (grown in from its
//!   borders) and samples the last frame back along it, which repeats background texture
//!   rather than smearing the foreground.

use crate::image::FloatImage;

use super::warp::FlowField;

/// The default per-frame decay of the motion.
pub const DEFAULT_DECAY: f64 = 0.9;

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

/// Weights below this do not count as covering a pixel.
const COVERED: f32 = 0.05;

/// `last` moved `amount` times its per-frame `velocity` (frame pixels, y up, one per pixel of
/// `last`), by splatting with the occlusion and hole handling of the module docs.
// Pixel indices address several parallel arrays at once here.
#[allow(clippy::needless_range_loop)]
pub fn forward_warp(last: &FloatImage, velocity: &FlowField, amount: f32) -> FloatImage {
    assert_eq!(
        last.bounds, velocity.bounds,
        "velocity must cover the frame"
    );
    let b = last.bounds;
    let (w, h) = (b.width() as usize, b.height() as usize);
    let n = w * h;
    if n == 0 {
        return last.clone();
    }
    let speed: Vec<f32> = velocity
        .data
        .chunks_exact(2)
        .map(|v| (v[0] * v[0] + v[1] * v[1]).sqrt())
        .collect();
    // Where each source pixel lands (continuous, local pixel coordinates) and its 4 targets.
    let target = |i: usize| -> (f32, f32) {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        (
            x + velocity.data[2 * i] * amount,
            y + velocity.data[2 * i + 1] * amount,
        )
    };
    let footprint = |tx: f32, ty: f32, mut visit: Box<dyn FnMut(usize, f32) + '_>| {
        let (x0, y0) = (tx.floor(), ty.floor());
        let (fx, fy) = (tx - x0, ty - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        for (dx, dy, wgt) in [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ] {
            let (x, y) = (x0 + dx, y0 + dy);
            if wgt > 1e-4 && x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                visit(y as usize * w + x as usize, wgt);
            }
        }
    };

    // Pass 1: the fastest speed landing on each pixel (the front surface).
    let mut front = vec![f32::NEG_INFINITY; n];
    for i in 0..n {
        let (tx, ty) = target(i);
        let s = speed[i];
        footprint(
            tx,
            ty,
            Box::new(|j, _| {
                if s > front[j] {
                    front[j] = s;
                }
            }),
        );
    }
    // Pass 2: accumulate the pixels of the front surface.
    let mut acc = vec![0.0f32; 4 * n];
    let mut vel = vec![0.0f32; 2 * n];
    let mut weight = vec![0.0f32; n];
    for i in 0..n {
        let (tx, ty) = target(i);
        let s = speed[i];
        let src = &last.data[4 * i..4 * i + 4];
        let v = (velocity.data[2 * i], velocity.data[2 * i + 1]);
        footprint(
            tx,
            ty,
            Box::new(|j, wgt| {
                let f = front[j];
                if s >= f - (0.5 + 0.1 * f) {
                    for c in 0..4 {
                        acc[4 * j + c] += wgt * src[c];
                    }
                    vel[2 * j] += wgt * v.0;
                    vel[2 * j + 1] += wgt * v.1;
                    weight[j] += wgt;
                }
            }),
        );
    }
    let mut out = FloatImage::new(b);
    let mut covered = vec![false; n];
    for j in 0..n {
        if weight[j] >= COVERED {
            let k = 1.0 / weight[j];
            for c in 0..4 {
                out.data[4 * j + c] = acc[4 * j + c] * k;
            }
            vel[2 * j] *= k;
            vel[2 * j + 1] *= k;
            covered[j] = true;
        }
    }
    if covered.iter().all(|c| *c) {
        return out;
    }

    // Holes: grow the background in from the covered borders. Each round, a hole pixel next
    // to known pixels takes the colour and velocity of its slowest neighbours (the background
    // side of a disocclusion; at the frame edge, the picture's edge).
    let mut known = covered;
    let mut frontier: Vec<usize> = (0..n).filter(|&j| !known[j]).collect();
    if !known.iter().any(|k| *k) {
        return last.clone();
    }
    while !frontier.is_empty() {
        let mut updates: Vec<(usize, [f32; 4], f32, f32)> = Vec::new();
        for &j in &frontier {
            let (x, y) = ((j % w) as i64, (j / w) as i64);
            let mut neighbours: [usize; 8] = [0; 8];
            let mut count = 0;
            let mut slowest = f32::INFINITY;
            for (dx, dy) in [
                (-1, 0),
                (1, 0),
                (0, -1),
                (0, 1),
                (-1, -1),
                (1, 1),
                (-1, 1),
                (1, -1),
            ] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx as usize >= w || ny as usize >= h {
                    continue;
                }
                let k = ny as usize * w + nx as usize;
                if known[k] {
                    neighbours[count] = k;
                    count += 1;
                    slowest = slowest.min(vel[2 * k].hypot(vel[2 * k + 1]));
                }
            }
            if count == 0 {
                continue;
            }
            let (mut rgba, mut vx, mut vy, mut m) = ([0.0f32; 4], 0.0, 0.0, 0.0);
            for &k in &neighbours[..count] {
                if vel[2 * k].hypot(vel[2 * k + 1]) <= slowest + 0.5 + 0.1 * slowest {
                    for c in 0..4 {
                        rgba[c] += out.data[4 * k + c];
                    }
                    vx += vel[2 * k];
                    vy += vel[2 * k + 1];
                    m += 1.0;
                }
            }
            rgba.iter_mut().for_each(|v| *v /= m);
            updates.push((j, rgba, vx / m, vy / m));
        }
        if updates.is_empty() {
            break;
        }
        // Background first: only the slowest candidates of this round are filled, so a hole
        // between a still background and a moving object fills from the background side.
        let speed_of = |u: &(usize, [f32; 4], f32, f32)| u.2.hypot(u.3);
        let slowest = updates.iter().map(speed_of).fold(f32::INFINITY, f32::min);
        updates.retain(|u| speed_of(u) <= slowest + 0.5 + 0.1 * slowest);
        for &(j, rgba, vx, vy) in &updates {
            out.data[4 * j..4 * j + 4].copy_from_slice(&rgba);
            vel[2 * j] = vx;
            vel[2 * j + 1] = vy;
            known[j] = true;
        }
        frontier.retain(|&j| !known[j]);
    }
    out
}

/// The frame `steps` frames past `last`, moving with per-frame `velocity` eased by `decay`.
pub fn extrapolate(last: &FloatImage, velocity: &FlowField, steps: f64, decay: f64) -> FloatImage {
    forward_warp(last, velocity, eased_steps(steps, decay) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    fn texture(x: f32, y: f32) -> [f32; 4] {
        let v = 0.5 + 0.4 * (x * 0.3).sin() * (y * 0.21).cos();
        [v, 1.0 - v, 2.5 * v, 1.0]
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
    fn a_uniform_pan_moves_the_picture_and_fills_the_edge() {
        let b = Rect::from_size(40, 20);
        let last = FloatImage::from_fn(b, |x, y| texture(x as f32, y as f32));
        let v = FlowField::from_fn(b, |_, _| (3.0, 0.0));
        let out = forward_warp(&last, &v, 2.0);
        // Everything moved right by 6 px, HDR values (2.5 * v) included.
        for y in 0..20 {
            for x in 6..40 {
                let want = texture((x - 6) as f32, y as f32);
                let got = out.pixel(x, y);
                for c in 0..4 {
                    assert!(
                        (got[c] - want[c]).abs() < 1e-4,
                        "({x},{y}) {got:?} {want:?}"
                    );
                }
            }
            // The uncovered left edge repeats the picture's edge, never left black.
            let (got, want) = (out.pixel(0, y), last.pixel(0, y));
            for c in 0..4 {
                assert!((got[c] - want[c]).abs() < 0.1, "({y}) {got:?} {want:?}");
            }
        }
    }

    #[test]
    fn the_faster_object_occludes_and_the_background_fills_its_trail() {
        // Background still (0.2), a 6x6 square (value 1, alpha 0.5) at x 10..16 moving right 5 px.
        let b = Rect::from_size(40, 20);
        let inside = |x: i32, y: i32| (10..16).contains(&x) && (7..13).contains(&y);
        let last = FloatImage::from_fn(b, |x, y| {
            if inside(x, y) {
                [1.0, 1.0, 1.0, 0.5]
            } else {
                [0.2, 0.2, 0.2, 1.0]
            }
        });
        let v = FlowField::from_fn(b, |x, y| if inside(x, y) { (5.0, 0.0) } else { (0.0, 0.0) });
        let out = forward_warp(&last, &v, 1.0);
        for y in 7..13 {
            // The square covers the background where it lands, alpha travelling with it.
            for x in 15..21 {
                assert_eq!(out.pixel(x, y), [1.0, 1.0, 1.0, 0.5], "({x},{y})");
            }
            // Its trail is background again.
            for x in 10..15 {
                assert_eq!(out.pixel(x, y), [0.2, 0.2, 0.2, 1.0], "({x},{y})");
            }
        }
    }
}
