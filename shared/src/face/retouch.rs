//! Landmark-guided skin retouch that keeps the skin's texture. The skin is split into three
//! frequency bands relative to the face size: the fine band (pores, grain: what a small Gaussian
//! blur removes), the wrinkle band (wrinkles, blotches, uneven tone: the fine-band-free image
//! less its edge-preserving low band, a self-guided filter after He et al. 2010) and the low
//! band (shading). `amount` is the share of the wrinkle band that goes, on the skin only (eyes,
//! brows, lips and nostrils excluded); the fine band is left exactly as it was, so the result
//! still reads as skin. Under-eye shadows are lifted towards the surrounding skin in the
//! low band, and the jaw line is drawn in a little (landmark-driven reshaping), both scaled by
//! `amount`.
//!
//! The bands are taken of sRGB-encoded values (extended above 1, so HDR highlights keep their
//! range); what goes back into the frame is the change, added to the frame's own values, and
//! only where the face matte is above 0: every other pixel is left exactly as it was.

use super::regions::{
    Plane, box_blur_plane, face_matte, face_rect, face_size, features_mask, under_eye_mask,
};
use crate::colour::{ColourSpace, linear_to_srgb, srgb_to_linear};
use crate::geometry::Rect;
use crate::image::FloatImage;

/// Normalised box mean of a plane (edges: the mean of the pixels inside).
fn box_mean(data: &[f32], ones: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut out = data.to_vec();
    box_blur_plane(&mut out, w, h, r);
    for (o, n) in out.iter_mut().zip(ones) {
        *o /= n.max(1e-6);
    }
    out
}

/// Self-guided filter of one plane with window radius `r` and regulariser `eps`.
pub fn guided_filter(p: &[f32], w: usize, h: usize, r: usize, eps: f32) -> Vec<f32> {
    let mut ones = vec![1.0f32; w * h];
    box_blur_plane(&mut ones, w, h, r);
    guided_filter_with(p, &ones, w, h, r, eps)
}

/// [`guided_filter`] with the box blur of a plane of ones (`ones`, radius `r`) given.
fn guided_filter_with(p: &[f32], ones: &[f32], w: usize, h: usize, r: usize, eps: f32) -> Vec<f32> {
    let mean = box_mean(p, ones, w, h, r);
    let sq: Vec<f32> = p.iter().map(|v| v * v).collect();
    let corr = box_mean(&sq, ones, w, h, r);
    let mut a = vec![0.0f32; w * h];
    let mut b = vec![0.0f32; w * h];
    for i in 0..w * h {
        let var = (corr[i] - mean[i] * mean[i]).max(0.0);
        a[i] = var / (var + eps);
        b[i] = mean[i] - a[i] * mean[i];
    }
    let ma = box_mean(&a, ones, w, h, r);
    let mb = box_mean(&b, ones, w, h, r);
    (0..w * h).map(|i| ma[i] * p[i] + mb[i]).collect()
}

/// Gaussian blur of a `w` x `h` plane with standard deviation `sigma` pixels: taps out to
/// 3 sigma, normalised, edges clamped; x then y, summed in a fixed order.
pub fn gaussian_blur(p: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    if w == 0 || h == 0 || sigma <= 0.0 {
        return p.to_vec();
    }
    let r = (3.0 * sigma).ceil() as usize;
    let mut taps: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-0.5 * d * d / (sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = taps.iter().sum();
    for t in &mut taps {
        *t /= total;
    }
    // Along the rows: each row padded with its end values, then one pass per tap.
    let mut tmp = vec![0.0f32; w * h];
    let mut line = vec![0.0f32; w + 2 * r];
    for (src, dst) in p.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
        line[..r].fill(src[0]);
        line[r..r + w].copy_from_slice(src);
        line[r + w..].fill(src[w - 1]);
        for (k, t) in taps.iter().enumerate() {
            for (d, s) in dst.iter_mut().zip(&line[k..k + w]) {
                *d += t * s;
            }
        }
    }
    // Down the columns, row by row (memory read in order).
    let mut out = vec![0.0f32; w * h];
    for (y, dst) in out.chunks_exact_mut(w).enumerate() {
        for (k, t) in taps.iter().enumerate() {
            let sy = (y + k).saturating_sub(r).min(h - 1);
            for (d, s) in dst.iter_mut().zip(&tmp[sy * w..(sy + 1) * w]) {
                *d += t * s;
            }
        }
    }
    out
}

/// Retouch settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retouch {
    /// Overall strength, 0 (nothing) to 1: the share of the skin's wrinkle band taken out (and
    /// how far under-eye shadows are lifted and the jaw drawn in). Strong contours within the
    /// skin stay in the low band, so on real portraits the wrinkle band's energy drops by about
    /// `amount` (tests/tests/face_texture.rs measures it).
    pub amount: f32,
}

/// Where the retouch splits a face of `size` pixels (see [`face_size`]) into bands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandScales {
    /// Gaussian sigma below which detail is the fine band (pores, grain): 1 % of the face size,
    /// at least 0.8 pixels.
    pub fine_sigma: f32,
    /// Guided-filter window radius above which detail is the low band (shading, shadows): 8 %
    /// of the face size, at least 2 pixels. Between the two lies the wrinkle band.
    pub low_radius: usize,
    /// Radius of the surround that under-eye shadows are lifted towards: 6 % of the face.
    pub shadow_radius: usize,
}

impl BandScales {
    /// The band scales for a face `size` pixels wide.
    pub fn for_face(size: f64) -> BandScales {
        BandScales {
            fine_sigma: ((size * 0.01) as f32).max(0.8),
            low_radius: ((size * 0.08).round() as usize).max(2),
            shadow_radius: ((size * 0.06).round() as usize).max(1),
        }
    }

    /// How far around the face the retouch reads: the fine blur's taps and a guided-filter
    /// window (what lies farther only reaches the matte's feathered edge, where the skin weight
    /// is low, through the coefficients' own window).
    pub fn reach(&self) -> usize {
        (3.0 * self.fine_sigma).ceil() as usize + self.low_radius
    }
}

/// The guided filter's regulariser on sRGB-encoded values: wrinkle-band structure much weaker
/// than a standard deviation of 0.1 in its window is taken out; stronger edges (the nose's
/// sides, the features) stay in the low band and are kept.
const EDGE_EPS: f32 = 0.1 * 0.1;

/// The retouch of one face's `w` x `h` working planes, shared by its three channels: the band
/// scales, and the box blurs of a plane of ones that the normalised means divide by.
pub struct PlaneRetouch {
    w: usize,
    h: usize,
    scales: BandScales,
    ones: Vec<f32>,
    ones_shadow: Vec<f32>,
}

impl PlaneRetouch {
    /// Set up for planes of `w` x `h` pixels and the band scales of their face.
    pub fn new(w: usize, h: usize, scales: BandScales) -> PlaneRetouch {
        let mut ones = vec![1.0f32; w * h];
        box_blur_plane(&mut ones, w, h, scales.low_radius);
        let mut ones_shadow = vec![1.0f32; w * h];
        box_blur_plane(&mut ones_shadow, w, h, scales.shadow_radius);
        PlaneRetouch {
            w,
            h,
            scales,
            ones,
            ones_shadow,
        }
    }

    /// Retouches plane `p` (sRGB-encoded): the wrinkle band taken out by `amount` where `skin`
    /// (0 to 1) says, under-eye shadows lifted by `amount` where `under` says, the fine band
    /// untouched. Returns the retouched plane and the plane's fine band.
    pub fn run(&self, p: &[f32], skin: &[f32], under: &[f32], amount: f32) -> (Vec<f32>, Vec<f32>) {
        let (w, h, r) = (self.w, self.h, self.scales.low_radius);
        // Without the fine band; then its edge-preserving low band.
        let base = gaussian_blur(p, w, h, self.scales.fine_sigma);
        let low = guided_filter_with(
            &guided_filter_with(&base, &self.ones, w, h, r, EDGE_EPS),
            &self.ones,
            w,
            h,
            r,
            EDGE_EPS,
        );
        let surround = box_mean(&low, &self.ones_shadow, w, h, self.scales.shadow_radius);
        let retouched = (0..w * h)
            .map(|i| {
                let wrinkle = base[i] - low[i];
                let lift = (surround[i] - low[i]).max(0.0) * 0.7 * under[i];
                p[i] + amount * (lift - skin[i] * wrinkle)
            })
            .collect();
        let fine = p.iter().zip(&base).map(|(v, b)| v - b).collect();
        (retouched, fine)
    }
}

/// The frame pixels [`retouch_face`] reads and may change for the face mesh `points` (before
/// clipping to the frame): the face oval grown by the filters' reach. A frame image holding
/// this rectangle (or the frame's part of it) gives the same result as the whole frame.
pub fn retouch_rect(points: &[[f64; 3]]) -> Rect {
    let size = face_size(points);
    face_rect(
        points,
        size * 0.1 + BandScales::for_face(size).reach() as f64,
    )
}

/// Retouches one face of `frame` in place (pixels in the `colour` encoding; `points` the face
/// mesh in frame pixels) and returns the face matte it worked within, over the face's
/// rectangle. Pixels where that matte is 0 are not written.
pub fn retouch_face(
    frame: &mut FloatImage,
    colour: ColourSpace,
    points: &[[f64; 3]],
    settings: Retouch,
) -> Plane {
    let size = face_size(points);
    let scales = BandScales::for_face(size);
    let region = retouch_rect(points).intersect(&frame.bounds);
    let amount = settings.amount.clamp(0.0, 1.0);
    if region.is_empty() || amount <= 0.0 {
        return face_matte(points, region);
    }
    // The three masks are independent: the features and the under-eye bands on threads of
    // their own.
    let (matte, features, under) = std::thread::scope(|s| {
        let features = s.spawn(|| features_mask(points, region));
        let under = s.spawn(|| under_eye_mask(points, region));
        let matte = face_matte(points, region);
        (
            matte,
            features.join().expect("the features mask thread panicked"),
            under.join().expect("the under-eye mask thread panicked"),
        )
    });
    // Skin weight: the face matte without the features (as `regions::skin_mask`).
    let mut skin = matte.clone();
    for (v, f) in skin.data.iter_mut().zip(&features.data) {
        *v *= 1.0 - f;
    }
    let (w, h) = (region.width() as usize, region.height() as usize);
    let encode = |v: f32| match colour {
        ColourSpace::Linear => linear_to_srgb(v),
        ColourSpace::Srgb => v,
    };
    let decode = |v: f32| match colour {
        ColourSpace::Linear => srgb_to_linear(v),
        ColourSpace::Srgb => v,
    };
    // Working planes (encoded).
    let mut planes = vec![vec![0.0f32; w * h]; 3];
    for y in region.y1..region.y2 {
        let row = frame.row(y);
        let off = (region.x1 - frame.bounds.x1) as usize * 4;
        for x in 0..w {
            for (c, plane) in planes.iter_mut().enumerate() {
                plane[(y - region.y1) as usize * w + x] = encode(row[off + 4 * x + c]);
            }
        }
    }
    // The three channels are independent: each on its own thread (the same values whatever
    // the threads do).
    let filter = PlaneRetouch::new(w, h, scales);
    let channel = |p: &Vec<f32>| filter.run(p, &skin.data, &under.data, amount);
    let (retouched, fine): (Vec<Vec<f32>>, Vec<Vec<f32>>) = std::thread::scope(|scope| {
        let handles: Vec<_> = planes[1..]
            .iter()
            .map(|p| scope.spawn(move || channel(p)))
            .collect();
        let mut out = vec![channel(&planes[0])];
        out.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("a retouch channel thread panicked")),
        );
        out.into_iter().unzip()
    });
    let new_planes = reshape(&retouched, &fine, region, points, amount * RESHAPE, &matte);
    for y in region.y1..region.y2 {
        let off = (region.x1 - frame.bounds.x1) as usize * 4;
        let row_i = (y - region.y1) as usize * w;
        let row = frame.row_mut(y);
        for x in 0..w {
            let m = matte.data[row_i + x];
            if m <= 0.0 {
                continue;
            }
            for c in 0..3 {
                let (before, after) = (planes[c][row_i + x], new_planes[c][row_i + x]);
                if before != after {
                    let v = &mut row[off + 4 * x + c];
                    *v += m * (decode(after) - decode(before));
                }
            }
        }
    }
    matte
}

/// Jaw points of the face oval (MediaPipe mesh indices, cheek to cheek under the chin).
pub const JAW: [usize; 17] = [
    132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361,
];
/// How far the jaw is drawn towards the nose tip at amount 1, as a fraction of its distance.
pub const RESHAPE: f32 = 0.03;

/// Subtle landmark-driven reshaping: the jaw line drawn towards the nose tip by `strength` of
/// its distance (a slimmer, firmer jaw), as a smooth displacement field (Gaussian radial
/// functions around the jaw points, sigma 10 % of the face size), weighted by the face matte so
/// nothing outside it moves. `planes` are RGB planes over `region` and `fine` their fine bands
/// (grain, pores): the rest of each plane is resampled bilinearly, the fine band from the
/// nearest pixel, so that the texture keeps its contrast where the jaw moves (bilinear
/// resampling at a fractional offset would blur it).
pub fn reshape(
    planes: &[Vec<f32>],
    fine: &[Vec<f32>],
    region: Rect,
    points: &[[f64; 3]],
    strength: f32,
    matte: &Plane,
) -> Vec<Vec<f32>> {
    if strength <= 0.0 || points.len() < 468 {
        return planes.to_vec();
    }
    let (w, h) = (region.width() as usize, region.height() as usize);
    let nose = points[1];
    let sigma = face_size(points) * 0.1;
    let handles: Vec<([f64; 2], [f64; 2])> = JAW
        .iter()
        .map(|&i| {
            let p = points[i];
            let v = [
                (nose[0] - p[0]) * strength as f64,
                (nose[1] - p[1]) * strength as f64,
            ];
            // The displaced position pulls from where the jaw was.
            ([p[0] + v[0], p[1] + v[1]], v)
        })
        .collect();
    let mut out = planes.to_vec();
    if w == 0 || h == 0 || planes.is_empty() {
        return out;
    }
    // The Gaussian weight of handle `c` at pixel (x, y) is separable:
    // exp(-(x - cx)^2 / 2s^2) * exp(-(y - cy)^2 / 2s^2). The column factors are computed once
    // per handle and column, the row factors once per handle and row.
    let falloff = |d: f64| (-(d * d) / (2.0 * sigma * sigma)).exp();
    let column_weights: Vec<Vec<f64>> = handles
        .iter()
        .map(|(c, _)| {
            (0..w)
                .map(|i| falloff(region.x1 as f64 + i as f64 + 0.5 - c[0]))
                .collect()
        })
        .collect();
    // Bands of rows on every core; each output pixel depends on the input planes only.
    let band = h.div_ceil(crate::fused::threads_for(w * h));
    // Rows `first..first + rows` of every output plane (`dst[c]` holds them for plane c).
    let reshape_band = |first: usize, rows: usize, mut dst: Vec<&mut [f32]>| {
        for j in first..first + rows {
            let y = region.y1 as f64 + j as f64 + 0.5;
            let row_weights: Vec<f64> = handles.iter().map(|(c, _)| falloff(y - c[1])).collect();
            for i in 0..w {
                let k = j * w + i;
                let m = matte.data[k];
                if m <= 0.0 {
                    continue;
                }
                let (mut dx, mut dy, mut total) = (0.0, 0.0, 0.0);
                for (((_, v), columns), row) in
                    handles.iter().zip(&column_weights).zip(&row_weights)
                {
                    let g = columns[i] * row;
                    dx += g * v[0];
                    dy += g * v[1];
                    total += g;
                }
                let norm = total.max(1.0);
                let (ddx, ddy) = (m as f64 * dx / norm, m as f64 * dy / norm);
                if ddx * ddx + ddy * ddy < 0.05 * 0.05 {
                    // Too small to see: keep the pixel rather than resample it.
                    continue;
                }
                let (sx, sy) = (i as f64 - ddx, j as f64 - ddy);
                let near = at_clamped(sx.round(), sy.round(), w, h);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let (a, b, c, d) = (
                    at_clamped(x0, y0, w, h),
                    at_clamped(x0 + 1.0, y0, w, h),
                    at_clamped(x0, y0 + 1.0, w, h),
                    at_clamped(x0 + 1.0, y0 + 1.0, w, h),
                );
                for ((o, p), f) in dst.iter_mut().zip(planes).zip(fine) {
                    // The plane less its fine band, bilinearly; its fine band, nearest.
                    let s = |n: usize| p[n] - f[n];
                    let top = s(a) + fx * (s(b) - s(a));
                    let bottom = s(c) + fx * (s(d) - s(c));
                    o[k - first * w] = top + fy * (bottom - top) + f[near];
                }
            }
        }
    };
    let mut chunks: Vec<_> = out.iter_mut().map(|p| p.chunks_mut(band * w)).collect();
    let mut bands: Vec<Vec<&mut [f32]>> = (0..h.div_ceil(band))
        .map(|_| chunks.iter_mut().filter_map(|c| c.next()).collect())
        .collect();
    let first = bands.remove(0);
    let reshape_band = &reshape_band;
    std::thread::scope(|s| {
        for (k, dst) in bands.into_iter().enumerate() {
            let start = (k + 1) * band;
            s.spawn(move || reshape_band(start, band.min(h - start), dst));
        }
        reshape_band(0, band.min(h), first);
    });
    out
}

/// The index of pixel (`x`, `y`) of a `w` x `h` plane, the position clamped into it.
fn at_clamped(x: f64, y: f64, w: usize, h: usize) -> usize {
    (y.clamp(0.0, h as f64 - 1.0) as usize) * w + x.clamp(0.0, w as f64 - 1.0) as usize
}

/// The union (maximum) of several faces' mattes over `bounds`.
pub fn union_matte(mattes: &[Plane], bounds: Rect) -> Plane {
    let mut out = Plane::new(bounds);
    for m in mattes {
        let r = m.bounds.intersect(&bounds);
        for y in r.y1..r.y2 {
            for x in r.x1..r.x2 {
                let i =
                    (y - bounds.y1) as usize * bounds.width() as usize + (x - bounds.x1) as usize;
                out.data[i] = out.data[i].max(m.get(x, y));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_blur_keeps_flat_planes_and_spreads_a_point_by_sigma() {
        let (w, h) = (41usize, 31usize);
        let flat = gaussian_blur(&vec![0.25f32; w * h], w, h, 1.7);
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let mut point = vec![0.0f32; w * h];
        point[15 * w + 20] = 1.0;
        let q = gaussian_blur(&point, w, h, 2.0);
        let total: f32 = q.iter().sum();
        let var: f32 = q
            .iter()
            .enumerate()
            .map(|(i, v)| v * ((i % w) as f32 - 20.0).powi(2))
            .sum();
        assert!((total - 1.0).abs() < 1e-5, "total {total}");
        // Taps cut at 3 sigma: the variance a little under sigma^2 = 4.
        assert!((var - 4.0).abs() < 0.15, "variance {var}");
        assert_eq!(q[15 * w + 21], q[15 * w + 19]);
        assert_eq!(q[16 * w + 20], q[14 * w + 20]);
    }

    /// A skin-like plane for a face 200 pixels wide: 0.5 with a pixel checker of +-0.01 (grain),
    /// a dark blotch (a Gaussian spot 0.06 deep, sigma 3 px) at (50, 80) and a contour (a step up
    /// of 0.35 from x = 110).
    fn skin_plane(w: usize, h: usize) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let grain = if (i % w + i / w).is_multiple_of(2) {
                    0.01
                } else {
                    -0.01
                };
                let d2 = (x - 50.0).powi(2) + (y - 80.0).powi(2);
                let blotch = -0.06 * (-d2 / (2.0 * 9.0)).exp();
                let step = if x >= 110.0 { 0.35 } else { 0.0 };
                0.5 + grain + blotch + step
            })
            .collect()
    }

    #[test]
    fn plane_retouch_takes_out_blotches_by_the_amount_and_keeps_grain_and_contours() {
        let (w, h) = (160usize, 160usize);
        let p = skin_plane(w, h);
        let skin = vec![1.0f32; w * h];
        let under = vec![0.0f32; w * h];
        let scales = BandScales::for_face(200.0);
        assert_eq!((scales.fine_sigma, scales.low_radius), (2.0, 16));
        let at = |v: &[f32], x: usize, y: usize| v[y * w + x];
        // Blotch depth: its centre against the plane's level 15 px away.
        let depth = |v: &[f32]| at(v, 50, 80) - at(v, 65, 80);
        // Grain: the checker's swing between neighbours, away from blotch and contour.
        let grain = |v: &[f32]| at(v, 20, 20) - at(v, 21, 20);
        // Contour: the step between its two pixels (its sharpness).
        let step = |v: &[f32]| at(v, 110, 80) - at(v, 109, 80);
        let mut figures = Vec::new();
        for amount in [0.5f32, 1.0] {
            let (out, fine) = PlaneRetouch::new(w, h, scales).run(&p, &skin, &under, amount);
            // The fine band is the plane less its Gaussian blur.
            let base = gaussian_blur(&p, w, h, scales.fine_sigma);
            assert!(
                fine.iter()
                    .zip(&p)
                    .zip(&base)
                    .all(|((f, v), b)| *f == v - b)
            );
            figures.push((
                depth(&out) / depth(&p),
                grain(&out) / grain(&p),
                step(&out) / step(&p),
            ));
        }
        let ((depth_half, grain_half, step_half), (depth_one, grain_one, step_one)) =
            (figures[0], figures[1]);
        eprintln!(
            "blotch depth, grain swing, contour sharpness kept: amount 0.5 {depth_half:.3} {grain_half:.3} {step_half:.3}, amount 1 {depth_one:.3} {grain_one:.3} {step_one:.3}"
        );
        // Amount 1: the blotch gone; the grain kept; the contour as sharp within 15 % (its own
        // fine band stays, and the guided filter keeps most of its wrinkle-band part).
        assert!(depth_one < 0.25, "blotch depth kept {depth_one:.3}");
        assert!(grain_one > 0.95, "grain kept {grain_one:.3}");
        assert!(step_one > 0.85, "contour sharpness kept {step_one:.3}");
        // Amount 0.5: about half the blotch.
        assert!(
            (depth_half - 0.5).abs() < 0.15,
            "blotch depth kept {depth_half:.3} at amount 0.5"
        );
        assert!(
            grain_half > 0.97,
            "grain kept {grain_half:.3} at amount 0.5"
        );
        assert!(
            step_half > 0.93,
            "contour sharpness kept {step_half:.3} at amount 0.5"
        );
    }

    #[test]
    fn plane_retouch_changes_nothing_off_the_skin_and_under_eyes() {
        let (w, h) = (60usize, 50usize);
        let p: Vec<f32> = skin_plane(100, 100)[..w * h].to_vec();
        let zero = vec![0.0f32; w * h];
        let filter = PlaneRetouch::new(w, h, BandScales::for_face(120.0));
        let (out, _) = filter.run(&p, &zero, &zero, 1.0);
        assert!(out.iter().zip(&p).all(|(a, b)| a == b));
    }

    #[test]
    fn guided_filter_keeps_flat_and_steps_and_removes_small_texture() {
        let (w, h) = (40usize, 20usize);
        // A step of 0.5 with a small checker texture of amplitude 0.01.
        let p: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let base = if x < 20 { 0.2 } else { 0.7 };
                base + if (x + y) % 2 == 0 { 0.01 } else { -0.01 }
            })
            .collect();
        let q = guided_filter(&p, w, h, 3, 0.05 * 0.05);
        // Texture mostly gone far from the step.
        let tex = |v: &[f32]| (v[5 * w + 5] - v[5 * w + 6]).abs();
        assert!(tex(&q) < 0.3 * tex(&p), "{} vs {}", tex(&q), tex(&p));
        // Step kept.
        let step = q[10 * w + 25] - q[10 * w + 14];
        assert!(step > 0.45, "step {step}");
    }
}
