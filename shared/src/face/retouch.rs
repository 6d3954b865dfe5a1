//! Landmark-guided skin retouch: edge-preserving smoothing (a self-guided filter, He et al.
//! 2010) on the skin region only (eyes, brows, lips and nostrils excluded), under-eye shadows
//! lifted towards the surrounding skin, and the jaw line drawn in a little (landmark-driven
//! reshaping), all scaled by `amount`.
//!
//! The filter works on sRGB-encoded values (extended above 1, so HDR highlights keep their
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

/// Retouch settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retouch {
    /// Overall strength, 0 (nothing) to 1.
    pub amount: f32,
}

/// Guided-filter window radius for a face of `size` pixels: 2.5 % of it, at least 1.
fn smoothing_radius(size: f64) -> usize {
    ((size * 0.025).round() as usize).max(1)
}

/// The frame pixels [`retouch_face`] reads and may change for the face mesh `points` (before
/// clipping to the frame): the face oval grown by the filters' reach. A frame image holding
/// this rectangle (or the frame's part of it) gives the same result as the whole frame.
pub fn retouch_rect(points: &[[f64; 3]]) -> Rect {
    let size = face_size(points);
    face_rect(points, size * 0.1 + 3.0 * smoothing_radius(size) as f64)
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
    let r = smoothing_radius(size);
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
    let eps = 0.08f32 * 0.08;
    let shadow_r = ((size * 0.06).round() as usize).max(1);
    let mut ones_shadow = vec![1.0f32; w * h];
    box_blur_plane(&mut ones_shadow, w, h, shadow_r);
    let mut ones = vec![1.0f32; w * h];
    box_blur_plane(&mut ones, w, h, r);
    // The three channels are independent: each on its own thread (the same values whatever
    // the threads do).
    let channel = |p: &Vec<f32>| -> Vec<f32> {
        let smooth = guided_filter_with(
            &guided_filter_with(p, &ones, w, h, r, eps),
            &ones,
            w,
            h,
            r,
            eps,
        );
        let surround = box_mean(&smooth, &ones_shadow, w, h, shadow_r);
        (0..w * h)
            .map(|i| {
                let lift = (surround[i] - smooth[i]).max(0.0) * 0.7 * under.data[i];
                p[i] + amount * (skin.data[i] * (smooth[i] - p[i]) + lift)
            })
            .collect()
    };
    let smoothed: Vec<Vec<f32>> = std::thread::scope(|scope| {
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
        out
    });
    let new_planes = reshape(&smoothed, region, points, amount * RESHAPE, &matte);
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
/// functions around the jaw points, sigma 10 % of the face size) resampled bilinearly, weighted
/// by the face matte so nothing outside it moves. `planes` are RGB planes over `region`.
pub fn reshape(
    planes: &[Vec<f32>],
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
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let at = |xx: f64, yy: f64| {
                    (yy.clamp(0.0, h as f64 - 1.0) as usize) * w
                        + xx.clamp(0.0, w as f64 - 1.0) as usize
                };
                let (a, b, c, d) = (
                    at(x0, y0),
                    at(x0 + 1.0, y0),
                    at(x0, y0 + 1.0),
                    at(x0 + 1.0, y0 + 1.0),
                );
                for (o, p) in dst.iter_mut().zip(planes) {
                    let top = p[a] + fx * (p[b] - p[a]);
                    let bottom = p[c] + fx * (p[d] - p[c]);
                    o[k - first * w] = top + fy * (bottom - top);
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
