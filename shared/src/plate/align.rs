//! Global alignment of a neighbouring frame to the current one, for `propagate`.
//!
//! The model is an affine map from the current frame's pixel coordinates to the neighbour's
//! (continuous coordinates with the origin at the first pixel's corner, rows counted like the
//! image's rows). It is fitted only on pixels that neither matte covers, so a subject moving
//! against the background does not pull it:
//!
//! 1. starts: an affine fitted (least squares with outlier rejection) to the flow model's
//!    per-pixel map over the trusted background ([`super::flow`]), when there is one, and an
//!    exhaustive translation search on a coarse level of the pyramid; the better after a
//!    coarse refinement wins.
//! 2. a coarse-to-fine Gauss-Newton refinement of the affine on the grey pyramid of both
//!    frames, discarding residuals beyond three robust deviations, to a small fraction of a pixel.

use super::{HOLE_THRESHOLD, ShotFrame};

/// `x' = a x + b y + tx`, `y' = c x + d y + ty`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine2 {
    pub p: [f64; 6],
}

impl Affine2 {
    pub const IDENTITY: Affine2 = Affine2 {
        p: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    };

    pub fn translation(dx: f64, dy: f64) -> Affine2 {
        Affine2 {
            p: [1.0, 0.0, dx, 0.0, 1.0, dy],
        }
    }

    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let p = &self.p;
        (p[0] * x + p[1] * y + p[2], p[3] * x + p[4] * y + p[5])
    }

    /// The map back, or `None` when this one folds the plane (determinant near 0).
    pub fn inverse(&self) -> Option<Affine2> {
        let [a, b, tx, c, d, ty] = self.p;
        let det = a * d - b * c;
        if det.abs() < 1e-9 {
            return None;
        }
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine2 {
            p: [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)],
        })
    }

    /// The same map on coordinates scaled by `s` (a pyramid level `s` times larger).
    pub fn rescaled(&self, s: f64) -> Affine2 {
        let mut p = self.p;
        p[2] *= s;
        p[5] *= s;
        Affine2 { p }
    }
}

/// A grey plane with a validity plane (1 where no matte covers the pixel).
#[derive(Clone)]
pub struct Level {
    pub w: usize,
    pub h: usize,
    pub grey: Vec<f32>,
    pub valid: Vec<f32>,
}

impl Level {
    /// Grey (0.25 R + 0.5 G + 0.25 B) and validity of a frame.
    pub fn from_frame(f: &ShotFrame) -> Level {
        let (w, h) = (f.image.width() as usize, f.image.height() as usize);
        let grey = f
            .image
            .data
            .chunks_exact(4)
            .map(|p| 0.25 * p[0] + 0.5 * p[1] + 0.25 * p[2])
            .collect();
        let valid = f
            .matte
            .iter()
            .map(|&m| if m <= HOLE_THRESHOLD { 1.0 } else { 0.0 })
            .collect();
        Level { w, h, grey, valid }
    }

    /// Half size: 2x2 means; a pixel is valid only when all four are.
    pub fn half(&self) -> Level {
        let (w, h) = ((self.w / 2).max(1), (self.h / 2).max(1));
        let mut grey = vec![0f32; w * h];
        let mut valid = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (x0, y0) = ((2 * x).min(self.w - 1), (2 * y).min(self.h - 1));
                let (x1, y1) = ((2 * x + 1).min(self.w - 1), (2 * y + 1).min(self.h - 1));
                let idx = [
                    y0 * self.w + x0,
                    y0 * self.w + x1,
                    y1 * self.w + x0,
                    y1 * self.w + x1,
                ];
                grey[y * w + x] = idx.iter().map(|&i| self.grey[i]).sum::<f32>() * 0.25;
                valid[y * w + x] = idx.iter().map(|&i| self.valid[i]).fold(1.0, f32::min);
            }
        }
        Level { w, h, grey, valid }
    }

    /// Bilinear sample at continuous `(x, y)` (pixel centres at `i + 0.5`); `None` outside the
    /// pixel centres' hull.
    #[inline]
    pub fn sample(&self, plane: &[f32], x: f64, y: f64) -> Option<f32> {
        let fx = x - 0.5;
        let fy = y - 0.5;
        if !(fx >= 0.0 && fy >= 0.0 && fx <= (self.w - 1) as f64 && fy <= (self.h - 1) as f64) {
            return None;
        }
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let a = plane[y0 * self.w + x0];
        let b = plane[y0 * self.w + x1];
        let c = plane[y1 * self.w + x0];
        let d = plane[y1 * self.w + x1];
        let bottom = a + wx * (b - a);
        let top = c + wx * (d - c);
        Some(bottom + wy * (top - bottom))
    }
}

/// The pyramid of a frame, full size first, down to about `min_side` pixels.
pub fn pyramid(f: &ShotFrame, min_side: usize) -> Vec<Level> {
    let mut levels = vec![Level::from_frame(f)];
    while levels
        .last()
        .map(|l| l.w.min(l.h) / 2 >= min_side)
        .unwrap_or(false)
    {
        let next = levels.last().expect("level").half();
        levels.push(next);
    }
    levels
}

/// Exhaustive integer translation search within `radius` pixels (mean absolute difference
/// over pixels valid in both).
pub fn search_translation(cur: &Level, nb: &Level, radius: i32) -> (f64, f64) {
    let mut best = (f64::INFINITY, 0, 0);
    let step = ((cur.w * cur.h) as f64 / 20000.0).sqrt().max(1.0) as usize;
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (mut sum, mut n) = (0f64, 0usize);
            for y in (0..cur.h).step_by(step) {
                let ny = y as i32 + dy;
                if ny < 0 || ny >= nb.h as i32 {
                    continue;
                }
                for x in (0..cur.w).step_by(step) {
                    let nx = x as i32 + dx;
                    if nx < 0 || nx >= nb.w as i32 {
                        continue;
                    }
                    let i = y * cur.w + x;
                    let j = ny as usize * nb.w + nx as usize;
                    if cur.valid[i] > 0.5 && nb.valid[j] > 0.5 {
                        sum += (cur.grey[i] - nb.grey[j]).abs() as f64;
                        n += 1;
                    }
                }
            }
            // Require a fair overlap so that tiny overlaps cannot win by luck.
            if n * 4 * step * step >= cur.w * cur.h {
                let mad = sum / n as f64 + 1e-4 * ((dx * dx + dy * dy) as f64).sqrt();
                if mad < best.0 {
                    best = (mad, dx, dy);
                }
            }
        }
    }
    (best.1 as f64, best.2 as f64)
}

/// Gauss-Newton refinement of `a` on one level; returns the refined map and the robust RMS
/// residual.
pub fn refine(
    cur: &Level,
    nb: &Level,
    mut a: Affine2,
    iterations: usize,
    affine: bool,
) -> (Affine2, f64) {
    let step = ((cur.w * cur.h) as f64 / 15000.0).sqrt().max(1.0) as usize;
    let mut rms = f64::INFINITY;
    let mut res: Vec<f32> = Vec::new();
    for _ in 0..iterations {
        // Residuals first, for the robust cut.
        res.clear();
        let mut pts: Vec<(f64, f64, f32, f32, f32)> = Vec::new();
        for y in (0..cur.h).step_by(step) {
            for x in (0..cur.w).step_by(step) {
                let i = y * cur.w + x;
                if cur.valid[i] < 0.5 {
                    continue;
                }
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let (qx, qy) = a.apply(px, py);
                let (Some(v), Some(n)) =
                    (nb.sample(&nb.valid, qx, qy), nb.sample(&nb.grey, qx, qy))
                else {
                    continue;
                };
                if v < 0.999 {
                    continue;
                }
                let (Some(l), Some(r), Some(d), Some(u)) = (
                    nb.sample(&nb.grey, qx - 0.5, qy),
                    nb.sample(&nb.grey, qx + 0.5, qy),
                    nb.sample(&nb.grey, qx, qy - 0.5),
                    nb.sample(&nb.grey, qx, qy + 0.5),
                ) else {
                    continue;
                };
                let r0 = n - cur.grey[i];
                res.push(r0.abs());
                pts.push((px, py, r0, r - l, u - d));
            }
        }
        if pts.len() < 12 {
            break;
        }
        let mut sorted = res.clone();
        let mid = sorted.len() / 2;
        sorted.select_nth_unstable_by(mid, |p, q| p.total_cmp(q));
        let sigma = (1.4826 * sorted[mid] as f64).max(1e-3);
        let cut = 3.0 * sigma;
        let np = if affine { 6 } else { 2 };
        let mut hm = [[0f64; 6]; 6];
        let mut g = [0f64; 6];
        let (mut sse, mut kept) = (0f64, 0usize);
        // Centre the coordinates for conditioning.
        let (cx, cy) = (cur.w as f64 / 2.0, cur.h as f64 / 2.0);
        for &(px, py, r0, gx, gy) in &pts {
            if (r0 as f64).abs() > cut {
                continue;
            }
            let (xc, yc) = (px - cx, py - cy);
            let (gx, gy) = (gx as f64, gy as f64);
            let j: [f64; 6] = if affine {
                [gx * xc, gx * yc, gx, gy * xc, gy * yc, gy]
            } else {
                [gx, gy, 0.0, 0.0, 0.0, 0.0]
            };
            for r in 0..np {
                g[r] += j[r] * r0 as f64;
                for c in 0..np {
                    hm[r][c] += j[r] * j[c];
                }
            }
            sse += (r0 as f64).powi(2);
            kept += 1;
        }
        // Penalised by the share of points cut as outliers, so a fit that explains little loses.
        rms = (sse / kept.max(1) as f64).sqrt() * pts.len() as f64 / kept.max(1) as f64;
        for (r, row) in hm.iter_mut().enumerate().take(np) {
            row[r] *= 1.0 + 1e-6;
            row[r] += 1e-9;
        }
        let Some(delta) = solve(&hm, &g, np) else {
            break;
        };
        // Update in centred coordinates: x' = A (x - c) + t' with t' = t + A c.
        let p = &mut a.p;
        if affine {
            let (a0, b0, c0, d0) = (p[0], p[1], p[3], p[4]);
            let tx_c = p[0] * cx + p[1] * cy + p[2];
            let ty_c = p[3] * cx + p[4] * cy + p[5];
            let (na, nb_, nc, nd) = (a0 - delta[0], b0 - delta[1], c0 - delta[3], d0 - delta[4]);
            let (ntx_c, nty_c) = (tx_c - delta[2], ty_c - delta[5]);
            p[0] = na;
            p[1] = nb_;
            p[3] = nc;
            p[4] = nd;
            p[2] = ntx_c - (na * cx + nb_ * cy);
            p[5] = nty_c - (nc * cx + nd * cy);
        } else {
            p[2] -= delta[0];
            p[5] -= delta[1];
        }
        let size = delta.iter().take(np).map(|d| d.abs()).fold(0.0, f64::max);
        if size < 1e-4 {
            break;
        }
    }
    (a, rms)
}

/// Solves `h x = g` for the first `n` unknowns (Gaussian elimination with partial pivoting).
fn solve(h: &[[f64; 6]; 6], g: &[f64; 6], n: usize) -> Option<[f64; 6]> {
    let mut m = [[0f64; 7]; 6];
    for r in 0..n {
        m[r][..n].copy_from_slice(&h[r][..n]);
        m[r][6] = g[r];
    }
    for col in 0..n {
        let piv = (col..n).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[piv][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, piv);
        for r in 0..n {
            if r != col {
                let f = m[r][col] / m[col][col];
                for c in col..7 {
                    m[r][c] -= f * m[col][c];
                }
            }
        }
    }
    let mut x = [0f64; 6];
    for r in 0..n {
        x[r] = m[r][6] / m[r][r];
    }
    Some(x)
}

/// Affine least squares with iterative outlier rejection.
pub fn fit_affine_robust(src: &[(f64, f64)], dst: &[(f64, f64)]) -> Option<Affine2> {
    let mut keep: Vec<bool> = vec![true; src.len()];
    let mut best = None;
    for _ in 0..4 {
        let idx: Vec<usize> = (0..src.len()).filter(|&i| keep[i]).collect();
        if idx.len() < 6 {
            return best;
        }
        let mut hm = [[0f64; 6]; 6];
        let mut g = [0f64; 6];
        for &i in &idx {
            let (x, y) = src[i];
            let (u, v) = dst[i];
            let j = [x, y, 1.0];
            for r in 0..3 {
                g[r] += j[r] * u;
                g[r + 3] += j[r] * v;
                for c in 0..3 {
                    hm[r][c] += j[r] * j[c];
                    hm[r + 3][c + 3] += j[r] * j[c];
                }
            }
        }
        let p = solve(&hm, &g, 6)?;
        let a = Affine2 { p };
        let errs: Vec<f64> = (0..src.len())
            .map(|i| {
                let (u, v) = a.apply(src[i].0, src[i].1);
                ((u - dst[i].0).powi(2) + (v - dst[i].1).powi(2)).sqrt()
            })
            .collect();
        let mut kept_errs: Vec<f64> = idx.iter().map(|&i| errs[i]).collect();
        let mid = kept_errs.len() / 2;
        kept_errs.select_nth_unstable_by(mid, |p, q| p.total_cmp(q));
        let cut = (3.0 * 1.4826 * kept_errs[mid]).max(0.5);
        for i in 0..src.len() {
            keep[i] = errs[i] <= cut;
        }
        best = Some(a);
    }
    best
}

/// The map from the current frame's coordinates to the neighbour's, or `None` when too little
/// background is shared to tell. `start` (full-size coordinates, e.g. fitted to the flow
/// model's map) competes with an exhaustive translation search on the coarsest level.
pub fn estimate(
    cur_pyr: &[Level],
    nb_pyr: &[Level],
    start: Option<Affine2>,
) -> Option<(Affine2, f64)> {
    let top = cur_pyr.len().min(nb_pyr.len()) - 1;
    let coarse = (&cur_pyr[top], &nb_pyr[top]);
    let mut starts = Vec::new();
    if let Some(a) = start {
        starts.push(a.rescaled(0.5f64.powi(top as i32)));
    }
    let r = (coarse.0.w.max(coarse.0.h) as i32 / 4).clamp(2, 24);
    let (dx, dy) = search_translation(coarse.0, coarse.1, r);
    starts.push(Affine2::translation(dx, dy));
    let mut best: Option<(Affine2, f64)> = None;
    for s in starts {
        let (t, _) = refine(coarse.0, coarse.1, s, 8, false);
        let (t, rms) = refine(coarse.0, coarse.1, t, 6, true);
        if rms.is_finite() && best.is_none_or(|(_, b)| rms < b) {
            best = Some((t, rms));
        }
    }
    let (mut a, mut rms) = best?;
    for l in (0..top).rev() {
        a = a.rescaled(2.0);
        let (c, n) = (&cur_pyr[l], &nb_pyr[l]);
        let (t, r) = refine(c, n, a, if l == 0 { 8 } else { 5 }, true);
        a = t;
        rms = r;
    }
    rms.is_finite().then_some((a, rms))
}

/// An affine fitted to a map given per pixel of `level` (index coordinates, pixel centres at
/// integers) where `use_it` holds, in full-size coordinates.
pub fn affine_from_map(
    level: &Level,
    scale: f64,
    map: &[[f32; 2]],
    use_it: impl Fn(usize) -> bool,
) -> Option<Affine2> {
    let step = ((level.w * level.h) as f64 / 4000.0).sqrt().max(1.0) as usize;
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for y in (0..level.h).step_by(step) {
        for x in (0..level.w).step_by(step) {
            let i = y * level.w + x;
            if level.valid[i] < 0.5 || !use_it(i) {
                continue;
            }
            src.push((x as f64 + 0.5, y as f64 + 0.5));
            dst.push((map[i][0] as f64 + 0.5, map[i][1] as f64 + 0.5));
        }
    }
    fit_affine_robust(&src, &dst).map(|a| a.rescaled(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::median::tests::background;

    fn frame(dx: f32, dy: f32, w: u32, h: u32) -> ShotFrame {
        let bounds = Rect::from_size(w, h);
        ShotFrame {
            image: FloatImage::from_fn(bounds, |x, y| background(x as f32 + dx, y as f32 + dy)),
            matte: vec![0.0; (w * h) as usize],
        }
    }

    #[test]
    fn an_affine_and_its_inverse_undo_each_other() {
        let a = Affine2 {
            p: [1.02, 0.05, 3.5, -0.04, 0.98, -7.25],
        };
        let b = a.inverse().expect("invertible");
        let (u, v) = a.apply(12.0, 40.0);
        let (x, y) = b.apply(u, v);
        assert!((x - 12.0).abs() < 1e-9 && (y - 40.0).abs() < 1e-9);
        let flat = Affine2 {
            p: [1.0, 2.0, 0.0, 0.5, 1.0, 0.0],
        };
        assert!(flat.inverse().is_none());
    }

    #[test]
    fn finds_a_subpixel_translation() {
        let a = frame(0.0, 0.0, 160, 120);
        let b = frame(-7.3, 4.6, 160, 120);
        let (pa, pb) = (pyramid(&a, 24), pyramid(&b, 24));
        let (m, rms) = estimate(&pa, &pb, None).unwrap();
        // b at (x + 7.3, y - 4.6) shows what a shows at (x, y).
        let (x, y) = m.apply(80.0, 60.0);
        assert!(
            (x - 87.3).abs() < 0.05 && (y - 55.4).abs() < 0.05,
            "{m:?} rms {rms}"
        );
    }

    #[test]
    fn affine_fit_rejects_outliers() {
        let truth = Affine2 {
            p: [1.01, 0.02, 3.0, -0.01, 0.99, -2.0],
        };
        let mut src = Vec::new();
        let mut dst = Vec::new();
        for i in 0..200 {
            let (x, y) = ((i % 20) as f64 * 10.0, (i / 20) as f64 * 10.0);
            src.push((x, y));
            let (u, v) = truth.apply(x, y);
            dst.push(if i % 7 == 0 {
                (u + 30.0, v - 20.0)
            } else {
                (u, v)
            });
        }
        let a = fit_affine_robust(&src, &dst).unwrap();
        for k in 0..6 {
            assert!((a.p[k] - truth.p[k]).abs() < 1e-6, "{a:?}");
        }
    }
}
