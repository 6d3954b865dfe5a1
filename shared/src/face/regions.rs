//! Face regions from the 468-point face mesh: the face oval matte (feathered), the skin mask
//! (the oval without eyes, brows, lips and nostrils) and the under-eye bands.
//!
//! The index loops below are the outlines of MediaPipe's published face-mesh connection sets
//! (`mediapipe/python/solutions/face_mesh_connections.py` in the mediapipe 0.10.21 wheel,
//! Apache-2.0: `FACEMESH_FACE_OVAL`, `FACEMESH_LIPS`, `FACEMESH_LEFT_EYE`, `FACEMESH_RIGHT_EYE`,
//! `FACEMESH_LEFT_EYEBROW`, `FACEMESH_RIGHT_EYEBROW`, `FACEMESH_NOSE`), each edge set chained
//! into an ordered polygon (the two strands of a brow joined into one outline). "Left" and
//! "right" are the subject's, as in MediaPipe.

use crate::geometry::Rect;

/// Face outline, hairline over the cheek and chin and back.
pub const FACE_OVAL: [usize; 36] = [
    10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377,
    400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338,
];
/// Outer lip outline.
pub const LIPS_OUTER: [usize; 20] = [
    0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267,
];
/// Inner lip outline (the mouth opening).
pub const LIPS_INNER: [usize; 20] = [
    13, 82, 81, 80, 191, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312,
];
/// The subject's right eye (image left for a frontal face).
pub const RIGHT_EYE: [usize; 16] = [
    7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163,
];
/// The subject's left eye.
pub const LEFT_EYE: [usize; 16] = [
    249, 263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390,
];
/// Lower lid of the right eye, outer corner to inner corner.
pub const RIGHT_LOWER_LID: [usize; 9] = [33, 7, 163, 144, 145, 153, 154, 155, 133];
/// Lower lid of the left eye, outer corner to inner corner.
pub const LEFT_LOWER_LID: [usize; 9] = [263, 249, 390, 373, 374, 380, 381, 382, 362];
/// The subject's right brow: lower strand outer to inner, then the upper strand back.
pub const RIGHT_BROW: [usize; 10] = [46, 53, 52, 65, 55, 107, 66, 105, 63, 70];
/// The subject's left brow.
pub const LEFT_BROW: [usize; 10] = [276, 283, 282, 295, 285, 336, 296, 334, 293, 300];
/// Around the nostrils and the nose tip: the lower ring of `FACEMESH_NOSE`.
pub const NOSTRILS: [usize; 12] = [64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 2];

/// A single-channel float image over `bounds` (rows bottom-up, y up like
/// [`crate::image::FloatImage`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub bounds: Rect,
    pub data: Vec<f32>,
}

impl Plane {
    /// All zeros.
    pub fn new(bounds: Rect) -> Plane {
        Plane {
            bounds,
            data: vec![0.0; bounds.area()],
        }
    }

    /// The value at pixel `(x, y)`, 0 outside the bounds.
    pub fn get(&self, x: i32, y: i32) -> f32 {
        if self.bounds.contains(x, y) {
            self.data[self.idx(x, y)]
        } else {
            0.0
        }
    }

    fn idx(&self, x: i32, y: i32) -> usize {
        (y - self.bounds.y1) as usize * self.bounds.width() as usize + (x - self.bounds.x1) as usize
    }

    /// Sets every pixel whose centre lies inside `poly` (even-odd rule) to `value`.
    pub fn fill_polygon(&mut self, poly: &[[f64; 2]], value: f32) {
        if poly.len() < 3 {
            return;
        }
        let b = self.bounds;
        let w = b.width() as usize;
        let mut xs: Vec<f64> = Vec::new();
        for y in b.y1..b.y2 {
            let cy = y as f64 + 0.5;
            xs.clear();
            for i in 0..poly.len() {
                let (p, q) = (poly[i], poly[(i + 1) % poly.len()]);
                if (p[1] <= cy) != (q[1] <= cy) {
                    xs.push(p[0] + (cy - p[1]) / (q[1] - p[1]) * (q[0] - p[0]));
                }
            }
            xs.sort_by(f64::total_cmp);
            let row = (y - b.y1) as usize * w;
            for pair in xs.chunks_exact(2) {
                // Pixels whose centre x + 0.5 lies in [pair[0], pair[1]).
                let from = ((pair[0] - 0.5).ceil() as i64).max(b.x1 as i64);
                let to = ((pair[1] - 0.5).ceil() as i64).min(b.x2 as i64);
                for x in from..to {
                    self.data[row + (x - b.x1 as i64) as usize] = value;
                }
            }
        }
    }

    /// Box blur of `radius` pixels in x then y (values outside the bounds count as 0). Three
    /// passes approximate a Gaussian; the result is exactly 0 farther than `3 * radius` from any
    /// non-zero pixel.
    pub fn box_blur(&mut self, radius: usize) {
        if radius == 0 || self.data.is_empty() {
            return;
        }
        let (w, h) = (self.bounds.width() as usize, self.bounds.height() as usize);
        box_blur_plane(&mut self.data, w, h, radius);
    }
}

/// One box-blur pass in x then in y over a `w` x `h` plane, zeros outside. Running sums in
/// f64: along each row, then down every column at once (row by row, so memory is read in
/// order; each column's sums are the same as walking that column alone).
pub fn box_blur_plane(data: &mut [f32], w: usize, h: usize, radius: usize) {
    if w == 0 || h == 0 {
        return;
    }
    let norm = 1.0 / (2 * radius + 1) as f64;
    let mut line: Vec<f64> = Vec::with_capacity(w);
    for row in data.chunks_exact_mut(w) {
        line.clear();
        line.extend(row.iter().map(|&v| v as f64));
        let mut acc: f64 = line.iter().take(radius + 1).sum();
        for i in 0..w {
            row[i] = (acc * norm) as f32;
            if i + radius + 1 < w {
                acc += line[i + radius + 1];
            }
            if i >= radius {
                acc -= line[i - radius];
            }
        }
    }
    // Down the columns: `acc[x]` is column x's running sum, started as `Iterator::sum` starts.
    let src = data.to_vec();
    let row = |i: usize| &src[i * w..(i + 1) * w];
    let mut acc = vec![-0.0f64; w];
    for i in 0..(radius + 1).min(h) {
        for (a, &v) in acc.iter_mut().zip(row(i)) {
            *a += v as f64;
        }
    }
    for i in 0..h {
        for (d, a) in data[i * w..(i + 1) * w].iter_mut().zip(&acc) {
            *d = (a * norm) as f32;
        }
        if i + radius + 1 < h {
            for (a, &v) in acc.iter_mut().zip(row(i + radius + 1)) {
                *a += v as f64;
            }
        }
        if i >= radius {
            for (a, &v) in acc.iter_mut().zip(row(i - radius)) {
                *a -= v as f64;
            }
        }
    }
}

/// The points of `loop_` (indices into `points`), scaled about their centroid by `scale`.
pub fn outline(points: &[[f64; 3]], loop_: &[usize], scale: f64) -> Vec<[f64; 2]> {
    let pts: Vec<[f64; 2]> = loop_
        .iter()
        .filter_map(|&i| points.get(i).map(|p| [p[0], p[1]]))
        .collect();
    if pts.is_empty() {
        return pts;
    }
    let n = pts.len() as f64;
    let (cx, cy) = pts
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    pts.iter()
        .map(|p| [cx + (p[0] - cx) * scale, cy + (p[1] - cy) * scale])
        .collect()
}

/// Width of a face in pixels: the distance between the outer eye corners times 2 (a stable
/// measure under turns and expressions), at least 1.
pub fn face_size(points: &[[f64; 3]]) -> f64 {
    let (a, b) = (points.get(33), points.get(263));
    match (a, b) {
        (Some(a), Some(b)) => (2.0 * (a[0] - b[0]).hypot(a[1] - b[1])).max(1.0),
        _ => 1.0,
    }
}

/// The pixel rectangle that holds the face oval of `points` grown by `margin` pixels.
pub fn face_rect(points: &[[f64; 3]], margin: f64) -> Rect {
    let oval = outline(points, &FACE_OVAL, 1.0);
    if oval.is_empty() {
        return Rect::EMPTY;
    }
    let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in &oval {
        x1 = x1.min(p[0]);
        y1 = y1.min(p[1]);
        x2 = x2.max(p[0]);
        y2 = y2.max(p[1]);
    }
    Rect::new(
        (x1 - margin).floor() as i32,
        (y1 - margin).floor() as i32,
        (x2 + margin).ceil() as i32,
        (y2 + margin).ceil() as i32,
    )
}

/// Feather radius (of each of the three box passes) for a face: 1.5 % of its size, at least 1.
pub fn feather_radius(points: &[[f64; 3]]) -> usize {
    ((face_size(points) * 0.015).round() as usize).max(1)
}

/// The face matte over `bounds`: the face oval shrunk so that its feathered edge (three box
/// passes of [`feather_radius`]) ends at the oval, blurred. 1 well inside the face, 0 outside
/// the oval and exactly 0 beyond it.
pub fn face_matte(points: &[[f64; 3]], bounds: Rect) -> Plane {
    let mut m = Plane::new(bounds);
    let r = feather_radius(points);
    // Shrink the oval by about the blur's reach so the matte stays inside the face outline.
    let size = face_size(points).max(1.0);
    let oval = outline(points, &FACE_OVAL, 1.0);
    let n = oval.len().max(1) as f64;
    let (cx, cy) = oval
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    let shrink = (1.5 * r as f64) / (size * 0.75);
    let oval: Vec<[f64; 2]> = oval
        .iter()
        .map(|p| {
            let f = 1.0 - shrink;
            [cx + (p[0] - cx) * f, cy + (p[1] - cy) * f]
        })
        .collect();
    m.fill_polygon(&oval, 1.0);
    for _ in 0..3 {
        m.box_blur(r);
    }
    m
}

/// The parts of a face that are not skin (eyes, brows, lips, nostrils), each outline scaled a
/// little about its centre, grown by one [`feather_radius`] and feathered outwards (three box
/// passes) so that their own edges get weight 1. Kept tight: the retouch's edge-preserving
/// filter already leaves the features' strong edges alone, and skin close to the eyes (crow's
/// feet, the lower lids' folds) and the nose is skin to retouch.
pub fn features_mask(points: &[[f64; 3]], bounds: Rect) -> Plane {
    let mut m = Plane::new(bounds);
    for (poly, scale) in [
        (&RIGHT_EYE[..], 1.35),
        (&LEFT_EYE[..], 1.35),
        (&RIGHT_BROW[..], 1.2),
        (&LEFT_BROW[..], 1.2),
        (&LIPS_OUTER[..], 1.1),
        (&NOSTRILS[..], 1.1),
    ] {
        m.fill_polygon(&outline(points, poly, scale), 1.0);
    }
    let r = feather_radius(points);
    // Grow by one box pass's reach first (a blurred copy thresholded), then feather outwards.
    m.box_blur(r);
    for v in &mut m.data {
        *v = if *v > 0.0 { 1.0 } else { 0.0 };
    }
    for _ in 0..3 {
        m.box_blur(r);
    }
    // Back to 1 on the grown area: only the outside fades.
    for v in &mut m.data {
        *v = (*v * 2.0).min(1.0);
    }
    m
}

/// Skin weight: face matte times (1 - features).
pub fn skin_mask(points: &[[f64; 3]], bounds: Rect) -> Plane {
    let mut skin = face_matte(points, bounds);
    let feats = features_mask(points, bounds);
    for (s, f) in skin.data.iter_mut().zip(&feats.data) {
        *s *= 1.0 - f;
    }
    skin
}

/// The bands under both eyes where shadows sit: the lower lid pushed down the face (towards the
/// mouth) by 45 % of the eye's width, feathered. 0 on the eye itself.
pub fn under_eye_mask(points: &[[f64; 3]], bounds: Rect) -> Plane {
    let mut m = Plane::new(bounds);
    let mouth = points.get(13).map(|p| [p[0], p[1]]).unwrap_or([0.0, 0.0]);
    for lid in [&RIGHT_LOWER_LID[..], &LEFT_LOWER_LID[..]] {
        let pts = outline(points, lid, 1.0);
        if pts.len() < 2 {
            continue;
        }
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        let width = (first[0] - last[0]).hypot(first[1] - last[1]);
        let n = pts.len() as f64;
        let (cx, cy) = pts
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
        let (dx, dy) = (mouth[0] - cx, mouth[1] - cy);
        let len = dx.hypot(dy).max(1e-9);
        let (ux, uy) = (dx / len * width * 0.45, dy / len * width * 0.45);
        let mut poly: Vec<[f64; 2]> = pts
            .iter()
            .map(|p| [p[0] + ux * 0.15, p[1] + uy * 0.15])
            .collect();
        poly.extend(pts.iter().rev().map(|p| [p[0] + ux, p[1] + uy]));
        m.fill_polygon(&poly, 1.0);
    }
    let r = (feather_radius(points) / 2).max(1);
    for _ in 0..3 {
        m.box_blur(r);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_fill_covers_pixel_centres_inside() {
        let mut p = Plane::new(Rect::new(0, 0, 10, 10));
        p.fill_polygon(&[[2.0, 2.0], [6.0, 2.0], [6.0, 5.0], [2.0, 5.0]], 1.0);
        let inside: f32 = p.data.iter().sum();
        assert_eq!(inside, 12.0);
        assert_eq!(p.get(2, 2), 1.0);
        assert_eq!(p.get(5, 4), 1.0);
        assert_eq!(p.get(6, 4), 0.0);
        assert_eq!(p.get(1, 3), 0.0);
    }

    #[test]
    fn blur_keeps_mass_and_reach() {
        let mut p = Plane::new(Rect::new(0, 0, 41, 41));
        let i = p.idx(20, 20);
        p.data[i] = 1.0;
        for _ in 0..3 {
            p.box_blur(2);
        }
        let sum: f32 = p.data.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5);
        assert_eq!(p.get(20 + 7, 20), 0.0);
        assert!(p.get(20 + 6, 20) > 0.0);
    }

    /// The blur as one column at a time (the reference the row-ordered pass must equal).
    fn box_blur_by_columns(data: &mut [f32], w: usize, h: usize, radius: usize) {
        let norm = 1.0 / (2 * radius + 1) as f64;
        let pass = |data: &mut [f32], n: usize, count: usize, stride: usize, step: usize| {
            for k in 0..count {
                let base = k * stride;
                let line: Vec<f64> = (0..n).map(|i| data[base + i * step] as f64).collect();
                let mut acc: f64 = line.iter().take(radius + 1).sum();
                for i in 0..n {
                    data[base + i * step] = (acc * norm) as f32;
                    if i + radius + 1 < n {
                        acc += line[i + radius + 1];
                    }
                    if i >= radius {
                        acc -= line[i - radius];
                    }
                }
            }
        };
        pass(data, w, h, w, 1);
        pass(data, h, w, 1, w);
    }

    #[test]
    fn row_ordered_blur_equals_the_column_walk_bit_for_bit() {
        for (w, h, r) in [(37, 23, 3), (5, 40, 7), (40, 5, 2), (1, 1, 4), (64, 64, 20)] {
            let data: Vec<f32> = (0..w * h)
                .map(|i| (((i * 7919) % 1009) as f32 / 1009.0 - 0.3) * 1e3f32.powi((i % 3) as i32))
                .collect();
            let (mut a, mut b) = (data.clone(), data);
            box_blur_plane(&mut a, w, h, r);
            box_blur_by_columns(&mut b, w, h, r);
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{w}x{h} r {r}"
            );
        }
    }

    #[test]
    fn index_lists_are_in_the_mesh() {
        for l in [
            &FACE_OVAL[..],
            &LIPS_OUTER[..],
            &LIPS_INNER[..],
            &RIGHT_EYE[..],
            &LEFT_EYE[..],
            &RIGHT_BROW[..],
            &LEFT_BROW[..],
            &NOSTRILS[..],
            &RIGHT_LOWER_LID[..],
            &LEFT_LOWER_LID[..],
        ] {
            assert!(l.iter().all(|&i| i < 468));
        }
    }
}
