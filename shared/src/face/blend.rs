//! Seamless (Poisson) paste-back of a new face: the new pixels `B` keep their gradients inside
//! the matte's support while their values are bent to meet the frame `A` at its edge. The
//! correction `g` is harmonic inside (the discrete Laplace equation, 5-point stencil) with the
//! difference `clamp(A, 0, 1) - B` as its value on the pixels around the support; the result
//! `B + g` is then blended in through the feathered matte like a plain paste-back, so pixels
//! outside the matte stay untouched and a colour or lighting mismatch between the two faces
//! fades smoothly instead of showing at the seam.
//!
//! The system is symmetric positive definite; it is solved with conjugate gradients from the
//! mean boundary difference, per colour channel.

use super::regions::Plane;
use crate::image::FloatImage;

/// How a new face is blended in through its matte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blend {
    /// The new pixels as they are, cross-faded through the feathered matte.
    Feather,
    /// The new pixels bent to meet the frame at the matte's edge ([`paste_seamless`]), then
    /// cross-faded through the matte.
    Seamless,
}

/// Most conjugate-gradient iterations per channel.
const MAX_ITERATIONS: usize = 3000;
/// Stop when the residual's largest value is below this.
const TOLERANCE: f64 = 1e-5;

/// The harmonic function over the `inside` pixels of a `w` x `h` grid (row-major) that takes
/// the value `fixed[q]` at every pixel `q` that is not inside but next to one that is (4
/// neighbours). Pixels on the grid's border must not be inside. Returns the values of all
/// pixels: the solution inside, `fixed` elsewhere.
pub fn harmonic_fill(inside: &[bool], fixed: &[f64], w: usize, h: usize) -> Vec<f64> {
    let n = w * h;
    assert!(inside.len() == n && fixed.len() == n);
    let index: Vec<usize> = inside
        .iter()
        .scan(0usize, |k, &i| {
            let v = *k;
            if i {
                *k += 1;
            }
            Some(if i { v } else { usize::MAX })
        })
        .collect();
    let cells: Vec<usize> = (0..n).filter(|&p| inside[p]).collect();
    let m = cells.len();
    let mut out = fixed.to_vec();
    if m == 0 {
        return out;
    }
    let neighbours = |p: usize| [p - 1, p + 1, p - w, p + w];
    // Right-hand side: the fixed neighbours; start from their mean.
    let mut b = vec![0.0f64; m];
    let (mut sum, mut count) = (0.0, 0.0);
    for (k, &p) in cells.iter().enumerate() {
        for q in neighbours(p) {
            if !inside[q] {
                b[k] += fixed[q];
                sum += fixed[q];
                count += 1.0;
            }
        }
    }
    let start = if count > 0.0 { sum / count } else { 0.0 };
    let apply = |x: &[f64], y: &mut [f64]| {
        for (k, &p) in cells.iter().enumerate() {
            let mut v = 4.0 * x[k];
            for q in neighbours(p) {
                if inside[q] {
                    v -= x[index[q]];
                }
            }
            y[k] = v;
        }
    };
    let mut x = vec![start; m];
    let mut ax = vec![0.0; m];
    apply(&x, &mut ax);
    let mut r: Vec<f64> = b.iter().zip(&ax).map(|(b, a)| b - a).collect();
    let mut d = r.clone();
    let mut rr: f64 = r.iter().map(|v| v * v).sum();
    let mut ad = vec![0.0; m];
    for _ in 0..MAX_ITERATIONS {
        if r.iter().all(|v| v.abs() < TOLERANCE) {
            break;
        }
        apply(&d, &mut ad);
        let dad: f64 = d.iter().zip(&ad).map(|(a, b)| a * b).sum();
        if dad <= 0.0 || !dad.is_finite() {
            break;
        }
        let alpha = rr / dad;
        for k in 0..m {
            x[k] += alpha * d[k];
            r[k] -= alpha * ad[k];
        }
        let rr_new: f64 = r.iter().map(|v| v * v).sum();
        let beta = rr_new / rr;
        rr = rr_new;
        for k in 0..m {
            d[k] = r[k] + beta * d[k];
        }
    }
    for (k, &p) in cells.iter().enumerate() {
        out[p] = x[k];
    }
    out
}

/// Pastes `new` (the new face over `matte.bounds`, in the frame's encoding; `valid` says where
/// it is defined) into `frame` seamlessly: `B + g` as the module describes, blended through
/// `matte * amount` as `f + m (B + g - clamp(f, 0, 1))` per colour channel, so values above 1
/// keep their excess. Pixels where the weight is 0 are not written.
pub fn paste_seamless(
    frame: &mut FloatImage,
    new: &FloatImage,
    valid: &Plane,
    matte: &Plane,
    amount: f32,
) {
    let region = matte.bounds.intersect(&frame.bounds);
    let (w, h) = (region.width() as usize, region.height() as usize);
    if w < 3 || h < 3 {
        return;
    }
    let at = |i: usize| (region.x1 + (i % w) as i32, region.y1 + (i / w) as i32);
    let inside: Vec<bool> = (0..w * h)
        .map(|i| {
            let (x, y) = at(i);
            let border = i % w == 0 || i % w == w - 1 || i / w == 0 || i / w == h - 1;
            !border && matte.get(x, y) > 0.0 && valid.get(x, y) > 0.0
        })
        .collect();
    let amount = amount.clamp(0.0, 1.0);
    let mut corrected = [Vec::new(), Vec::new(), Vec::new()];
    for (c, out) in corrected.iter_mut().enumerate() {
        let mut fixed = vec![0.0f64; w * h];
        for (i, f) in fixed.iter_mut().enumerate() {
            if inside[i] {
                continue;
            }
            let (x, y) = at(i);
            let a = frame.pixel(x, y)[c].clamp(0.0, 1.0) as f64;
            // The new face's value here, or (where it has none) at an inside neighbour.
            let b = if valid.get(x, y) > 0.0 {
                Some(new.pixel(x, y)[c] as f64)
            } else {
                [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                    .into_iter()
                    .find(|&(qx, qy)| matte.get(qx, qy) > 0.0 && valid.get(qx, qy) > 0.0)
                    .map(|(qx, qy)| new.pixel(qx, qy)[c] as f64)
            };
            *f = b.map(|b| a - b).unwrap_or(0.0);
        }
        *out = harmonic_fill(&inside, &fixed, w, h);
    }
    for i in 0..w * h {
        if !inside[i] {
            continue;
        }
        let (x, y) = at(i);
        let m = matte.get(x, y) * amount;
        if m <= 0.0 {
            continue;
        }
        let s = new.pixel(x, y);
        let o = frame.index(x, y);
        for c in 0..3 {
            let f = frame.data[o + c];
            let target = s[c] as f64 + corrected[c][i];
            frame.data[o + c] = f + m * (target as f32 - f.clamp(0.0, 1.0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    #[test]
    fn harmonic_fill_reproduces_a_linear_boundary() {
        // A linear function is harmonic: given on the border, it is recovered inside.
        let (w, h) = (20, 15);
        let f = |i: usize| 0.3 * (i % w) as f64 - 0.2 * (i / w) as f64 + 1.0;
        let inside: Vec<bool> = (0..w * h)
            .map(|i| i % w > 0 && i % w < w - 1 && i / w > 0 && i / w < h - 1)
            .collect();
        let fixed: Vec<f64> = (0..w * h)
            .map(|i| if inside[i] { 0.0 } else { f(i) })
            .collect();
        let g = harmonic_fill(&inside, &fixed, w, h);
        for i in 0..w * h {
            assert!((g[i] - f(i)).abs() < 1e-4, "{i}: {} vs {}", g[i], f(i));
        }
    }

    #[test]
    fn seamless_paste_bends_an_offset_face_to_meet_the_frame() {
        // The frame is a smooth ramp; the new face is the same ramp plus 0.3 and a bump in the
        // middle. Seamless: the offset is gone at the edge and the bump (a gradient) is kept.
        let bounds = Rect::new(0, 0, 40, 40);
        let ramp = |x: i32, y: i32| 0.2 + 0.01 * x as f32 + 0.005 * y as f32;
        let mut frame = FloatImage::from_fn(bounds, |x, y| {
            let v = ramp(x, y);
            [v, v, v, 1.0]
        });
        let before = frame.clone();
        let new = FloatImage::from_fn(bounds, |x, y| {
            let bump = if (18..22).contains(&x) && (18..22).contains(&y) {
                0.2
            } else {
                0.0
            };
            let v = ramp(x, y) + 0.3 + bump;
            [v, v, v, 1.0]
        });
        let mut matte = Plane::new(Rect::new(5, 5, 35, 35));
        matte.data.iter_mut().for_each(|v| *v = 1.0);
        let mut valid = Plane::new(bounds);
        valid.data.iter_mut().for_each(|v| *v = 1.0);
        paste_seamless(&mut frame, &new, &valid, &matte, 1.0);
        for (x, y) in bounds.pixels() {
            let (a, b) = (before.pixel(x, y)[0], frame.pixel(x, y)[0]);
            let inside = (6..34).contains(&x) && (6..34).contains(&y);
            if !inside {
                assert_eq!(a, b, "({x},{y}) outside changed");
            } else if !(16..24).contains(&x) || !(16..24).contains(&y) {
                assert!((a - b).abs() < 0.05, "({x},{y}): {a} -> {b}");
            }
        }
        let bump = frame.pixel(20, 20)[0] - frame.pixel(15, 20)[0];
        let want = new.pixel(20, 20)[0] - new.pixel(15, 20)[0];
        assert!((bump - want).abs() < 0.05, "bump {bump} vs {want}");
    }
}
