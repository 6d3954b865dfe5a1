//! Face alignment: 5-point similarity fits to a template (Umeyama's least squares, rotation
//! only, never a reflection) and affine warps of a frame into a model crop (bilinear, edge
//! pixels replicated or transparent black outside the frame).
//!
//! Crops are top-down like tensors: crop point `(u, v)` has `v` going down the rows, and crop
//! pixel `(i, j)` (row `j` from the top) covers `[i, i+1) x [j, j+1)`. A warped crop is returned
//! as a [`FloatImage`] with bounds `(0, 0, width, height)`, so crop row `j` is image row
//! `height - 1 - j` (y up), which the pipeline packs back as tensor row `j`.
//! Frame points are OFX pixels, y up (see [`crate::face`]).

use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::manifest::{Alignment, Border};

use super::Face;

/// A 2-D affine map `p -> [[a, b], [c, d]] p + [tx, ty]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Affine {
    /// The identity.
    pub const IDENTITY: Affine = Affine {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// Applies the map to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a * x + self.b * y + self.tx,
            self.c * x + self.d * y + self.ty,
        )
    }

    /// `self` after `first`: `p -> self(first(p))`.
    pub fn after(&self, first: &Affine) -> Affine {
        Affine {
            a: self.a * first.a + self.b * first.c,
            b: self.a * first.b + self.b * first.d,
            c: self.c * first.a + self.d * first.c,
            d: self.c * first.b + self.d * first.d,
            tx: self.a * first.tx + self.b * first.ty + self.tx,
            ty: self.c * first.tx + self.d * first.ty + self.ty,
        }
    }

    /// Determinant of the linear part (negative for a reflection).
    pub fn determinant(&self) -> f64 {
        self.a * self.d - self.b * self.c
    }

    /// The inverse map; an error for a degenerate map.
    pub fn inverse(&self) -> Result<Affine> {
        let det = self.determinant();
        if !det.is_finite() || det.abs() < 1e-12 {
            return Err(Error::new(format!(
                "the face alignment is degenerate (determinant {det}): the face's points coincide"
            )));
        }
        let (a, b, c, d) = (self.d / det, -self.b / det, -self.c / det, self.a / det);
        Ok(Affine {
            a,
            b,
            c,
            d,
            tx: -(a * self.tx + b * self.ty),
            ty: -(c * self.tx + d * self.ty),
        })
    }

    /// Scale of a similarity (`sqrt(|det|)`).
    pub fn scale(&self) -> f64 {
        self.determinant().abs().sqrt()
    }

    /// The flip between frame coordinates (y up) and top-down coordinates: `(x, y) -> (x, -y)`.
    pub const FLIP_Y: Affine = Affine {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: -1.0,
        tx: 0.0,
        ty: 0.0,
    };
}

/// The similarity `x -> s R x + t` (rotation `R`, no reflection) that maps `src` onto `dst` with
/// the least squared error (Umeyama 1991, with the rotation kept proper). Needs at least two
/// distinct source points.
pub fn fit_similarity(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Result<Affine> {
    if src.len() != dst.len() || src.len() < 2 {
        return Err(Error::new(format!(
            "a similarity fit needs two equally long lists of at least 2 points (got {} and {})",
            src.len(),
            dst.len()
        )));
    }
    let n = src.len() as f64;
    let mean = |p: &[[f64; 2]]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + q[0], y + q[1]));
        (sx / n, sy / n)
    };
    let (mx, my) = mean(src);
    let (nx, ny) = mean(dst);
    let (mut dot, mut cross, mut var) = (0.0, 0.0, 0.0);
    for (p, q) in src.iter().zip(dst) {
        let (px, py) = (p[0] - mx, p[1] - my);
        let (qx, qy) = (q[0] - nx, q[1] - ny);
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
        var += px * px + py * py;
    }
    if var.is_nan() || var <= 1e-12 || !dot.is_finite() || !cross.is_finite() {
        return Err(Error::new(
            "the face's alignment points coincide (or are not finite); it cannot be aligned",
        ));
    }
    // The best rotation angle is atan2(cross, dot); the scale |(dot, cross)| / var.
    let norm = dot.hypot(cross);
    let (cos, sin) = if norm > 0.0 {
        (dot / norm, cross / norm)
    } else {
        (1.0, 0.0)
    };
    let s = norm / var;
    let (a, b, c, d) = (s * cos, -s * sin, s * sin, s * cos);
    Ok(Affine {
        a,
        b,
        c,
        d,
        tx: nx - (a * mx + b * my),
        ty: ny - (c * mx + d * my),
    })
}

/// Bilinear sample of `image` at continuous frame point `(x, y)` (y up; pixel centres at
/// `i + 0.5`). Outside the image: the nearest edge pixel (`Replicate`) or transparent black
/// (`Zero`, blended in over the last half pixel like a zero-padded image).
pub fn sample_bilinear(image: &FloatImage, x: f64, y: f64, border: Border) -> [f32; 4] {
    let bnd = image.bounds;
    if bnd.is_empty() || !x.is_finite() || !y.is_finite() {
        return [0.0; 4];
    }
    let fx = x - 0.5;
    let fy = y - 0.5;
    let x0 = fx.floor();
    let y0 = fy.floor();
    let (wx, wy) = ((fx - x0) as f32, (fy - y0) as f32);
    let (x0, y0) = (x0.clamp(-1e9, 1e9) as i64, y0.clamp(-1e9, 1e9) as i64);
    let fetch = |px: i64, py: i64| -> [f32; 4] {
        let inside =
            px >= bnd.x1 as i64 && px < bnd.x2 as i64 && py >= bnd.y1 as i64 && py < bnd.y2 as i64;
        if inside {
            image.pixel(px as i32, py as i32)
        } else {
            match border {
                Border::Zero => [0.0; 4],
                Border::Replicate => image.pixel(
                    px.clamp(bnd.x1 as i64, bnd.x2 as i64 - 1) as i32,
                    py.clamp(bnd.y1 as i64, bnd.y2 as i64 - 1) as i32,
                ),
            }
        }
    };
    let (p00, p10, p01, p11) = (
        fetch(x0, y0),
        fetch(x0 + 1, y0),
        fetch(x0, y0 + 1),
        fetch(x0 + 1, y0 + 1),
    );
    let mut out = [0.0; 4];
    for c in 0..4 {
        let bottom = p00[c] + wx * (p10[c] - p00[c]);
        let top = p01[c] + wx * (p11[c] - p01[c]);
        out[c] = bottom + wy * (top - bottom);
    }
    out
}

/// Warps `image` into a `width` x `height` top-down crop: crop pixel `(i, j)` takes the frame's
/// bilinear sample at `crop_to_frame(i + 0.5, j + 0.5)`. The result has bounds
/// `(0, 0, width, height)` (crop row `j` is image row `height - 1 - j`).
pub fn warp(
    image: &FloatImage,
    crop_to_frame: &Affine,
    width: u32,
    height: u32,
    border: Border,
) -> FloatImage {
    let bounds = Rect::from_size(width, height);
    let mut out = FloatImage::new(bounds);
    for j in 0..height {
        let row = out.row_mut((height - 1 - j) as i32);
        for (i, px) in row.chunks_exact_mut(4).enumerate() {
            let (x, y) = crop_to_frame.apply(i as f64 + 0.5, j as f64 + 0.5);
            px.copy_from_slice(&sample_bilinear(image, x, y, border));
        }
    }
    out
}

/// Pastes a model's square result back into `frame` through the inverse of a crop warp:
/// `result` (bounds from the origin, any size `r`) covers the crop `[0, crop_size]²` whose
/// points map to the frame by `frame_to_crop`'s inverse. Each frame pixel of `matte` with
/// weight `m = matte * amount > 0` takes the result's bilinear sample `s` as
/// `f + m (s - clamp(f, 0, 1))` per colour channel, so inside the result's range it is the
/// usual blend and values above 1 keep their excess over 1. Alpha and pixels where the
/// weight is 0 are not written.
pub fn paste_back(
    frame: &mut FloatImage,
    result: &FloatImage,
    crop_size: f64,
    frame_to_crop: &Affine,
    matte: &super::regions::Plane,
    amount: f32,
) {
    let r = result.width() as f64;
    let k = r / crop_size;
    let amount = amount.clamp(0.0, 1.0);
    let region = matte.bounds.intersect(&frame.bounds);
    for (x, y) in region.pixels() {
        let m = matte.get(x, y) * amount;
        if m <= 0.0 {
            continue;
        }
        let (u, v) = frame_to_crop.apply(x as f64 + 0.5, y as f64 + 0.5);
        // Top-down crop point -> the result image's own (y up) coordinates.
        let s = sample_bilinear(result, u * k, r - v * k, Border::Replicate);
        let o = frame.index(x, y);
        for (f, sv) in frame.data[o..o + 3].iter_mut().zip(s) {
            *f += m * (sv - f.clamp(0.0, 1.0));
        }
    }
}

/// A face aligned to a template: the crop and the maps between crop and frame.
#[derive(Clone, Debug, PartialEq)]
pub struct AlignedFace {
    /// The crop (bounds `(0, 0, size, size)`, top-down rows as described in the module docs).
    pub crop: FloatImage,
    /// Crop point `(u, v)` (v down) to frame point (y up).
    pub crop_to_frame: Affine,
    /// Frame point (y up) to crop point `(u, v)` (v down).
    pub frame_to_crop: Affine,
}

/// The map from frame points (y up) to template crop points (`template` x `size`, v down)
/// that best fits five face points, given in frame pixels in template order (the eye on the
/// image's left, the eye on the image's right, the nose tip, the mouth corner on the image's
/// left, on the image's right). It is a similarity of the top-down picture (no reflection).
pub fn template_transform(
    points: &[[f64; 2]; 5],
    template: &[[f32; 2]; 5],
    size: u32,
) -> Result<Affine> {
    let src: Vec<[f64; 2]> = points.iter().map(|p| [p[0], -p[1]]).collect();
    let dst: Vec<[f64; 2]> = template
        .iter()
        .map(|t| [t[0] as f64 * size as f64, t[1] as f64 * size as f64])
        .collect();
    Ok(fit_similarity(&src, &dst)?.after(&Affine::FLIP_Y))
}

/// Aligns a face to a template crop (manifest `alignment` kind `template`): fits the five
/// points (frame pixels, template order) and warps `image` with edge pixels replicated.
pub fn align_to_template(
    image: &FloatImage,
    points: &[[f64; 2]; 5],
    alignment: &Alignment,
) -> Result<AlignedFace> {
    let Alignment::Template { template, size } = alignment else {
        return Err(Error::new(
            "this model's alignment is not a 5-point template (kind 'template')",
        ));
    };
    let frame_to_crop = template_transform(points, template, *size)?;
    let crop_to_frame = frame_to_crop.inverse()?;
    Ok(AlignedFace {
        crop: warp(image, &crop_to_frame, *size, *size, Border::Replicate),
        crop_to_frame,
        frame_to_crop,
    })
}

/// A detection's five alignment points in template order, from its keypoints named
/// `right_eye`, `left_eye`, `nose_tip`, `mouth_right`, `mouth_left` (the subject's sides, so the
/// subject's right eye is on the image's left, as in InsightFace's order).
pub fn five_points(face: &Face) -> Result<[[f64; 2]; 5]> {
    let mut out = [[0.0; 2]; 5];
    for (slot, name) in out.iter_mut().zip([
        "right_eye",
        "left_eye",
        "nose_tip",
        "mouth_right",
        "mouth_left",
    ]) {
        let (x, y) = face.keypoint(name).ok_or_else(|| {
            Error::new(format!(
                "the face detection has no '{name}' keypoint (it has {}); a 5-point alignment needs \
                 right_eye, left_eye, nose_tip, mouth_right and mouth_left",
                face.keypoints
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        *slot = [x, y];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_fit_recovers_a_known_transform() {
        let (s, th, tx, ty) = (1.7f64, 0.4f64, 12.0, -3.0);
        let src = [
            [0.0, 0.0],
            [10.0, 1.0],
            [4.0, 7.0],
            [2.0, 12.0],
            [9.0, 11.0],
        ];
        let dst: Vec<[f64; 2]> = src
            .iter()
            .map(|p| {
                [
                    s * (th.cos() * p[0] - th.sin() * p[1]) + tx,
                    s * (th.sin() * p[0] + th.cos() * p[1]) + ty,
                ]
            })
            .collect();
        let m = fit_similarity(&src, &dst).unwrap();
        for (p, q) in src.iter().zip(&dst) {
            let (x, y) = m.apply(p[0], p[1]);
            assert!((x - q[0]).abs() < 1e-9 && (y - q[1]).abs() < 1e-9);
        }
        assert!((m.scale() - s).abs() < 1e-9);
        let inv = m.inverse().unwrap();
        let (x, y) = inv.apply(dst[2][0], dst[2][1]);
        assert!((x - 4.0).abs() < 1e-9 && (y - 7.0).abs() < 1e-9);
    }

    #[test]
    fn similarity_fit_never_reflects() {
        // Mirror-image points: the best proper similarity, not the reflection.
        let src = [[0.0, 0.0], [10.0, 0.0], [5.0, 5.0], [2.0, 9.0], [8.0, 9.0]];
        let dst: Vec<[f64; 2]> = src.iter().map(|p| [-p[0], p[1]]).collect();
        let m = fit_similarity(&src, &dst).unwrap();
        assert!(m.determinant() > 0.0);
        assert!(fit_similarity(&[[1.0, 1.0], [1.0, 1.0]], &[[0.0, 0.0], [1.0, 0.0]]).is_err());
    }

    #[test]
    fn warp_by_whole_pixels_copies_and_replicates_edges() {
        let img = FloatImage::from_fn(Rect::new(0, 0, 8, 6), |x, y| [x as f32, y as f32, 0.0, 1.0]);
        // Crop (u, v) -> frame (u + 2, 6 - v): an upright copy shifted right by 2.
        let m = Affine {
            a: 1.0,
            b: 0.0,
            c: 0.0,
            d: -1.0,
            tx: 2.0,
            ty: 6.0,
        };
        let out = warp(&img, &m, 8, 6, Border::Replicate);
        for (x, y) in out.bounds.pixels() {
            let want = [(x + 2).min(7) as f32, y as f32, 0.0, 1.0];
            assert_eq!(out.pixel(x, y), want, "({x},{y})");
        }
        let zero = warp(&img, &m, 8, 6, Border::Zero);
        assert_eq!(zero.pixel(7, 0), [0.0; 4]);
        assert_eq!(zero.pixel(5, 0), [7.0, 0.0, 0.0, 1.0]);
        // Half way between pixels: the average.
        let v = sample_bilinear(&img, 3.0, 2.5, Border::Replicate);
        assert!((v[0] - 2.5).abs() < 1e-6 && (v[1] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn paste_back_blends_inside_the_matte_and_keeps_values_above_one() {
        let mut frame = FloatImage::filled(Rect::new(0, 0, 8, 8), [0.2, 0.2, 0.2, 1.0]);
        frame.set_pixel(3, 3, [2.0, 0.2, 0.2, 1.0]);
        let before = frame.clone();
        // A 4x4 result covering the 8x8 crop, which is the frame turned top-down.
        let result = FloatImage::filled(Rect::new(0, 0, 4, 4), [0.5, 0.5, 0.5, 1.0]);
        let frame_to_crop = Affine {
            ty: 8.0,
            ..Affine::FLIP_Y
        };
        let mut matte = super::super::regions::Plane::new(Rect::new(2, 2, 6, 6));
        for v in &mut matte.data {
            *v = 1.0;
        }
        matte.data[0] = 0.0; // pixel (2, 2)
        paste_back(&mut frame, &result, 8.0, &frame_to_crop, &matte, 1.0);
        for (x, y) in frame.bounds.pixels() {
            let inside = (2..6).contains(&x) && (2..6).contains(&y) && (x, y) != (2, 2);
            if !inside {
                assert_eq!(frame.pixel(x, y), before.pixel(x, y), "({x},{y})");
            }
        }
        assert_eq!(frame.pixel(4, 4), [0.5, 0.5, 0.5, 1.0]);
        // 2.0 keeps its excess over 1 on top of the result.
        assert!((frame.pixel(3, 3)[0] - 1.5).abs() < 1e-6);
        // Half the amount: half way.
        let mut half = before.clone();
        paste_back(&mut half, &result, 8.0, &frame_to_crop, &matte, 0.5);
        assert!((half.pixel(4, 4)[1] - 0.35).abs() < 1e-6);
    }

    #[test]
    #[allow(clippy::excessive_precision)] // the published template's digits
    fn template_alignment_maps_points_onto_the_template() {
        let template = [
            [0.34191607, 0.46157411],
            [0.65653393, 0.45983393],
            [0.500225, 0.64050536],
            [0.3709759, 0.82469196],
            [0.63151696, 0.82325089],
        ];
        // An upright face in a y-up frame: eyes above (larger y) the mouth.
        let size = 112.0;
        let frame: [[f64; 2]; 5] = std::array::from_fn(|k| {
            [
                100.0 + 2.0 * template[k][0] as f64 * size,
                400.0 - 2.0 * template[k][1] as f64 * size,
            ]
        });
        let m = template_transform(&frame, &template, 112).unwrap();
        for k in 0..5 {
            let (u, v) = m.apply(frame[k][0], frame[k][1]);
            assert!((u - template[k][0] as f64 * size).abs() < 1e-6, "{k}: {u}");
            assert!((v - template[k][1] as f64 * size).abs() < 1e-6, "{k}: {v}");
        }
        assert!((m.scale() - 0.5).abs() < 1e-9);
    }
}
