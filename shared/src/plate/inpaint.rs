//! Filling what no frame shows.
//!
//! With an inpainting model of LaMa's public contract (`image` Bx3xHxW RGB and `mask`
//! Bx1xHxW, 1 where to fill; output the filled image, described by its manifest), the hole's
//! bounding box with a margin of context is cut out, run through the model (fitted to its size
//! by the manifest) and the result is written into the hole.
//!
//! Without one, the built-in fill runs: multi-scale PatchMatch texture synthesis
//! ([`super::texture`]), which gives a large hole the grain and structure of the background
//! around it rather than a blur.
//!
//! Confidence of an invented pixel: `0.5 * exp(-d / 16)` with `d` its distance in pixels from
//! the nearest real pixel.

use super::PlateOptions;
use crate::colour::{ColourSpace, convert_rgba};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::manifest::Output;
use crate::pipeline::{InferRequest, InferencePipeline};
use crate::resize::resize_to;
use crate::tensor::Layout;

/// Fills the `unknown` pixels of `image` (RGB; alpha untouched); returns a confidence per pixel
/// (meaningful where `unknown`).
pub fn fill(image: &mut FloatImage, unknown: &[bool], opts: &PlateOptions) -> Result<Vec<f32>> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if unknown.iter().all(|&u| u) {
        return Err(Error::new(
            "the matte covers the whole frame: nothing is left to build a plate from",
        ));
    }
    match opts.inpaint_model {
        Some(model) => model_fill(model, image, unknown, opts.frame_colour)?,
        None => builtin_fill(image, unknown, w, h),
    }
    let d = distance(unknown, w, h);
    Ok(d.iter().map(|&d| 0.5 * (-d / 16.0).exp()).collect())
}

/// The built-in fill: [`super::texture`] on the frame's RGB.
fn builtin_fill(image: &mut FloatImage, unknown: &[bool], w: usize, h: usize) {
    let mut rgb: Vec<[f32; 3]> = image
        .data
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    super::texture::fill(&mut rgb, unknown, w, h);
    for (i, p) in rgb.iter().enumerate() {
        if unknown[i] {
            image.data[4 * i..4 * i + 3].copy_from_slice(p);
        }
    }
}

/// Multi-scale diffusion of the known pixels into the unknown ones (push-pull down a pyramid
/// of means of known pixels, then Gauss-Seidel relaxation of Laplace's equation at every level
/// on the way up): a smooth membrane that meets the hole's border.
pub(crate) fn push_pull(rgb: &[[f32; 3]], known: &[bool], w: usize, h: usize) -> Vec<[f32; 3]> {
    let mut out = rgb.to_vec();
    if known.iter().all(|&k| k) || !known.iter().any(|&k| k) {
        return out;
    }
    // Coarser level: means of known pixels.
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut crgb = vec![[0f32; 3]; hw * hh];
    let mut cknown = vec![false; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let (mut s, mut n) = ([0f32; 3], 0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (sx, sy) = (2 * x + dx, 2 * y + dy);
                if sx < w && sy < h && known[sy * w + sx] {
                    for c in 0..3 {
                        s[c] += rgb[sy * w + sx][c];
                    }
                    n += 1;
                }
            }
            if n > 0 {
                crgb[y * hw + x] = s.map(|v| v / n as f32);
                cknown[y * hw + x] = true;
            }
        }
    }
    let coarse = if (hw, hh) == (w, h) {
        crgb
    } else {
        push_pull(&crgb, &cknown, hw, hh)
    };
    // Up: unknown pixels from the coarse level (bilinear), then relax.
    for y in 0..h {
        for x in 0..w {
            if known[y * w + x] {
                continue;
            }
            let fx = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (hw - 1) as f32);
            let fy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (hh - 1) as f32);
            let (x0, y0) = (fx as usize, fy as usize);
            let (x1, y1) = ((x0 + 1).min(hw - 1), (y0 + 1).min(hh - 1));
            let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let a = coarse[y0 * hw + x0][c] * (1.0 - wx) + coarse[y0 * hw + x1][c] * wx;
                let b = coarse[y1 * hw + x0][c] * (1.0 - wx) + coarse[y1 * hw + x1][c] * wx;
                out[y * w + x][c] = a * (1.0 - wy) + b * wy;
            }
        }
    }
    let holes: Vec<usize> = (0..w * h).filter(|&i| !known[i]).collect();
    for _ in 0..8 {
        for &i in &holes {
            let (x, y) = (i % w, i / w);
            let (mut s, mut n) = ([0f32; 3], 0f32);
            for (nx, ny) in [
                (x.wrapping_sub(1), y),
                (x + 1, y),
                (x, y.wrapping_sub(1)),
                (x, y + 1),
            ] {
                if nx < w && ny < h {
                    for c in 0..3 {
                        s[c] += out[ny * w + nx][c];
                    }
                    n += 1.0;
                }
            }
            out[i] = s.map(|v| v / n);
        }
    }
    out
}

/// Chamfer (3-4) distance in pixels from each pixel to the nearest pixel not in `mask`.
pub fn distance(mask: &[bool], w: usize, h: usize) -> Vec<f32> {
    let big = 1e9f32;
    let mut d: Vec<f32> = mask.iter().map(|&m| if m { big } else { 0.0 }).collect();
    let at = |x: i64, y: i64| -> Option<usize> {
        (x >= 0 && y >= 0 && x < w as i64 && y < h as i64).then(|| y as usize * w + x as usize)
    };
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let i = y as usize * w + x as usize;
            for (dx, dy, c) in [
                (-1, 0, 1.0),
                (0, -1, 1.0),
                (-1, -1, std::f32::consts::SQRT_2),
                (1, -1, std::f32::consts::SQRT_2),
            ] {
                if let Some(j) = at(x + dx, y + dy) {
                    d[i] = d[i].min(d[j] + c);
                }
            }
        }
    }
    for y in (0..h as i64).rev() {
        for x in (0..w as i64).rev() {
            let i = y as usize * w + x as usize;
            for (dx, dy, c) in [
                (1, 0, 1.0),
                (0, 1, 1.0),
                (1, 1, std::f32::consts::SQRT_2),
                (-1, 1, std::f32::consts::SQRT_2),
            ] {
                if let Some(j) = at(x + dx, y + dy) {
                    d[i] = d[i].min(d[j] + c);
                }
            }
        }
    }
    d
}

/// Fill through an inpainting model of LaMa's contract.
fn model_fill(
    model: &InferencePipeline,
    image: &mut FloatImage,
    unknown: &[bool],
    frame_colour: ColourSpace,
) -> Result<()> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let b = image.bounds;
    // Hole bounding box (array coordinates), grown by half its size (at least 32 px) of context.
    let (mut x1, mut y1, mut x2, mut y2) = (w, h, 0, 0);
    for (i, _) in unknown.iter().enumerate().filter(|(_, u)| **u) {
        let (x, y) = (i % w, i / w);
        x1 = x1.min(x);
        y1 = y1.min(y);
        x2 = x2.max(x + 1);
        y2 = y2.max(y + 1);
    }
    let m = ((x2 - x1).max(y2 - y1) / 2).max(32);
    let region = Rect::new(
        b.x1 + x1.saturating_sub(m) as i32,
        b.y1 + y1.saturating_sub(m) as i32,
        b.x1 + (x2 + m).min(w) as i32,
        b.y1 + (y2 + m).min(h) as i32,
    );
    let crop = FloatImage::from_fn(region, |x, y| image.pixel(x, y));
    let mask = FloatImage::from_fn(region, |x, y| {
        let i = (y - b.y1) as usize * w + (x - b.x1) as usize;
        let v = if unknown[i] { 1.0 } else { 0.0 };
        [v, v, v, v]
    });
    let spec = model.manifest();
    let names: Vec<String> = spec.image_inputs().map(|i| i.name.clone()).collect();
    if names.len() != 2 {
        return Err(Error::new(format!(
            "inpainting model '{}' has {} image inputs; the LaMa contract has two (image, mask)",
            spec.name,
            names.len()
        )));
    }
    let mask_name = spec
        .image_inputs()
        .find(|i| i.channels == crate::tensor::ChannelOrder::Alpha)
        .map(|i| i.name.clone())
        .ok_or_else(|| {
            Error::new(format!(
                "inpainting model '{}' has no alpha (mask) input",
                spec.name
            ))
        })?;
    let image_name = names
        .iter()
        .find(|n| **n != mask_name)
        .cloned()
        .expect("two inputs");
    let out = model.infer(&InferRequest {
        images: &[(image_name.as_str(), &crop), (mask_name.as_str(), &mask)],
        frame_colour,
        constants: &[],
    })?;
    let Some(Output::Image(o)) = spec.outputs.first() else {
        return Err(Error::new(format!(
            "inpainting model '{}' has no image output first",
            spec.name
        )));
    };
    let t = out
        .get(&o.name)
        .ok_or_else(|| Error::new(format!("inpainting model output '{}' missing", o.name)))?;
    if t.shape.len() != 4 {
        return Err(Error::new(format!(
            "inpainting output has shape {:?}; expected 4 dims",
            t.shape
        )));
    }
    let (th, tw, nch) = match o.layout {
        Layout::Nchw => (t.shape[2], t.shape[3], t.shape[1]),
        Layout::Nhwc => (t.shape[1], t.shape[2], t.shape[3]),
    };
    if nch < 3 {
        return Err(Error::new(format!(
            "inpainting output has {nch} channels; expected RGB"
        )));
    }
    let norm = o.normalisation();
    let unnorm = |c: usize, v: f32| -> f32 {
        let v = if norm.std.len() > c {
            v * norm.std[c] + norm.mean[c]
        } else {
            v
        };
        (v - norm.range[0]) / (norm.range[1] - norm.range[0])
    };
    let bgr = o.channels == crate::tensor::ChannelOrder::Bgr;
    let covered = out.mapping.covered;
    let mut model_img = FloatImage::new(Rect::new(0, 0, tw as i32, th as i32));
    for row in 0..th {
        let y = (th - 1 - row) as i32;
        for col in 0..tw {
            let mut px = [0f32, 0.0, 0.0, 1.0];
            for c in 0..3 {
                let sc = if bgr { 2 - c } else { c };
                let v = match o.layout {
                    Layout::Nchw => t.data[(sc * th + row) * tw + col],
                    Layout::Nhwc => t.data[(row * tw + col) * nch + sc],
                };
                px[c] = unnorm(c, v);
            }
            model_img.set_pixel(col as i32, y, px);
        }
    }
    let mut back = resize_to(&model_img, covered);
    convert_rgba(&mut back.data, o.colour_space, frame_colour);
    for (i, _) in unknown.iter().enumerate().filter(|(_, u)| **u) {
        let (x, y) = (b.x1 + (i % w) as i32, b.y1 + (i / w) as i32);
        if covered.contains(x, y) {
            let p = back.pixel(x, y);
            image.data[4 * i..4 * i + 3].copy_from_slice(&p[..3]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate::median::tests::background;

    #[test]
    fn builtin_fill_beats_a_flat_mean() {
        let (w, h) = (96usize, 80usize);
        let bounds = Rect::from_size(w as u32, h as u32);
        let truth = FloatImage::from_fn(bounds, |x, y| background(x as f32, y as f32));
        let unknown: Vec<bool> = bounds
            .pixels()
            .map(|(x, y)| (30..62).contains(&x) && (24..56).contains(&y))
            .collect();
        let mut img = truth.clone();
        let mut mean = [0f64; 3];
        let mut n = 0.0;
        for (i, &u) in unknown.iter().enumerate() {
            if !u {
                for c in 0..3 {
                    mean[c] += truth.data[4 * i + c] as f64;
                }
                n += 1.0;
            } else {
                img.data[4 * i..4 * i + 3].copy_from_slice(&[f32::NAN; 3]);
            }
        }
        let err = |img: &FloatImage| -> f64 {
            let mut s = 0.0;
            for (i, &u) in unknown.iter().enumerate() {
                if u {
                    for c in 0..3 {
                        s += (img.data[4 * i + c] as f64 - truth.data[4 * i + c] as f64).powi(2);
                    }
                }
            }
            s
        };
        let mut flat = truth.clone();
        for (i, &u) in unknown.iter().enumerate() {
            if u {
                for c in 0..3 {
                    flat.data[4 * i + c] = (mean[c] / n) as f32;
                }
            }
        }
        let opts = crate::plate::median::tests::opts(crate::plate::Method::Inpaint, 1);
        let conf = fill(&mut img, &unknown, &opts).unwrap();
        assert!(img.data.iter().all(|v| v.is_finite()));
        let (e_fill, e_flat) = (err(&img), err(&flat));
        assert!(e_fill < e_flat, "fill {e_fill} vs flat {e_flat}");
        for (i, &u) in unknown.iter().enumerate() {
            if u {
                assert!(conf[i] < 0.5 && conf[i] > 0.0);
            }
        }
    }
}
