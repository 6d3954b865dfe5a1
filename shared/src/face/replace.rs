//! Face replacement: another face warped onto the target's landmarks piecewise affinely over a
//! Delaunay triangulation of the target's points, colour-matched (mean and standard deviation
//! per channel inside the face matte, on sRGB-encoded values) and blended in through the
//! feathered face matte, as it is or seamlessly ([`super::blend`]).

use super::align::sample_bilinear;
use super::blend::{Blend, paste_seamless};
use super::regions::{Plane, face_matte, face_rect, face_size};
use crate::colour::{ColourSpace, linear_to_srgb, srgb_to_linear};
use crate::image::FloatImage;
use crate::manifest::Border;

/// Delaunay triangulation (Bowyer-Watson) of `points`; triangles as index triples,
/// counter-clockwise. Duplicate points are skipped.
pub fn delaunay(points: &[[f64; 2]]) -> Vec<[usize; 3]> {
    let n = points.len();
    if n < 3 {
        return Vec::new();
    }
    let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in points {
        x1 = x1.min(p[0]);
        y1 = y1.min(p[1]);
        x2 = x2.max(p[0]);
        y2 = y2.max(p[1]);
    }
    let d = (x2 - x1).max(y2 - y1).max(1.0) * 20.0;
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let mut pts: Vec<[f64; 2]> = points.to_vec();
    pts.push([cx - d, cy - d]);
    pts.push([cx + d, cy - d]);
    pts.push([cx, cy + d]);
    let ccw = |t: [usize; 3], pts: &[[f64; 2]]| {
        let (a, b, c) = (pts[t[0]], pts[t[1]], pts[t[2]]);
        let cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if cross < 0.0 { [t[0], t[2], t[1]] } else { t }
    };
    let in_circle = |t: &[usize; 3], p: [f64; 2], pts: &[[f64; 2]]| {
        let (a, b, c) = (pts[t[0]], pts[t[1]], pts[t[2]]);
        let (ax, ay) = (a[0] - p[0], a[1] - p[1]);
        let (bx, by) = (b[0] - p[0], b[1] - p[1]);
        let (cx, cy) = (c[0] - p[0], c[1] - p[1]);
        let det = (ax * ax + ay * ay) * (bx * cy - cx * by)
            - (bx * bx + by * by) * (ax * cy - cx * ay)
            + (cx * cx + cy * cy) * (ax * by - bx * ay);
        det > 0.0
    };
    let mut tris: Vec<[usize; 3]> = vec![ccw([n, n + 1, n + 2], &pts)];
    for i in 0..n {
        let p = pts[i];
        if pts[..i].iter().any(|q| q[0] == p[0] && q[1] == p[1]) {
            continue;
        }
        let (bad, good): (Vec<[usize; 3]>, Vec<[usize; 3]>) =
            tris.into_iter().partition(|t| in_circle(t, p, &pts));
        tris = good;
        // Boundary edges of the cavity: edges of bad triangles not shared by another bad one.
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for t in &bad {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                if let Some(k) = edges.iter().position(|&(x, y)| x == b && y == a) {
                    edges.swap_remove(k);
                } else {
                    edges.push((a, b));
                }
            }
        }
        for (a, b) in edges {
            tris.push(ccw([a, b, i], &pts));
        }
    }
    tris.retain(|t| t.iter().all(|&v| v < n));
    tris
}

/// Warps `source` so that its points `src` land on `dst` (piecewise affine over `triangles`
/// of `dst`), into `out` over the pixels of `region` inside the triangulation; returns the
/// coverage (1 inside a triangle, else 0).
pub fn warp_piecewise(
    source: &FloatImage,
    src: &[[f64; 2]],
    dst: &[[f64; 2]],
    triangles: &[[usize; 3]],
    out: &mut FloatImage,
    region: crate::geometry::Rect,
) -> Plane {
    let mut covered = Plane::new(region);
    let w = region.width() as usize;
    for t in triangles {
        let (a, b, c) = (dst[t[0]], dst[t[1]], dst[t[2]]);
        let det = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]);
        if det.abs() < 1e-9 {
            continue;
        }
        let xs = [a[0], b[0], c[0]];
        let ys = [a[1], b[1], c[1]];
        let bx1 = (xs.iter().cloned().fold(f64::MAX, f64::min) - 0.5).floor() as i32;
        let bx2 = (xs.iter().cloned().fold(f64::MIN, f64::max) + 0.5).ceil() as i32;
        let by1 = (ys.iter().cloned().fold(f64::MAX, f64::min) - 0.5).floor() as i32;
        let by2 = (ys.iter().cloned().fold(f64::MIN, f64::max) + 0.5).ceil() as i32;
        for y in by1.max(region.y1)..by2.min(region.y2) {
            for x in bx1.max(region.x1)..bx2.min(region.x2) {
                let idx = (y - region.y1) as usize * w + (x - region.x1) as usize;
                if covered.data[idx] > 0.0 {
                    continue;
                }
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let l1 = ((b[0] - px) * (c[1] - py) - (c[0] - px) * (b[1] - py)) / det;
                let l2 = ((c[0] - px) * (a[1] - py) - (a[0] - px) * (c[1] - py)) / det;
                let l3 = 1.0 - l1 - l2;
                let e = -1e-9;
                if l1 < e || l2 < e || l3 < e {
                    continue;
                }
                let (sa, sb, sc) = (src[t[0]], src[t[1]], src[t[2]]);
                let sx = l1 * sa[0] + l2 * sb[0] + l3 * sc[0];
                let sy = l1 * sa[1] + l2 * sb[1] + l3 * sc[1];
                let v = sample_bilinear(source, sx, sy, Border::Replicate);
                let o = out.index(x, y);
                out.data[o..o + 3].copy_from_slice(&v[..3]);
                covered.data[idx] = 1.0;
            }
        }
    }
    covered
}

/// Replaces the face at `target_points` in `frame` with the face at `source_points` of
/// `source` (both images in the `colour` encoding), scaled by `amount` and blended as `blend`
/// says; returns the matte it blended through. Pixels where the matte is 0 are not written.
pub fn replace_face(
    frame: &mut FloatImage,
    colour: ColourSpace,
    target_points: &[[f64; 3]],
    source: &FloatImage,
    source_points: &[[f64; 3]],
    amount: f32,
    blend: Blend,
) -> Plane {
    let size = face_size(target_points);
    let region = face_rect(target_points, size * 0.05 + 2.0).intersect(&frame.bounds);
    let mut matte = face_matte(target_points, region);
    if region.is_empty() || source_points.len() != target_points.len() {
        for v in &mut matte.data {
            *v = 0.0;
        }
        return matte;
    }
    let dst: Vec<[f64; 2]> = target_points.iter().map(|p| [p[0], p[1]]).collect();
    let src: Vec<[f64; 2]> = source_points.iter().map(|p| [p[0], p[1]]).collect();
    let tris = delaunay(&dst);
    let mut warped = FloatImage::new(region);
    let covered = warp_piecewise(source, &src, &dst, &tris, &mut warped, region);
    for (m, c) in matte.data.iter_mut().zip(&covered.data) {
        *m *= c;
    }
    let encode = |v: f32| match colour {
        ColourSpace::Linear => linear_to_srgb(v),
        ColourSpace::Srgb => v,
    };
    let decode = |v: f32| match colour {
        ColourSpace::Linear => srgb_to_linear(v),
        ColourSpace::Srgb => v,
    };
    // Colour statistics inside the matte (weighted), encoded values.
    let mut stats = [[0.0f64; 5]; 3]; // sum w, sum w t, sum w t^2, sum w s, sum w s^2
    for (x, y) in region.pixels() {
        let i = (y - region.y1) as usize * region.width() as usize + (x - region.x1) as usize;
        let w = matte.data[i] as f64;
        if w <= 0.0 {
            continue;
        }
        let (t, s) = (frame.pixel(x, y), warped.pixel(x, y));
        for c in 0..3 {
            let (tv, sv) = (encode(t[c]) as f64, encode(s[c]) as f64);
            let st = &mut stats[c];
            st[0] += w;
            st[1] += w * tv;
            st[2] += w * tv * tv;
            st[3] += w * sv;
            st[4] += w * sv * sv;
        }
    }
    let mut gain = [1.0f32; 3];
    let mut offset = [0.0f32; 3];
    for c in 0..3 {
        let st = stats[c];
        if st[0] <= 0.0 {
            continue;
        }
        let (mt, ms) = (st[1] / st[0], st[3] / st[0]);
        let vt = (st[2] / st[0] - mt * mt).max(0.0).sqrt();
        let vs = (st[4] / st[0] - ms * ms).max(0.0).sqrt();
        let g = if vs > 1e-6 { vt / vs } else { 1.0 };
        gain[c] = g as f32;
        offset[c] = (mt - g * ms) as f32;
    }
    let amount = amount.clamp(0.0, 1.0);
    if blend == Blend::Seamless {
        for (x, y) in region.pixels() {
            let o = warped.index(x, y);
            for c in 0..3 {
                warped.data[o + c] = decode(gain[c] * encode(warped.data[o + c]) + offset[c]);
            }
        }
        paste_seamless(frame, &warped, &covered, &matte, amount);
        return matte;
    }
    for (x, y) in region.pixels() {
        let i = (y - region.y1) as usize * region.width() as usize + (x - region.x1) as usize;
        let m = matte.data[i] * amount;
        if m <= 0.0 {
            continue;
        }
        let s = warped.pixel(x, y);
        let o = frame.index(x, y);
        for c in 0..3 {
            let t = frame.data[o + c];
            let matched = decode(gain[c] * encode(s[c]) + offset[c]);
            frame.data[o + c] = t + m * (matched - t);
        }
    }
    matte
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    #[test]
    fn delaunay_of_a_grid_covers_it() {
        let pts: Vec<[f64; 2]> = (0..25)
            .map(|i| {
                [
                    (i % 5) as f64 * 10.0 + 0.01 * (i as f64),
                    (i / 5) as f64 * 10.0,
                ]
            })
            .collect();
        let tris = delaunay(&pts);
        assert_eq!(tris.len(), 32);
        let area: f64 = tris
            .iter()
            .map(|t| {
                let (a, b, c) = (pts[t[0]], pts[t[1]], pts[t[2]]);
                ((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2.0
            })
            .sum();
        assert!(area > 0.0 && (area - 1600.0).abs() < 2.0, "area {area}");
    }

    #[test]
    fn piecewise_warp_of_a_translation_moves_pixels() {
        let src_img = FloatImage::from_fn(Rect::new(0, 0, 40, 40), |x, y| {
            [x as f32, y as f32, 0.0, 1.0]
        });
        let src = vec![[5.0, 5.0], [25.0, 5.0], [25.0, 25.0], [5.0, 25.0]];
        let dst: Vec<[f64; 2]> = src.iter().map(|p| [p[0] + 3.0, p[1] + 2.0]).collect();
        let tris = delaunay(&dst);
        let region = Rect::new(0, 0, 40, 40);
        let mut out = FloatImage::new(region);
        let cov = warp_piecewise(&src_img, &src, &dst, &tris, &mut out, region);
        assert_eq!(cov.get(15, 15), 1.0);
        assert_eq!(cov.get(2, 2), 0.0);
        let p = out.pixel(15, 15);
        assert!(
            (p[0] - 12.0).abs() < 1e-4 && (p[1] - 13.0).abs() < 1e-4,
            "{p:?}"
        );
    }
}
