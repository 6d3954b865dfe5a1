//! Seamless (Poisson) paste-back of a new face: the new pixels `B` keep their gradients inside
//! the matte's support while their values are bent to meet the frame `A` at its edge. The
//! correction `g` is harmonic inside (the discrete Laplace equation, 5-point stencil) with the
//! difference `clamp(A, 0, 1) - B` as its value on the pixels around the support; the result
//! `B + g` is then blended in through the feathered matte like a plain paste-back, so pixels
//! outside the matte stay untouched and a colour or lighting mismatch between the two faces
//! fades smoothly instead of showing at the seam.
//!
//! The system is symmetric positive definite; it is solved with conjugate gradients from the
//! mean boundary difference, per colour channel, on the pixels of the matte or, for a large
//! matte, on cells of a few pixels (the correction is smooth) interpolated back.

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

/// Largest number of cells across the grid the correction is solved on: larger mattes are
/// solved on a grid of `k` x `k` pixel cells and the (smooth) correction is interpolated.
const MAX_CELLS: usize = 192;

/// Pastes `new` (the new face over `matte.bounds`, in the frame's encoding; `valid` says where
/// it is defined) into `frame` seamlessly: `B + g` as the module describes, blended through
/// `matte * amount` as `f + m (B + g - clamp(f, 0, 1))` per colour channel, so values above 1
/// keep their excess. The correction is solved on cells of `k` x `k` pixels (`k` = 1 unless
/// the matte is more than [`MAX_CELLS`] pixels across) over the matte's box grown by one cell,
/// whose outer ring reads the frame around the matte. Pixels where the weight is 0 are not
/// written.
pub fn paste_seamless(
    frame: &mut FloatImage,
    new: &FloatImage,
    valid: &Plane,
    matte: &Plane,
    amount: f32,
) {
    let region = matte.bounds.intersect(&frame.bounds);
    if region.is_empty() {
        return;
    }
    let (w, h) = (region.width() as usize, region.height() as usize);
    let k = w.max(h).div_ceil(MAX_CELLS).max(1);
    let (wc, hc) = (w.div_ceil(k) + 2, h.div_ceil(k) + 2);
    let (ox, oy) = (region.x1 - k as i32, region.y1 - k as i32);
    let has_new = |x: i32, y: i32| valid.get(x, y) > 0.0 && new.bounds.contains(x, y);
    let used = |x: i32, y: i32| matte.get(x, y) > 0.0 && has_new(x, y);
    // Per cell: sums of clamp(A) and of B (where defined), pixel counts.
    let mut sum_a = vec![[0.0f64; 3]; wc * hc];
    let mut sum_b = vec![[0.0f64; 3]; wc * hc];
    let (mut n_all, mut n_valid, mut n_in) = (
        vec![0usize; wc * hc],
        vec![0usize; wc * hc],
        vec![0usize; wc * hc],
    );
    for cj in 0..hc {
        for ci in 0..wc {
            let c = cj * wc + ci;
            for y in oy + (cj * k) as i32..oy + ((cj + 1) * k) as i32 {
                for x in ox + (ci * k) as i32..ox + ((ci + 1) * k) as i32 {
                    if !frame.bounds.contains(x, y) {
                        continue;
                    }
                    let a = frame.pixel(x, y);
                    n_all[c] += 1;
                    for ch in 0..3 {
                        sum_a[c][ch] += finite_or_zero(a[ch].clamp(0.0, 1.0));
                    }
                    if has_new(x, y) {
                        let b = new.pixel(x, y);
                        n_valid[c] += 1;
                        for ch in 0..3 {
                            sum_b[c][ch] += finite_or_zero(b[ch]);
                        }
                    }
                    if used(x, y) {
                        n_in[c] += 1;
                    }
                }
            }
        }
    }
    let inside: Vec<bool> = (0..wc * hc)
        .map(|c| {
            let (ci, cj) = (c % wc, c / wc);
            ci > 0
                && cj > 0
                && ci < wc - 1
                && cj < hc - 1
                && n_all[c] > 0
                && 2 * n_in[c] >= n_all[c]
        })
        .collect();
    let mean_b = |c: usize| (n_valid[c] > 0).then(|| sum_b[c].map(|v| v / n_valid[c] as f64));
    let mut correction = [Vec::new(), Vec::new(), Vec::new()];
    for (ch, out) in correction.iter_mut().enumerate() {
        let mut fixed = vec![0.0f64; wc * hc];
        for (c, f) in fixed.iter_mut().enumerate() {
            if inside[c] {
                continue;
            }
            let (ci, cj) = ((c % wc) as i64, (c / wc) as i64);
            let nbs = [(ci - 1, cj), (ci + 1, cj), (ci, cj - 1), (ci, cj + 1)];
            let nb = nbs
                .into_iter()
                .filter(|&(i, j)| i >= 0 && j >= 0 && (i as usize) < wc && (j as usize) < hc)
                .map(|(i, j)| j as usize * wc + i as usize)
                .find(|&q| inside[q]);
            // Frame minus new face here; where either is missing, at the inside neighbour.
            let a_cell = if n_all[c] > 0 { Some(c) } else { nb };
            let b = mean_b(c).or_else(|| nb.and_then(mean_b));
            if let (Some(ac), Some(b)) = (a_cell, b) {
                *f = sum_a[ac][ch] / n_all[ac].max(1) as f64 - b[ch];
            }
        }
        *out = harmonic_fill(&inside, &fixed, wc, hc);
    }
    let amount = amount.clamp(0.0, 1.0);
    for (x, y) in region.pixels() {
        if !used(x, y) {
            continue;
        }
        let m = matte.get(x, y) * amount;
        if m <= 0.0 {
            continue;
        }
        // Bilinear in the cell grid (cell centres at (i + 0.5) k from the grid's origin).
        let fx = ((x - ox) as f64 + 0.5) / k as f64 - 0.5;
        let fy = ((y - oy) as f64 + 0.5) / k as f64 - 0.5;
        let (i0, j0) = (fx.floor().max(0.0) as usize, fy.floor().max(0.0) as usize);
        let (i0, j0) = (i0.min(wc - 2), j0.min(hc - 2));
        let (tx, ty) = (
            (fx - i0 as f64).clamp(0.0, 1.0),
            (fy - j0 as f64).clamp(0.0, 1.0),
        );
        let s = new.pixel(x, y);
        let o = frame.index(x, y);
        for ch in 0..3 {
            let g = &correction[ch];
            let at = |i: usize, j: usize| g[j * wc + i];
            let bottom = at(i0, j0) + tx * (at(i0 + 1, j0) - at(i0, j0));
            let top = at(i0, j0 + 1) + tx * (at(i0 + 1, j0 + 1) - at(i0, j0 + 1));
            let corr = bottom + ty * (top - bottom);
            let f = frame.data[o + ch];
            let target = (s[ch] as f64 + corr) as f32;
            frame.data[o + ch] = f + m * (target - f.clamp(0.0, 1.0));
        }
    }
}

/// `v` as f64, or 0 when it is NaN or infinite: one bad pixel of the frame or of the model's
/// output must not spread through the whole correction.
fn finite_or_zero(v: f32) -> f64 {
    if v.is_finite() { v as f64 } else { 0.0 }
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
        for (i, v) in g.iter().enumerate() {
            assert!((v - f(i)).abs() < 1e-4, "{i}: {v} vs {}", f(i));
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
            let inside = (5..35).contains(&x) && (5..35).contains(&y);
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
    #[test]
    fn a_large_matte_is_solved_on_cells_and_still_meets_the_frame() {
        let bounds = Rect::new(0, 0, 520, 520);
        let ramp = |x: i32, y: i32| 0.2 + 0.001 * x as f32 + 0.0005 * y as f32;
        let mut frame = FloatImage::from_fn(bounds, |x, y| {
            let v = ramp(x, y);
            [v, v * 0.5, v, 1.0]
        });
        let before = frame.clone();
        // The new face: the frame with a tilted colour offset.
        let new = FloatImage::from_fn(bounds, |x, y| {
            let v = ramp(x, y);
            let o = 0.2 + 0.0002 * x as f32;
            [v + o, v * 0.5 + o, v - o, 1.0]
        });
        let mut matte = Plane::new(Rect::new(10, 10, 510, 510));
        matte.data.iter_mut().for_each(|v| *v = 1.0);
        let mut valid = Plane::new(bounds);
        valid.data.iter_mut().for_each(|v| *v = 1.0);
        paste_seamless(&mut frame, &new, &valid, &matte, 1.0);
        let mut worst = 0.0f32;
        for (x, y) in bounds.pixels() {
            let (a, b) = (before.pixel(x, y), frame.pixel(x, y));
            if !matte.bounds.contains(x, y) {
                assert_eq!(a, b, "({x},{y}) outside changed");
            } else {
                for c in 0..3 {
                    worst = worst.max((a[c] - b[c]).abs());
                }
            }
        }
        // The offset (0.2 to 0.3) is bent away everywhere: the linear offset is harmonic.
        assert!(worst < 0.01, "largest difference to the frame {worst}");
    }

    #[test]
    fn a_nan_pixel_beside_the_matte_or_in_the_new_face_stays_where_it_is() {
        let bounds = Rect::new(0, 0, 40, 40);
        let mut frame = FloatImage::from_fn(bounds, |_, _| [0.4, 0.4, 0.4, 1.0]);
        frame.set_pixel(4, 20, [f32::NAN, f32::INFINITY, 0.4, 1.0]);
        let mut new = FloatImage::from_fn(bounds, |_, _| [0.6, 0.6, 0.6, 1.0]);
        new.set_pixel(20, 20, [f32::NAN, 0.6, 0.6, 1.0]);
        let mut matte = Plane::new(Rect::new(5, 5, 35, 35));
        matte.data.iter_mut().for_each(|v| *v = 1.0);
        let mut valid = Plane::new(bounds);
        valid.data.iter_mut().for_each(|v| *v = 1.0);
        paste_seamless(&mut frame, &new, &valid, &matte, 1.0);
        for (x, y) in matte.bounds.pixels() {
            if (x, y) != (20, 20) {
                let p = frame.pixel(x, y);
                assert!(p.iter().all(|v| v.is_finite()), "({x},{y}) became {p:?}");
            }
        }
    }
}
