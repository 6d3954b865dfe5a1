//! Per-pixel background motion between the current frame and a neighbour, for `propagate`.
//!
//! The flow model (RIFE contract, run through [`crate::extend::Interpolator`]) runs once per
//! neighbour at timestep 0.5 on both frames, their subjects filled in smoothly from around
//! (else its flow follows a subject well outside its matte), reduced to at most [`FLOW_SIDE`] pixels on the long
//! side (its flows at timestep 0 and 1 are not usable). A pixel `p` of the middle frame comes
//! from the current frame at `p + flow0(p)` and from the neighbour at `p + flow1(p)`, so a
//! current pixel `q` maps to the neighbour at `p + flow1(p)` where `p + flow0(p) = q` (solved
//! by a few fixed-point steps); the neighbour's pixels map back the same way, which gives the
//! forward-backward check.
//!
//! The map is kept as a residual over the global affine fit ([`super::align`]): it is trusted
//! where the round trip closes within [`MAX_ROUND_TRIP`] pixels, the current frame's matte
//! does not cover it and the grey values agree (where the neighbour's own subject covers the
//! other end, the round trip alone decides); elsewhere (the subject's matte above all, where the flow
//! describes the subject and not the background behind it) the residual is filled smoothly
//! from the trusted pixels around by push-pull interpolation. The flow is not trusted either in
//! a thin band around the subject. The main
//! displacements of the trusted background (one per depth layer, roughly) are kept too:
//! `propagate` tries each of them in the hole and lets the neighbours' agreement pick.

use std::sync::Arc;

use super::ShotFrame;
use super::align::{Affine2, Level, refine};
use crate::colour::ColourSpace;
use crate::error::Result;
use crate::extend::Interpolator;
use crate::extend::interpolate::sample_flow;
use crate::extend::warp::FlowField;
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::pipeline::InferencePipeline;

/// Longest side the flow model sees.
pub const FLOW_SIDE: usize = 640;

/// Largest round-trip error (pixels of the flow's level) of a trusted flow vector.
pub const MAX_ROUND_TRIP: f32 = 1.0;

/// Largest grey difference (0..1) between a pixel and where the flow takes it, when trusted.
const MAX_GREY_DIFF: f32 = 0.08;

/// Width of the band around the current frame's subject where the flow is not trusted, as a
/// share of the level's long side (the model sees the frames with their subjects filled in,
/// but the fill's edge still pulls its flow a little).
const SUBJECT_MARGIN: f64 = 0.02;

/// Most residual modes kept besides the global fit itself.
pub const MAX_MODES: usize = 3;

/// The dense map from the current frame to a neighbour: the global affine plus a residual
/// held at a reduced level.
pub struct DenseMap {
    /// Level size and scale (full-size pixels per level pixel).
    pub w: usize,
    pub h: usize,
    pub scale: f64,
    /// Residual in full-size pixels per level pixel (rows like the image's).
    pub residual: Vec<[f32; 2]>,
    /// One affine (full-size coordinates) per main displacement of the trusted background:
    /// its depth layers, roughly.
    pub layers: Vec<Affine2>,
    /// Share of the unmatted pixels where the flow was trusted.
    pub trusted: f64,
}

impl DenseMap {
    /// The residual at full-size continuous coordinates (bilinear).
    pub fn residual_at(&self, x: f64, y: f64) -> [f32; 2] {
        let fx = (x / self.scale - 0.5).clamp(0.0, (self.w - 1) as f64);
        let fy = (y / self.scale - 0.5).clamp(0.0, (self.h - 1) as f64);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let r = |i: usize| self.residual[i];
        let (a, b, c, d) = (
            r(y0 * self.w + x0),
            r(y0 * self.w + x1),
            r(y1 * self.w + x0),
            r(y1 * self.w + x1),
        );
        let mut out = [0f32; 2];
        for k in 0..2 {
            let bottom = a[k] + wx * (b[k] - a[k]);
            let top = c[k] + wx * (d[k] - c[k]);
            out[k] = bottom + wy * (top - bottom);
        }
        out
    }
}

/// The pyramid level the flow model runs on: the first no longer than [`FLOW_SIDE`].
pub fn flow_level(levels: &[Level]) -> usize {
    let mut l = 0;
    while l + 1 < levels.len() && levels[l].w.max(levels[l].h) > FLOW_SIDE {
        l += 1;
    }
    l
}

/// RGBA of `f` reduced `level` times by 2x2 means (sizes as the pyramid's), origin at 0.
pub fn reduced_rgba(f: &ShotFrame, level: usize) -> FloatImage {
    let (mut w, mut h) = (f.image.width() as usize, f.image.height() as usize);
    let k = 1usize << level;
    for _ in 0..level {
        w = (w / 2).max(1);
        h = (h / 2).max(1);
    }
    let (fw, fh) = (f.image.width() as usize, f.image.height() as usize);
    let mut data = vec![0f32; w * h * 4];
    let norm = 1.0 / (k * k) as f32;
    for y in 0..h {
        for x in 0..w {
            let o = &mut data[(y * w + x) * 4..(y * w + x) * 4 + 4];
            for sy in y * k..y * k + k {
                let sy = sy.min(fh - 1);
                for sx in x * k..x * k + k {
                    let sx = sx.min(fw - 1);
                    let p = &f.image.data[(sy * fw + sx) * 4..(sy * fw + sx) * 4 + 4];
                    for c in 0..4 {
                        o[c] += p[c] * norm;
                    }
                }
            }
        }
    }
    FloatImage {
        bounds: Rect::from_size(w as u32, h as u32),
        data,
    }
}

/// Runs the flow model on the current frame and a neighbour at `level` (`cur_level` and
/// `nb_level` their pyramid levels there), each with its subject filled in smoothly, and
/// returns the map
/// from current to neighbour in level index coordinates (pixel centres at integers) and the
/// round-trip error of each pixel.
#[allow(clippy::too_many_arguments)]
pub fn model_map(
    flow: &Arc<InferencePipeline>,
    cur: &ShotFrame,
    cur_level: &Level,
    nb: &ShotFrame,
    nb_level: &Level,
    level: usize,
    colour: ColourSpace,
) -> Result<(Vec<[f32; 2]>, Vec<f32>)> {
    let interp = Interpolator::new(flow.clone())?;
    let mut a = reduced_rgba(cur, level);
    let mut b = reduced_rgba(nb, level);
    without_subject(&mut a, &cur_level.valid);
    without_subject(&mut b, &nb_level.valid);
    let m = interp.motion(&a, &b, 0.5, colour)?;
    let (w, h) = (a.width() as usize, a.height() as usize);
    let mut map = vec![[0f32; 2]; w * h];
    let mut err = vec![f32::INFINITY; w * h];
    for y in 0..h {
        for x in 0..w {
            let (qx, qy) = (x as f32, y as f32);
            let (px, py) = invert(&m.flow0, qx, qy);
            let (f1x, f1y) = sample_flow(&m.flow1, px, py);
            let (mx, my) = (px + f1x, py + f1y);
            // Back from the neighbour.
            let (rx, ry) = invert(&m.flow1, mx, my);
            let (f0x, f0y) = sample_flow(&m.flow0, rx, ry);
            let (bx, by) = (rx + f0x, ry + f0y);
            map[y * w + x] = [mx, my];
            err[y * w + x] = ((bx - qx).powi(2) + (by - qy).powi(2)).sqrt();
        }
    }
    Ok((map, err))
}

/// The middle-frame point `p` with `p + f(p) = q` (fixed-point steps from `q - f(q)`).
fn invert(f: &FlowField, qx: f32, qy: f32) -> (f32, f32) {
    let (mut px, mut py) = (qx, qy);
    for _ in 0..4 {
        let (dx, dy) = sample_flow(f, px, py);
        px = qx - dx;
        py = qy - dy;
    }
    (px, py)
}

/// The dense map of a neighbour: the flow model's map (level index coordinates) made a
/// residual over `affine` where trusted, filled smoothly elsewhere.
pub fn dense_map(
    cur: &Level,
    nb: &Level,
    level: usize,
    map: &[[f32; 2]],
    round_trip: &[f32],
    affine: &Affine2,
) -> DenseMap {
    let (w, h) = (cur.w, cur.h);
    let s = (1usize << level) as f64;
    let a = affine.rescaled(1.0 / s);
    let mut residual = vec![[0f32; 2]; w * h];
    let mut weight = vec![0f32; w * h];
    let mut valid = 0usize;
    // The model's flow is dragged along by the subject some way around it.
    let margin = (SUBJECT_MARGIN * w.max(h) as f64).round() as usize + 2;
    let near = min_filter(&cur.valid, w, h, margin);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if cur.valid[i] < 0.5 {
                continue;
            }
            valid += 1;
            let [mx, my] = map[i];
            if round_trip[i].is_nan() || round_trip[i] > MAX_ROUND_TRIP {
                continue;
            }
            if near[i] < 0.5 {
                continue;
            }
            let (ux, uy) = (mx as f64 + 0.5, my as f64 + 0.5);
            match (nb.sample(&nb.valid, ux, uy), nb.sample(&nb.grey, ux, uy)) {
                (Some(v), Some(g)) if v >= 0.999 && (g - cur.grey[i]).abs() <= MAX_GREY_DIFF => {}
                _ => continue,
            }
            let (ax, ay) = a.apply(x as f64 + 0.5, y as f64 + 0.5);
            residual[i] = [((ux - ax) * s) as f32, ((uy - ay) * s) as f32];
            weight[i] = 1.0;
        }
    }
    let trusted_n = weight.iter().filter(|&&v| v > 0.0).count();
    let shifts: Vec<[f32; 2]> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            [map[i][0] - x, map[i][1] - y]
        })
        .collect();
    let mut layers: Vec<Affine2> = Vec::new();
    for m in modes(&shifts, &weight) {
        if let Some(a) = layer_affine(cur, nb, &shifts, &weight, m, s) {
            // Two modes that refine to the same layer count once.
            let (cx, cy) = (w as f64 * s / 2.0, h as f64 * s / 2.0);
            let p = a.apply(cx, cy);
            if layers.iter().all(|b| {
                let q = b.apply(cx, cy);
                (p.0 - q.0).hypot(p.1 - q.1) > 0.5
            }) {
                layers.push(a);
            }
        }
    }
    push_pull(&mut residual, &weight, w, h);
    DenseMap {
        w,
        h,
        scale: s,
        residual,
        layers,
        trusted: trusted_n as f64 / valid.max(1) as f64,
    }
}

/// The affine of the trusted pixels whose displacement (level pixels) is within 1.5 px of
/// `mode`, in full-size coordinates (`s` full-size pixels a level pixel): a
/// translation then an affine refined on the level's grey values over those pixels alone.
fn layer_affine(
    cur: &Level,
    nb: &Level,
    shifts: &[[f32; 2]],
    weight: &[f32],
    mode: [f32; 2],
    s: f64,
) -> Option<Affine2> {
    let mut masked = cur.clone();
    let mut n = 0usize;
    for (i, v) in masked.valid.iter_mut().enumerate() {
        let d = shifts[i];
        let inside =
            weight[i] > 0.0 && (d[0] - mode[0]).abs() <= 1.5 && (d[1] - mode[1]).abs() <= 1.5;
        *v = if inside { 1.0 } else { 0.0 };
        n += inside as usize;
    }
    if n < 200 {
        return None;
    }
    let start = Affine2::translation(mode[0] as f64, mode[1] as f64);
    let (t, rms) = refine(&masked, nb, start, 10, false);
    if !rms.is_finite() {
        return None;
    }
    let (a, rms) = refine(&masked, nb, t, 8, true);
    Some(if rms.is_finite() { a } else { t }.rescaled(s))
}

/// The main modes of trusted displacements (level pixels; 1 px bins, each mode at least 2 px from a
/// stronger one and held by at least 5 % of them).
fn modes(residual: &[[f32; 2]], weight: &[f32]) -> Vec<[f32; 2]> {
    use std::collections::HashMap;
    let mut bins: HashMap<(i32, i32), usize> = HashMap::new();
    let mut n = 0usize;
    for (r, &wt) in residual.iter().zip(weight) {
        if wt > 0.0 {
            *bins
                .entry((r[0].round() as i32, r[1].round() as i32))
                .or_insert(0) += 1;
            n += 1;
        }
    }
    let mut ranked: Vec<((i32, i32), usize)> = bins.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut peaks: Vec<(i32, i32)> = Vec::new();
    for (b, c) in ranked {
        if c * 20 < n || peaks.len() > MAX_MODES {
            break;
        }
        if peaks
            .iter()
            .all(|p| (p.0 - b.0).abs().max((p.1 - b.1).abs()) >= 2)
        {
            peaks.push(b);
        }
    }
    let mut out = Vec::new();
    for p in peaks {
        // Mean of the residuals within 1.5 px of the bin.
        let (mut sx, mut sy, mut k) = (0f64, 0f64, 0usize);
        for (r, &wt) in residual.iter().zip(weight) {
            if wt > 0.0 && (r[0] - p.0 as f32).abs() <= 1.5 && (r[1] - p.1 as f32).abs() <= 1.5 {
                sx += r[0] as f64;
                sy += r[1] as f64;
                k += 1;
            }
        }
        if out.len() < MAX_MODES {
            out.push([(sx / k as f64) as f32, (sy / k as f64) as f32]);
        }
    }
    out
}

/// Each value's minimum over the box of `radius` around it (separable).
fn min_filter(v: &[f32], w: usize, h: usize, radius: usize) -> Vec<f32> {
    let mut rows = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(radius), (x + radius + 1).min(w));
            rows[y * w + x] = v[y * w + a..y * w + b].iter().copied().fold(1.0, f32::min);
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(radius), (y + radius + 1).min(h));
        for x in 0..w {
            out[y * w + x] = (a..b).map(|k| rows[k * w + x]).fold(1.0, f32::min);
        }
    }
    out
}

/// Fills the values of weight below 1 from the weighted values around (push-pull over a
/// pyramid of 2x2 blocks).
pub fn push_pull<const N: usize>(v: &mut [[f32; N]], wt: &[f32], w: usize, h: usize) {
    if wt.iter().all(|&x| x >= 1.0) {
        return;
    }
    if wt.iter().all(|&x| x <= 0.0) {
        v.iter_mut().for_each(|p| *p = [0.0; N]);
        return;
    }
    if w <= 1 && h <= 1 {
        return;
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut cv = vec![[0f32; N]; cw * ch];
    let mut cwt = vec![0f32; cw * ch];
    for y in 0..h {
        for x in 0..w {
            let (i, c) = (y * w + x, (y / 2) * cw + x / 2);
            for k in 0..N {
                cv[c][k] += wt[i] * v[i][k];
            }
            cwt[c] += wt[i];
        }
    }
    for c in 0..cw * ch {
        if cwt[c] > 0.0 {
            for k in 0..N {
                cv[c][k] /= cwt[c];
            }
        }
        cwt[c] = cwt[c].min(1.0);
    }
    push_pull(&mut cv, &cwt, cw, ch);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if wt[i] >= 1.0 {
                continue;
            }
            // Bilinear from the coarse level (centres at 2 c + 0.5).
            let fx = ((x as f32 - 0.5) / 2.0).clamp(0.0, (cw - 1) as f32);
            let fy = ((y as f32 - 0.5) / 2.0).clamp(0.0, (ch - 1) as f32);
            let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            let a = wt[i].max(0.0);
            for k in 0..N {
                let b = cv[y0 * cw + x0][k] + ax * (cv[y0 * cw + x1][k] - cv[y0 * cw + x0][k]);
                let t = cv[y1 * cw + x0][k] + ax * (cv[y1 * cw + x1][k] - cv[y1 * cw + x0][k]);
                v[i][k] = a * v[i][k] + (1.0 - a) * (b + ay * (t - b));
            }
        }
    }
}

/// `img` (a level's size) with the pixels `valid` marks 0 (the subject) filled smoothly from
/// around, so that the flow model sees no subject to follow.
fn without_subject(img: &mut FloatImage, valid: &[f32]) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut px: Vec<[f32; 4]> = img
        .data
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    let wt: Vec<f32> = valid
        .iter()
        .map(|&v| if v >= 0.5 { 1.0 } else { 0.0 })
        .collect();
    push_pull(&mut px, &wt, w, h);
    for (d, p) in img.data.chunks_exact_mut(4).zip(px) {
        d.copy_from_slice(&p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pull_fills_a_gap_from_both_sides() {
        let (w, h) = (16, 4);
        let mut v = vec![[0f32; 2]; w * h];
        let mut wt = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                if x < 4 {
                    v[y * w + x] = [2.0, 0.0];
                    wt[y * w + x] = 1.0;
                } else if x >= 12 {
                    v[y * w + x] = [6.0, 0.0];
                    wt[y * w + x] = 1.0;
                }
            }
        }
        push_pull(&mut v, &wt, w, h);
        for y in 0..h {
            assert_eq!(v[y * w][0], 2.0);
            assert_eq!(v[y * w + 15][0], 6.0);
            let mid = v[y * w + 8][0];
            assert!(mid > 2.5 && mid < 5.5, "{mid}");
            for x in 1..w {
                assert!(v[y * w + x][0] >= v[y * w + x - 1][0] - 1e-4);
            }
        }
    }

    #[test]
    fn modes_find_two_layers() {
        let mut r = vec![[0f32; 2]; 100];
        let wt = vec![1f32; 100];
        for (i, v) in r.iter_mut().enumerate() {
            *v = if i < 60 { [0.1, 0.0] } else { [6.0, -0.2] };
        }
        let m = modes(&r, &wt);
        assert_eq!(m.len(), 2);
        assert!((m[0][0] - 0.1).abs() < 1e-4 && m[0][1].abs() < 1e-4);
        assert!((m[1][0] - 6.0).abs() < 1e-4 && (m[1][1] + 0.2).abs() < 1e-4);
    }
}
