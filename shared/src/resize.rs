//! Resampling and reframing working images: bilinear resize (pixel-centre aligned, as OpenCV's
//! `INTER_LINEAR`), padding to a multiple of a size with edge replication, and cropping.

use crate::geometry::Rect;
use crate::image::FloatImage;

/// Resizes `src` to `width` x `height` with bilinear interpolation; the result keeps the
/// source's origin `(x1, y1)`. See [`resize_to`].
pub fn resize(src: &FloatImage, width: u32, height: u32) -> FloatImage {
    let b = src.bounds;
    resize_to(
        src,
        Rect::new(b.x1, b.y1, b.x1 + width as i32, b.y1 + height as i32),
    )
}

/// Resamples `src` so that its whole area maps onto `dst_bounds`, with bilinear interpolation.
///
/// Pixel centres are aligned like OpenCV `INTER_LINEAR`: destination pixel `d` samples source
/// coordinate `(d + 0.5) * src_size / dst_size - 0.5`, clamped to the edge pixels. Same size is
/// an exact copy, and a constant image stays exactly constant. (Strong downscaling aliases, as
/// with OpenCV; that is the behaviour models trained on OpenCV-resized inputs expect.)
/// An empty source gives a transparent black result.
pub fn resize_to(src: &FloatImage, dst_bounds: Rect) -> FloatImage {
    if dst_bounds.is_empty() {
        return FloatImage::new(Rect::EMPTY);
    }
    if src.bounds.is_empty() {
        return FloatImage::new(dst_bounds);
    }
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    let (dw, dh) = (dst_bounds.width() as usize, dst_bounds.height() as usize);
    if (sw, sh) == (dw, dh) {
        return FloatImage {
            bounds: dst_bounds,
            data: src.data.clone(),
        };
    }
    let xs = taps(sw, dw);
    let ys = taps(sh, dh);
    let mut out = FloatImage::new(dst_bounds);
    let stride = 4 * sw;
    for (dy, &(y0, y1, fy)) in ys.iter().enumerate() {
        let r0 = &src.data[y0 * stride..(y0 + 1) * stride];
        let r1 = &src.data[y1 * stride..(y1 + 1) * stride];
        let drow = &mut out.data[dy * 4 * dw..(dy + 1) * 4 * dw];
        for (d, &(x0, x1, fx)) in drow.chunks_exact_mut(4).zip(&xs) {
            for c in 0..4 {
                let a = r0[4 * x0 + c];
                let b = r0[4 * x1 + c];
                let p = r1[4 * x0 + c];
                let q = r1[4 * x1 + c];
                let top = a + fx * (b - a);
                let bot = p + fx * (q - p);
                d[c] = top + fy * (bot - top);
            }
        }
    }
    out
}

/// For each destination index: (left source index, right source index, weight of the right).
fn taps(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let i = f.floor();
            let frac = (f - i) as f32;
            let i = i as i64;
            if i < 0 {
                (0, 0, 0.0)
            } else if i as usize >= src - 1 {
                (src - 1, src - 1, 0.0)
            } else {
                (i as usize, i as usize + 1, frac)
            }
        })
        .collect()
}

/// Pads `src` by edge replication so its width and height are multiples of `multiple`.
///
/// Padding goes on the right (`x2`) and at the image bottom (`y1`, which is the tensor's last
/// rows, since tensors are top-down), so the tensor's top-left pixel stays the image's
/// top-left. Returns the padded image and the rect to [`crop`] the model's result back to
/// (the original bounds). `multiple` 0 or 1 pads nothing.
pub fn pad_to_multiple(src: &FloatImage, multiple: u32) -> (FloatImage, Rect) {
    let b = src.bounds;
    if multiple <= 1 || b.is_empty() {
        return (src.clone(), b);
    }
    let m = multiple as i64;
    let round_up = |v: u32| ((v as i64 + m - 1) / m * m) as i32;
    let (pw, ph) = (round_up(b.width()), round_up(b.height()));
    let padded = Rect::new(b.x1, b.y2 - ph, b.x1 + pw, b.y2);
    (crop(src, padded), b)
}

/// The part of `src` inside `rect`, as a new image with bounds `rect`. Parts of `rect` outside
/// the source repeat the nearest edge pixel (so this also pads); an empty source gives
/// transparent black.
pub fn crop(src: &FloatImage, rect: Rect) -> FloatImage {
    let mut out = FloatImage::new(rect);
    let sb = src.bounds;
    if rect.is_empty() || sb.is_empty() {
        return out;
    }
    let ox1 = rect.x1.max(sb.x1);
    let ox2 = rect.x2.min(sb.x2);
    for y in rect.y1..rect.y2 {
        let srow = src.row(y.clamp(sb.y1, sb.y2 - 1));
        let drow = out.row_mut(y);
        if ox1 < ox2 {
            let a = 4 * (ox1 - rect.x1) as usize;
            let b = 4 * (ox2 - rect.x1) as usize;
            let sa = 4 * (ox1 - sb.x1) as usize;
            drow[a..b].copy_from_slice(&srow[sa..sa + (b - a)]);
            let left: [f32; 4] = drow[a..a + 4].try_into().unwrap();
            let right: [f32; 4] = drow[b - 4..b].try_into().unwrap();
            drow[..a]
                .chunks_exact_mut(4)
                .for_each(|p| p.copy_from_slice(&left));
            drow[b..]
                .chunks_exact_mut(4)
                .for_each(|p| p.copy_from_slice(&right));
        } else {
            let sx = 4 * (rect.x1.clamp(sb.x1, sb.x2 - 1) - sb.x1) as usize;
            let px: [f32; 4] = srow[sx..sx + 4].try_into().unwrap();
            drow.chunks_exact_mut(4)
                .for_each(|p| p.copy_from_slice(&px));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::Rng;

    fn random(b: Rect, seed: u64) -> FloatImage {
        let mut rng = Rng(seed);
        FloatImage::from_fn(b, |_, _| {
            [rng.unit(), rng.unit() * 3.0, rng.unit() - 0.5, rng.unit()]
        })
    }

    #[test]
    fn same_size_is_identity() {
        let img = random(Rect::new(-3, 2, 14, 9), 1);
        assert_eq!(resize(&img, 17, 7), img);
        let moved = resize_to(&img, Rect::new(0, 0, 17, 7));
        assert_eq!(moved.data, img.data);
        assert_eq!(moved.bounds, Rect::new(0, 0, 17, 7));
    }

    #[test]
    fn constants_stay_constant() {
        let img = FloatImage::filled(Rect::new(0, 0, 13, 7), [0.1, 0.7, 3.3, 0.9]);
        for (w, h) in [(1, 1), (5, 3), (26, 14), (100, 3), (7, 13)] {
            let r = resize(&img, w, h);
            assert_eq!(r.bounds, Rect::from_size(w, h));
            assert!(
                r.data.chunks_exact(4).all(|p| p == [0.1, 0.7, 3.3, 0.9]),
                "{w}x{h}"
            );
        }
    }

    #[test]
    fn matches_opencv_linear() {
        // 1-D ramp 0..3 upscaled 2x: OpenCV INTER_LINEAR gives these values
        let img = FloatImage::from_fn(Rect::new(0, 0, 4, 1), |x, _| [x as f32; 4]);
        let r = resize(&img, 8, 1);
        let got: Vec<f32> = r.data.chunks_exact(4).map(|p| p[0]).collect();
        assert_eq!(got, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
        // 2x downscale averages pairs
        let img = FloatImage::from_fn(Rect::new(0, 0, 8, 2), |x, y| [(x + 10 * y) as f32; 4]);
        let r = resize(&img, 4, 1);
        let got: Vec<f32> = r.data.chunks_exact(4).map(|p| p[0]).collect();
        assert_eq!(got, vec![5.5, 7.5, 9.5, 11.5]);
    }

    #[test]
    fn linear_ramps_are_reproduced_inside() {
        // bilinear interpolation reproduces an affine function away from the clamped edges
        let img = FloatImage::from_fn(Rect::new(0, 0, 10, 10), |x, y| {
            [x as f32, y as f32, (x + y) as f32, 1.0]
        });
        let r = resize(&img, 25, 25);
        let s = 10.0 / 25.0;
        for (x, y) in Rect::new(2, 2, 23, 23).pixels() {
            let p = r.pixel(x, y);
            let (ex, ey) = ((x as f32 + 0.5) * s - 0.5, (y as f32 + 0.5) * s - 0.5);
            assert!(
                (p[0] - ex).abs() < 1e-5 && (p[1] - ey).abs() < 1e-5,
                "({x},{y}) {p:?}"
            );
        }
    }

    #[test]
    fn pad_and_crop_back() {
        let b = Rect::new(5, 3, 18, 12); // 13 x 9
        let img = random(b, 3);
        let (padded, back) = pad_to_multiple(&img, 8);
        assert_eq!(back, b);
        assert_eq!(padded.bounds, Rect::new(5, -4, 21, 12)); // 16 x 16, top-left kept
        assert_eq!(padded.width() % 8, 0);
        assert_eq!(padded.height() % 8, 0);
        for (x, y) in padded.bounds.pixels() {
            assert_eq!(padded.pixel(x, y), img.pixel_clamped(x, y));
        }
        assert_eq!(crop(&padded, back), img);
        // already a multiple: unchanged
        let (same, r) = pad_to_multiple(&padded, 8);
        assert_eq!(same, padded);
        assert_eq!(r, padded.bounds);
        let (same, _) = pad_to_multiple(&img, 1);
        assert_eq!(same, img);
    }

    #[test]
    fn crop_inside_and_outside() {
        let img = random(Rect::new(0, 0, 6, 5), 4);
        let c = crop(&img, Rect::new(1, 2, 4, 4));
        for (x, y) in c.bounds.pixels() {
            assert_eq!(c.pixel(x, y), img.pixel(x, y));
        }
        for r in [
            Rect::new(-5, -5, -1, 2),
            Rect::new(7, 6, 9, 9),
            Rect::new(-2, 1, 10, 3),
        ] {
            let c = crop(&img, r);
            for (x, y) in r.pixels() {
                assert_eq!(c.pixel(x, y), img.pixel_clamped(x, y));
            }
        }
        assert_eq!(
            crop(&FloatImage::new(Rect::EMPTY), Rect::new(0, 0, 2, 2)),
            FloatImage::new(Rect::new(0, 0, 2, 2))
        );
    }

    #[test]
    fn resize_round_trip_of_smooth_image_is_close() {
        let img = FloatImage::from_fn(Rect::new(0, 0, 64, 48), |x, y| {
            let (u, v) = (x as f32 / 64.0, y as f32 / 48.0);
            [(u * 3.0).sin() * 0.5 + 0.5, v, u * v, 1.0]
        });
        let up = resize(&img, 128, 96);
        let back = resize(&up, 64, 48);
        assert!(
            back.max_abs_diff(&img) < 0.01,
            "{}",
            back.max_abs_diff(&img)
        );
        assert!(resize(&img, 0, 5).data.is_empty());
    }
}
