//! The motion at an edge of a shot, measured over the last frames of the same scene, and how
//! far each part of it can be trusted.
//!
//! * The **camera**: an affine field fitted robustly (iteratively reweighted least squares,
//!   Cauchy weights) to the per-frame velocity of the edge frame. Whatever moves with it is
//!   background; the rest of each pixel's velocity is its own (**residual**) motion.
//! * **Trust**: with a third frame, the velocity of each pixel is compared with the velocity
//!   the same point had one frame earlier. A point whose velocity held steady keeps moving
//!   when extrapolated; one that accelerated, turned or was occluded eases to a stop soon
//!   ([`super::extrapolate`]). Trust also falls where a pixel's velocity differs from its
//!   neighbours' (non-rigid motion), averaged over a small window so a region eases together.
//! * **Dead zones**: residual speeds under a quarter pixel per frame and a camera moving less
//!   than a tenth of a pixel per frame are flow noise on a still picture, and are set to zero,
//!   so a locked-off background comes through bit for bit instead of being resampled.
//!
//! Duplicated frames (webcams and screen recordings repeat frames) are skipped by the caller,
//! which passes the frame distance `dt` of each pair; velocities here are per frame.

use crate::image::FloatImage;

use super::interpolate::sample_flow;
use super::warp::FlowField;

/// A velocity field `v(x, y) = (a[0] + a[1] u + a[2] w, a[3] + a[4] u + a[5] w)` over local
/// pixel coordinates, with `u`, `w` the coordinates centred on the frame and divided by its
/// larger side (so the fit is well conditioned at any size).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub a: [f64; 6],
    pub centre: (f64, f64),
    pub scale: f64,
}

impl Affine {
    pub fn zero(width: usize, height: usize) -> Affine {
        Affine {
            a: [0.0; 6],
            centre: (width as f64 / 2.0, height as f64 / 2.0),
            scale: width.max(height).max(1) as f64,
        }
    }

    /// The velocity at local pixel `(x, y)`.
    pub fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let (u, w) = (
            (x - self.centre.0) / self.scale,
            (y - self.centre.1) / self.scale,
        );
        let a = &self.a;
        (a[0] + a[1] * u + a[2] * w, a[3] + a[4] * u + a[5] * w)
    }

    /// The largest velocity over the frame's corners and centre.
    fn largest(&self, width: usize, height: usize) -> f64 {
        let (w, h) = (width as f64, height as f64);
        [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h), (w / 2.0, h / 2.0)]
            .iter()
            .map(|&(x, y)| {
                let (vx, vy) = self.at(x, y);
                vx.hypot(vy)
            })
            .fold(0.0, f64::max)
    }
}

/// Solves the 3x3 system `m x = r` (Cramer's rule); None when it is singular.
fn solve3(m: [[f64; 3]; 3], r: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-12 {
        return None;
    }
    let mut x = [0.0; 3];
    for (c, xc) in x.iter_mut().enumerate() {
        let mut mc = m;
        for row in 0..3 {
            mc[row][c] = r[row];
        }
        *xc = det(mc) / d;
    }
    Some(x)
}

/// Fits an [`Affine`] camera field to `velocity` robustly: pixels moving on their own (people,
/// cars) get little weight after the first rounds.
pub fn fit_camera(velocity: &FlowField) -> Affine {
    let (w, h) = (
        velocity.bounds.width() as usize,
        velocity.bounds.height() as usize,
    );
    let mut model = Affine::zero(w, h);
    if w == 0 || h == 0 {
        return model;
    }
    // About 20000 samples on a regular grid.
    let step = (((w * h) as f64 / 20000.0).sqrt().floor() as usize).max(1);
    let mut samples = Vec::new();
    for y in (step / 2..h).step_by(step) {
        for x in (step / 2..w).step_by(step) {
            let i = y * w + x;
            let (vx, vy) = (velocity.data[2 * i] as f64, velocity.data[2 * i + 1] as f64);
            if vx.is_finite() && vy.is_finite() {
                samples.push((x as f64, y as f64, vx, vy));
            }
        }
    }
    if samples.len() < 3 {
        return model;
    }
    let mut weights = vec![1.0f64; samples.len()];
    for round in 0..6 {
        let (mut m, mut rx, mut ry) = ([[0.0f64; 3]; 3], [0.0f64; 3], [0.0f64; 3]);
        for (s, wt) in samples.iter().zip(&weights) {
            let basis = [
                1.0,
                (s.0 - model.centre.0) / model.scale,
                (s.1 - model.centre.1) / model.scale,
            ];
            for r in 0..3 {
                for c in 0..3 {
                    m[r][c] += wt * basis[r] * basis[c];
                }
                rx[r] += wt * basis[r] * s.2;
                ry[r] += wt * basis[r] * s.3;
            }
        }
        let (Some(ax), Some(ay)) = (solve3(m, rx), solve3(m, ry)) else {
            break;
        };
        model.a = [ax[0], ax[1], ax[2], ay[0], ay[1], ay[2]];
        // Cauchy weights, their scale shrinking to one pixel per frame.
        let sigma = (4.0 / (round + 1) as f64).max(1.0);
        for (s, wt) in samples.iter().zip(weights.iter_mut()) {
            let (px, py) = model.at(s.0, s.1);
            let r = (s.2 - px).hypot(s.3 - py) / sigma;
            *wt = 1.0 / (1.0 + r * r);
        }
    }
    model
}

/// Residual speeds (pixels per frame) below this are noise (measured on a talking head in a
/// car: the flow model gives half a pixel a frame along a window pillar at the frame's edge
/// where nothing moves, and carrying it made every frame worse than holding).
const RESIDUAL_DEAD: f32 = 0.5;
/// ... and above this are taken whole; in between they ramp in.
const RESIDUAL_FULL: f32 = 1.0;
/// A pixel's velocity may differ from its point's velocity a frame earlier by this much
/// (pixels per frame) plus [`STEADY_SHARE`] of its speed and still count as steady.
const STEADY_SLACK: f32 = 1.5;
/// The share of a pixel's speed its velocity may change by between frames and stay steady.
const STEADY_SHARE: f32 = 0.25;
/// A camera moving less than this (pixels per frame, anywhere in the frame) is still.
const CAMERA_DEAD: f64 = 0.1;

/// The motion at an edge of a shot, in the edge frame's pixels.
#[derive(Clone, Debug)]
pub struct EdgeMotion {
    pub width: usize,
    pub height: usize,
    /// The camera's velocity field (zero when the camera is still).
    pub camera: Affine,
    /// Each pixel's own velocity beyond the camera's, dead zone applied, `(dx, dy)` interleaved.
    pub residual: Vec<f32>,
    /// How far each pixel's own motion can be trusted (0..1).
    pub trust: Vec<f32>,
    /// How fast the velocity changes across each pixel's surface (pixels per frame, per pixel
    /// of distance): a surface moving `s` frames on stretches by `s` times this, and tears
    /// once that passes a pixel or so.
    pub stretch: Vec<f32>,
    /// The frame before the edge frame (towards the inside of the shot), its distance in
    /// frames, and its own residual motion (`(dx, dy)` per pixel, None without a third frame):
    /// the background that a moving object uncovers is looked for there.
    pub earlier: Option<Earlier>,
}

/// The frame before the edge frame, for uncovered background.
#[derive(Clone, Debug)]
pub struct Earlier {
    pub frame: FloatImage,
    /// Frames between it and the edge frame.
    pub dt: f64,
    /// Its pixels' own motion beyond the camera's (speed per frame), when measured.
    pub residual_speed: Option<Vec<f32>>,
}

/// Scales a field in place.
fn scale(field: &mut FlowField, k: f32) {
    field.data.iter_mut().for_each(|v| *v *= k);
}

impl EdgeMotion {
    /// The motion of the edge frame from `v1` (the velocity of the edge frame's pixels, measured
    /// against the frame `dt1` frames before it) and, when there is a third frame, `v2` (the
    /// velocity of that earlier frame's pixels against the one `dt2` before it).
    pub fn measure(
        mut v1: FlowField,
        dt1: f64,
        earlier_frame: FloatImage,
        second: Option<(FlowField, f64)>,
    ) -> EdgeMotion {
        let (w, h) = (v1.bounds.width() as usize, v1.bounds.height() as usize);
        scale(&mut v1, 1.0 / dt1 as f32);
        let mut camera = fit_camera(&v1);
        let still_camera = camera.largest(w, h) < CAMERA_DEAD;
        let residual_of = |v: &FlowField, cam: &Affine, still: bool| -> Vec<f32> {
            let mut r = vec![0.0f32; 2 * w * h];
            for i in 0..w * h {
                let (cx, cy) = if still {
                    (0.0, 0.0)
                } else {
                    cam.at((i % w) as f64, (i / w) as f64)
                };
                let (rx, ry) = (v.data[2 * i] - cx as f32, v.data[2 * i + 1] - cy as f32);
                let speed = rx.hypot(ry);
                let k = ((speed - RESIDUAL_DEAD) / (RESIDUAL_FULL - RESIDUAL_DEAD)).clamp(0.0, 1.0);
                r[2 * i] = rx * k;
                r[2 * i + 1] = ry * k;
            }
            r
        };
        let residual = residual_of(&v1, &camera, still_camera);
        let (trust, earlier_residual) = match second {
            // Two frames say nothing of how steady the motion is: only its rigidity counts.
            None => (vec![1.0f32; w * h], None),
            Some((mut v2, dt2)) => {
                scale(&mut v2, 1.0 / dt2 as f32);
                let camera2 = fit_camera(&v2);
                let still2 = camera2.largest(w, h) < CAMERA_DEAD;
                // Each pixel's velocity against the velocity its point had in the earlier frame.
                let mut trust = vec![0.0f32; w * h];
                for (i, t) in trust.iter_mut().enumerate() {
                    let (x, y) = ((i % w) as f32, (i / w) as f32);
                    let (vx, vy) = (v1.data[2 * i], v1.data[2 * i + 1]);
                    let (x0, y0) = (
                        x - vx * dt1 as f32 + v2.bounds.x1 as f32,
                        y - vy * dt1 as f32 + v2.bounds.y1 as f32,
                    );
                    let (ux, uy) = sample_flow(&v2, x0, y0);
                    let change = (vx - ux).hypot(vy - uy);
                    let tolerance = STEADY_SLACK + STEADY_SHARE * vx.hypot(vy);
                    let r = change / tolerance;
                    *t = 1.0 / (1.0 + r * r);
                }
                let r2 = residual_of(&v2, &camera2, still2);
                let speed = r2.chunks_exact(2).map(|v| v[0].hypot(v[1])).collect();
                (trust, Some(speed))
            }
        };
        let mut trust = trust;
        let smooth = rigidity(&v1, w, h);
        let stretch = stretch(&v1, w, h);
        for (t, r) in trust.iter_mut().zip(&smooth) {
            *t *= r;
        }
        if still_camera {
            camera = Affine::zero(w, h);
        }
        EdgeMotion {
            width: w,
            height: h,
            camera,
            residual,
            trust,
            stretch,
            earlier: Some(Earlier {
                frame: earlier_frame,
                dt: dt1,
                residual_speed: earlier_residual,
            }),
        }
    }
}

/// Neighbours compared with a pixel lie this many pixels away.
const NEIGHBOUR_GAP: usize = 2;

/// The largest velocity change from pixel `(x, y)` to its four neighbours [`NEIGHBOUR_GAP`]
/// pixels away (clamped at the frame's edges), among the changes `keep(change, speed)` accepts.
fn largest_change(
    v: &FlowField,
    w: usize,
    h: usize,
    (x, y): (usize, usize),
    keep: impl Fn(f32, f32) -> bool,
) -> f32 {
    let at = |x: usize, y: usize| {
        let i = y * w + x;
        (v.data[2 * i], v.data[2 * i + 1])
    };
    let (vx, vy) = at(x, y);
    let speed = vx.hypot(vy);
    [
        (x.saturating_sub(NEIGHBOUR_GAP), y),
        ((x + NEIGHBOUR_GAP).min(w - 1), y),
        (x, y.saturating_sub(NEIGHBOUR_GAP)),
        (x, (y + NEIGHBOUR_GAP).min(h - 1)),
    ]
    .into_iter()
    .map(|(nx, ny)| {
        let (ux, uy) = at(nx, ny);
        (vx - ux).hypot(vy - uy)
    })
    .filter(|change| keep(*change, speed))
    .fold(0.0, f32::max)
}

/// The mean of `values` over the `(2 radius + 1)^2` window around each pixel (clipped at the
/// frame's edges), rows then columns.
fn box_average(values: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(radius), (x + radius).min(w - 1));
            let sum: f32 = values[y * w + a..=y * w + b].iter().sum();
            rows[y * w + x] = sum / (b - a + 1) as f32;
        }
    }
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(radius), (y + radius).min(h - 1));
        for x in 0..w {
            let sum: f32 = (a..=b).map(|yy| rows[yy * w + x]).sum();
            out[y * w + x] = sum / (b - a + 1) as f32;
        }
    }
    out
}

/// How rigidly each pixel moves with its surroundings (0..1): 1 where the velocity is the
/// same a few pixels away, falling where it changes within a small neighbourhood (a swinging
/// leg, fluttering cloth, a tear in the flow), averaged over a window so that a whole non-rigid
/// region eases together rather than pixel by pixel.
fn rigidity(v: &FlowField, w: usize, h: usize) -> Vec<f32> {
    let roughness: Vec<f32> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let speed = v.data[2 * i].hypot(v.data[2 * i + 1]);
            largest_change(v, w, h, (x, y), |_, _| true) / (1.0 + 0.1 * speed)
        })
        .collect();
    box_average(&roughness, w, h, 4)
        .into_iter()
        .map(|r| 1.0 / (1.0 + r * r))
        .collect()
}

/// The velocity change per pixel of distance across each pixel's own surface: the largest
/// over its four neighbours, leaving out jumps too large to be one surface stretching (an edge
/// between two things moving differently), averaged over a small window.
fn stretch(v: &FlowField, w: usize, h: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..w * h)
        .map(|i| {
            let same_surface = |change: f32, speed: f32| change <= 2.0 + 0.25 * speed;
            largest_change(v, w, h, (i % w, i / w), same_surface) / NEIGHBOUR_GAP as f32
        })
        .collect();
    box_average(&raw, w, h, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    #[test]
    fn the_camera_fit_ignores_a_moving_object() {
        let b = Rect::from_size(120, 80);
        // A zoom-ish camera plus a block moving on its own.
        let cam = |x: i32, y: i32| (1.5 + 0.01 * (x - 60) as f32, -0.5 + 0.01 * (y - 40) as f32);
        let v = FlowField::from_fn(b, |x, y| {
            if (20..40).contains(&x) && (20..40).contains(&y) {
                (9.0, 4.0)
            } else {
                cam(x, y)
            }
        });
        let fit = fit_camera(&v);
        for (x, y) in [(0, 0), (119, 79), (60, 40), (30, 30)] {
            let (fx, fy) = fit.at(x as f64, y as f64);
            let (cx, cy) = cam(x, y);
            assert!(
                (fx - cx as f64).abs() < 0.05 && (fy - cy as f64).abs() < 0.05,
                "({x},{y}): fit ({fx},{fy}) camera ({cx},{cy})"
            );
        }
    }

    #[test]
    fn steady_motion_is_trusted_and_a_turn_is_not() {
        let b = Rect::from_size(64, 48);
        let frame = FloatImage::filled(b, [0.5, 0.5, 0.5, 1.0]);
        let v1 = FlowField::from_fn(b, |x, _| if x < 32 { (2.0, 0.0) } else { (0.0, 2.0) });
        // The left half moved the same a frame earlier; the right half moved sideways then.
        let v2 = FlowField::from_fn(b, |_, _| (2.0, 0.0));
        let m = EdgeMotion::measure(v1, 1.0, frame, Some((v2, 1.0)));
        let at = |x: usize, y: usize| m.trust[y * 64 + x];
        assert!(at(10, 20) > 0.9, "steady: {}", at(10, 20));
        assert!(at(50, 20) < 0.5, "turned: {}", at(50, 20));
    }

    #[test]
    fn a_still_camera_and_flow_noise_move_nothing() {
        let b = Rect::from_size(40, 30);
        let frame = FloatImage::filled(b, [0.5, 0.5, 0.5, 1.0]);
        let v1 = FlowField::from_fn(b, |x, y| (0.05 * ((x + y) % 3) as f32, -0.04));
        let m = EdgeMotion::measure(v1, 1.0, frame, None);
        assert_eq!(m.camera.a, [0.0; 6]);
        assert!(m.residual.iter().all(|v| *v == 0.0));
    }
}
