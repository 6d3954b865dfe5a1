//! Age editing with a model of one of two public contracts (as the FaceFusion project feeds
//! them). Which one a model has is read from its manifest's inputs, never from its file name:
//! an image input named `target_with_background` means StyleGANEX-age, a single image input
//! with a two-value constant `direction` means FRAN.
//!
//! StyleGANEX-age (`styleganex_age.onnx`):
//! * `target`: the face aligned to the manifest's 5-point template (ffhq_512) at its size (256);
//! * `target_with_background`: the same face with its surroundings: the five points scaled by
//!   0.875 about the nose tip, aligned to the styleganex_384 template at the model's input size
//!   (384);
//! * `direction`: the age change, -100..100 mapped linearly onto 2.5..-2.5;
//! * the output (any square size, 1024 for the real model) covers the `target_with_background`
//!   crop; it is colour-matched (mean and standard deviation per channel) to that crop and
//!   pasted back by the inverse warp through a feathered box mask.
//!
//! FRAN (`fran.onnx`):
//! * `target`: the face aligned to the manifest's template (ffhq_512) at its size (1024);
//! * `direction`: `[current age, target age] / 100`, each clipped to 0..1, where the target age
//!   is the current age plus the age change (the actor's current age is given by the artist:
//!   there is no age estimator);
//! * the output (square, any size) covers the `target` crop and is pasted back by the inverse
//!   warp through the same feathered box mask, as a change so values above 1 survive.
//!
//! Each image input is packed as its manifest entry says (layout, channel order, value range,
//! mean/std, colour space); the output is read back with the output entry's inverse mapping.

use std::path::Path;
use std::sync::Arc;

use super::align::{Affine, paste_back, template_transform, warp};
use super::regions::{LEFT_EYE, Plane, RIGHT_EYE};
use crate::colour::{ColourSpace, linear_to_srgb, srgb_to_linear};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::manifest::{Alignment, Border, ImageInput, ImageOutput, Input, Manifest, Output};
use crate::policy::allowed_manifest;
use crate::runtime::{InputTensor, Provider, SessionCache, SharedSession};
use crate::tensor::Layout;

/// FaceFusion's `styleganex_384` warp template (unit square, top-down, template order), the
/// alignment of StyleGANEX's `target_with_background` input.
pub const STYLEGANEX_384: [[f32; 2]; 5] = [
    [0.423_537_45, 0.522_898_8],
    [0.577_250_1, 0.523_199_7],
    [0.501_238_6, 0.613_319],
    [0.433_644_6, 0.683_376_5],
    [0.570_153_25, 0.683_060_05],
];

/// The five alignment points of a face mesh in template order: the eye on the image's left
/// (the subject's right: centre of its outline), the other eye, the nose tip (point 1), the
/// mouth corner on the image's left (61) and on its right (291).
pub fn mesh_five(points: &[[f64; 3]]) -> Option<[[f64; 2]; 5]> {
    if points.len() < 468 {
        return None;
    }
    let centre = |idx: &[usize]| {
        let n = idx.len() as f64;
        idx.iter().fold([0.0, 0.0], |a, &i| {
            [a[0] + points[i][0] / n, a[1] + points[i][1] / n]
        })
    };
    let p = |i: usize| [points[i][0], points[i][1]];
    Some([centre(&RIGHT_EYE), centre(&LEFT_EYE), p(1), p(61), p(291)])
}

/// The five points scaled by `scale` about the nose tip (the third point).
pub fn scale_five(five: &[[f64; 2]; 5], scale: f64) -> [[f64; 2]; 5] {
    let n = five[2];
    five.map(|p| [n[0] + (p[0] - n[0]) * scale, n[1] + (p[1] - n[1]) * scale])
}

/// The `direction` value for an age change of -100..100 (2.5 .. -2.5).
pub fn direction(age: f64) -> f32 {
    (-2.5 * age.clamp(-100.0, 100.0) / 100.0) as f32
}

/// FRAN's `direction` for an actor of `current` years and an age change of `change` years:
/// `[current, current + change] / 100`, each clipped to 0..1.
pub fn fran_direction(current: f64, change: f64) -> [f32; 2] {
    let c = current.clamp(0.0, 100.0);
    [
        (c / 100.0) as f32,
        ((c + change).clamp(0.0, 100.0) / 100.0) as f32,
    ]
}

/// Packs a top-down crop (bounds from the origin, crop row `j` = image row `h - 1 - j`) as the
/// manifest input `spec` asks; pixels are in the `colour` encoding.
pub fn pack(crop: &FloatImage, spec: &ImageInput, colour: ColourSpace) -> Vec<f32> {
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    let sources = spec.channels.sources();
    let ch = sources.len();
    let map = spec.normalisation.forward(ch);
    let mut out = vec![0.0f32; ch * w * h];
    for r in 0..h {
        let row = crop.row((h - 1 - r) as i32 + crop.bounds.y1);
        for x in 0..w {
            for (c, &src) in sources.iter().enumerate() {
                let mut v = row[4 * x + src];
                if src < 3 {
                    v = match (colour, spec.colour_space) {
                        (ColourSpace::Linear, ColourSpace::Srgb) => linear_to_srgb(v),
                        (ColourSpace::Srgb, ColourSpace::Linear) => srgb_to_linear(v),
                        _ => v,
                    };
                }
                let t = v * map[c].0 + map[c].1;
                let i = match spec.layout {
                    Layout::Nchw => (c * h + r) * w + x,
                    Layout::Nhwc => (r * w + x) * ch + c,
                };
                out[i] = t;
            }
        }
    }
    out
}

/// Reads an image tensor `[1, C, H, W]` / `[1, H, W, C]` back into a top-down crop, values in
/// the output's colour encoding, clipped to 0..1.
pub fn unpack(data: &[f32], shape: &[i64], spec: &ImageOutput) -> Result<(FloatImage, usize)> {
    let (c, h, w) = match (spec.layout, shape) {
        (Layout::Nchw, [1, c, h, w]) => (*c as usize, *h as usize, *w as usize),
        (Layout::Nhwc, [1, h, w, c]) => (*c as usize, *h as usize, *w as usize),
        _ => {
            return Err(Error::new(format!(
                "the model's output '{}' has shape {shape:?}; a [1, 3, H, W] image was expected",
                spec.name
            )));
        }
    };
    let sources = spec.channels.sources();
    if c != sources.len() || w != h || data.len() != c * w * h {
        return Err(Error::new(format!(
            "the model's output '{}' has shape {shape:?}; a square {}-channel image was expected",
            spec.name,
            sources.len()
        )));
    }
    let map = spec.normalisation().inverse(c);
    let mut img = FloatImage::filled(Rect::from_size(w as u32, h as u32), [0.0, 0.0, 0.0, 1.0]);
    for r in 0..h {
        let y = (h - 1 - r) as i32;
        let row = img.row_mut(y);
        for x in 0..w {
            for (k, &dst) in sources.iter().enumerate() {
                let i = match spec.layout {
                    Layout::Nchw => (k * h + r) * w + x,
                    Layout::Nhwc => (r * w + x) * c + k,
                };
                row[4 * x + dst] = (data[i] * map[k].0 + map[k].1).clamp(0.0, 1.0);
            }
        }
    }
    Ok((img, w))
}

/// Mean and standard deviation of the RGB channels of an image.
fn stats(img: &FloatImage) -> [(f64, f64); 3] {
    let n = (img.data.len() / 4).max(1) as f64;
    let mut out = [(0.0, 0.0); 3];
    for (c, o) in out.iter_mut().enumerate() {
        let (s, s2) = img.data.chunks_exact(4).fold((0.0, 0.0), |(a, b), p| {
            (a + p[c] as f64, b + (p[c] as f64).powi(2))
        });
        let m = s / n;
        *o = (m, (s2 / n - m * m).max(0.0).sqrt());
    }
    out
}

/// Weight of FaceFusion's static box mask (blur 0.3) at crop point `(u, v)` of a `size` crop:
/// 0 at the edges, rising over a blurred band, 1 inside (an approximation of the blurred
/// box: a logistic step, brought to exactly 0 at the edge).
pub fn box_mask(u: f64, v: f64, size: f64) -> f32 {
    let blur = (size * 0.5 * 0.3).floor();
    let area = (blur / 2.0).floor().max(1.0);
    let sigma = (blur * 0.25).max(0.5);
    let edge = |d: f64| {
        if d <= 0.0 {
            0.0
        } else {
            (d / area).min(1.0) / (1.0 + (-1.7 * (d - area) / sigma).exp())
        }
    };
    let d = |t: f64| t.min(size - t);
    (edge(d(u)) * edge(d(v))) as f32
}

/// The feathered box mask of a `size` crop over its footprint in a frame of `bounds`, for the
/// crop that `crop_to_frame` maps into the frame: [`box_mask`] at each pixel centre's crop
/// point, 0 outside the crop.
pub fn box_matte(bounds: Rect, crop_to_frame: &Affine, size: f64) -> Result<Plane> {
    let corners = [(0.0, 0.0), (size, 0.0), (0.0, size), (size, size)]
        .map(|(u, v)| crop_to_frame.apply(u, v));
    let lo = |f: fn(&(f64, f64)) -> f64| corners.iter().map(f).fold(f64::MAX, f64::min);
    let hi = |f: fn(&(f64, f64)) -> f64| corners.iter().map(f).fold(f64::MIN, f64::max);
    let region = Rect::new(
        lo(|c| c.0).floor().max(-1e9) as i32,
        lo(|c| c.1).floor().max(-1e9) as i32,
        hi(|c| c.0).ceil().min(1e9) as i32,
        hi(|c| c.1).ceil().min(1e9) as i32,
    )
    .intersect(&bounds);
    let mut matte = Plane::new(region);
    let frame_to_crop = crop_to_frame.inverse()?;
    for (x, y) in region.pixels() {
        let (u, v) = frame_to_crop.apply(x as f64 + 0.5, y as f64 + 0.5);
        if u > 0.0 && v > 0.0 && u < size && v < size {
            let i = (y - region.y1) as usize * region.width() as usize + (x - region.x1) as usize;
            matte.data[i] = box_mask(u, v, size);
        }
    }
    Ok(matte)
}

/// Which public contract an age model has.
#[derive(Clone, Debug, PartialEq)]
pub enum AgeContract {
    /// StyleGANEX-age: `target`, `target_with_background` (its input, edge `size`) and a
    /// one-value `direction`.
    StyleGanEx { background: ImageInput, size: u32 },
    /// FRAN: `target` and a two-value `direction`.
    Fran,
}

/// An age model of StyleGANEX-age's or FRAN's contract, loaded with its manifest.
pub struct AgeModel {
    manifest: Manifest,
    session: Arc<SharedSession>,
    target: ImageInput,
    contract: AgeContract,
    direction: (String, Vec<i64>),
    output: ImageOutput,
    template: [[f32; 2]; 5],
    size: u32,
}

impl AgeModel {
    /// Loads the model at `path` with the manifest beside it, checked against the studio's
    /// licence policy and the model's real inputs; its contract is read from the manifest.
    pub fn load(path: &Path, provider: Provider) -> Result<AgeModel> {
        let manifest = allowed_manifest(path)?;
        let name = manifest.name.clone();
        let bad = |what: &str| {
            Error::new(format!(
                "model '{name}' has neither StyleGANEX-age's nor FRAN's contract: {what}"
            ))
        };
        let mut target = None;
        let mut background = None;
        let mut direction = None;
        for input in &manifest.inputs {
            match input {
                Input::Image(i) if i.name == "target_with_background" => {
                    background = Some(i.clone())
                }
                Input::Image(i) if target.is_none() => target = Some(i.clone()),
                Input::Image(i) => {
                    return Err(bad(&format!("unexpected extra image input '{}'", i.name)));
                }
                Input::Constant(c) if c.name == "direction" => direction = Some(c.clone()),
                Input::Constant(_) => {}
            }
        }
        let target = target.ok_or_else(|| bad("no image input 'target'"))?;
        let direction = direction.ok_or_else(|| bad("no constant input 'direction'"))?;
        let session = SessionCache::global().get(path, provider, None)?;
        let shape_of = |n: &str| {
            session
                .inputs()
                .iter()
                .find(|i| i.name == n)
                .map(|i| i.shape.clone())
                .ok_or_else(|| bad(&format!("the ONNX file has no input '{n}'")))
        };
        let contract = match background {
            Some(background) => {
                let size = match shape_of(&background.name)?.as_slice() {
                    [_, _, h, w] if *h > 0 && h == w => *h as u32,
                    _ => 384,
                };
                AgeContract::StyleGanEx { background, size }
            }
            None if direction.value.len() == 2 => AgeContract::Fran,
            None => {
                return Err(bad(&format!(
                    "no image input 'target_with_background' (StyleGANEX-age), and 'direction' has {} values where FRAN's has 2",
                    direction.value.len()
                )));
            }
        };
        let output = match manifest.outputs.first() {
            Some(Output::Image(o)) => o.clone(),
            _ => return Err(bad("its first output is not an image")),
        };
        let Some(Alignment::Template { template, size }) = manifest.alignment.clone() else {
            return Err(bad("its manifest has no 5-point template alignment"));
        };
        shape_of(&target.name)?;
        let dir_shape = shape_of(&direction.name)?;
        let values = if contract == AgeContract::Fran { 2 } else { 1 };
        let dir_shape = match dir_shape.len() {
            0 => Vec::new(),
            n => {
                let mut s = vec![1; n];
                s[n - 1] = values;
                s
            }
        };
        Ok(AgeModel {
            manifest,
            session,
            target,
            contract,
            direction: (direction.name, dir_shape),
            output,
            template,
            size,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The contract read from the manifest.
    pub fn contract(&self) -> &AgeContract {
        &self.contract
    }

    /// The `target` crop for a face (the manifest's template at its size) and the map from
    /// crop points (`u`, `v` down) to the frame.
    pub fn target_crop(
        &self,
        frame: &FloatImage,
        points: &[[f64; 3]],
    ) -> Result<(FloatImage, Affine)> {
        let five = mesh_five(points)
            .ok_or_else(|| Error::new("the age model needs the 468-point face mesh"))?;
        let to_target = template_transform(&five, &self.template, self.size)?;
        let crop_to_frame = to_target.inverse()?;
        let crop = warp(
            frame,
            &crop_to_frame,
            self.size,
            self.size,
            Border::Replicate,
        );
        Ok((crop, crop_to_frame))
    }

    /// StyleGANEX's two crops for a face, and the map from the background crop's points
    /// (`u`, `v` down) to the frame. An error for a FRAN model.
    pub fn crops(
        &self,
        frame: &FloatImage,
        points: &[[f64; 3]],
    ) -> Result<(FloatImage, FloatImage, Affine)> {
        let AgeContract::StyleGanEx { size, .. } = &self.contract else {
            return Err(Error::new("a FRAN model has no background crop"));
        };
        let (target, _) = self.target_crop(frame, points)?;
        let five = mesh_five(points)
            .ok_or_else(|| Error::new("the age model needs the 468-point face mesh"))?;
        let wide = scale_five(&five, 0.875);
        let to_bg = template_transform(&wide, &STYLEGANEX_384, *size)?;
        let bg_to_frame = to_bg.inverse()?;
        let bg = warp(frame, &bg_to_frame, *size, *size, Border::Replicate);
        Ok((target, bg, bg_to_frame))
    }

    fn image_shape(spec: &ImageInput, s: i64) -> Vec<i64> {
        match spec.layout {
            Layout::Nchw => vec![1, spec.channels.count() as i64, s, s],
            Layout::Nhwc => vec![1, s, s, spec.channels.count() as i64],
        }
    }

    fn output_index(&self) -> Result<usize> {
        self.session
            .outputs()
            .iter()
            .position(|o| o.name == self.output.name)
            .ok_or_else(|| {
                Error::new(format!(
                    "the age model has no output '{}'",
                    self.output.name
                ))
            })
    }

    /// Changes the age of the face at `points` in `frame` (pixels in the `colour` encoding) by
    /// `age` (-100..100), blended by `amount`; `current_age` is the actor's age in years (used
    /// by FRAN's contract only). Returns the paste-back mask over the crop's footprint. Pixels
    /// where it is 0 are not written.
    pub fn apply(
        &self,
        frame: &mut FloatImage,
        colour: ColourSpace,
        points: &[[f64; 3]],
        age: f64,
        current_age: f64,
        amount: f32,
    ) -> Result<Plane> {
        match &self.contract {
            AgeContract::StyleGanEx { background, size } => {
                self.apply_styleganex(frame, colour, points, age, amount, background, *size)
            }
            AgeContract::Fran => self.apply_fran(frame, colour, points, age, current_age, amount),
        }
    }

    fn apply_fran(
        &self,
        frame: &mut FloatImage,
        colour: ColourSpace,
        points: &[[f64; 3]],
        age: f64,
        current_age: f64,
        amount: f32,
    ) -> Result<Plane> {
        let (target, crop_to_frame) = self.target_crop(frame, points)?;
        let matte = box_matte(frame.bounds, &crop_to_frame, self.size as f64)?;
        if amount <= 0.0 {
            return Ok(matte);
        }
        let t = pack(&target, &self.target, colour);
        let t_shape = Self::image_shape(&self.target, self.size as i64);
        let d = fran_direction(current_age, age);
        let inputs = [
            InputTensor::new(&self.target.name, &t_shape, &t),
            InputTensor::new(&self.direction.0, &self.direction.1, &d),
        ];
        let mut results = self.session.run_many(&inputs, &[self.output_index()?])?;
        let (shape, data) = results.remove(0);
        let (mut result, _) = unpack(&data, &shape, &self.output)?;
        if colour != self.output.colour_space {
            crate::colour::convert_image(&mut result, self.output.colour_space, colour);
        }
        let frame_to_crop = crop_to_frame.inverse()?;
        paste_back(
            frame,
            &result,
            self.size as f64,
            &frame_to_crop,
            &matte,
            amount,
        );
        Ok(matte)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_styleganex(
        &self,
        frame: &mut FloatImage,
        colour: ColourSpace,
        points: &[[f64; 3]],
        age: f64,
        amount: f32,
        background: &ImageInput,
        background_size: u32,
    ) -> Result<Plane> {
        let (target, bg, bg_to_frame) = self.crops(frame, points)?;
        let bs = background_size as f64;
        let matte = box_matte(frame.bounds, &bg_to_frame, bs)?;
        let region = matte.bounds;
        let frame_to_bg = bg_to_frame.inverse()?;
        if amount <= 0.0 {
            return Ok(matte);
        }
        let t = pack(&target, &self.target, colour);
        let b = pack(&bg, background, colour);
        let t_shape = Self::image_shape(&self.target, self.size as i64);
        let b_shape = Self::image_shape(background, background_size as i64);
        let d = [direction(age)];
        let inputs = [
            InputTensor::new(&self.target.name, &t_shape, &t),
            InputTensor::new(&background.name, &b_shape, &b),
            InputTensor::new(&self.direction.0, &self.direction.1, &d),
        ];
        let mut results = self.session.run_many(&inputs, &[self.output_index()?])?;
        let (shape, data) = results.remove(0);
        let (mut result, n) = unpack(&data, &shape, &self.output)?;
        // Output and crop in one encoding (the output's), colour-matched to the crop.
        let mut reference = bg.clone();
        if colour != self.output.colour_space {
            crate::colour::convert_image(&mut reference, colour, self.output.colour_space);
        }
        let (so, sr) = (stats(&result), stats(&reference));
        for p in result.data.chunks_exact_mut(4) {
            for c in 0..3 {
                let g = if so[c].1 > 1e-6 {
                    sr[c].1 / so[c].1
                } else {
                    1.0
                };
                p[c] = ((p[c] as f64 - so[c].0) * g + sr[c].0) as f32;
            }
        }
        if colour != self.output.colour_space {
            crate::colour::convert_image(&mut result, self.output.colour_space, colour);
        }
        let k = n as f64 / bs;
        for (x, y) in region.pixels() {
            let i = (y - region.y1) as usize * region.width() as usize + (x - region.x1) as usize;
            let m = matte.data[i] * amount.clamp(0.0, 1.0);
            if m <= 0.0 {
                continue;
            }
            let (u, v) = frame_to_bg.apply(x as f64 + 0.5, y as f64 + 0.5);
            // Top-down crop point -> the result image's own (y up) coordinates.
            let s =
                super::align::sample_bilinear(&result, u * k, n as f64 - v * k, Border::Replicate);
            let o = frame.index(x, y);
            for (f, sv) in frame.data[o..o + 3].iter_mut().zip(s) {
                *f += m * (sv - *f);
            }
        }
        Ok(matte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_maps_age_onto_the_contract_range() {
        assert_eq!(direction(-100.0), 2.5);
        assert_eq!(direction(100.0), -2.5);
        assert_eq!(direction(0.0), 0.0);
        assert_eq!(direction(-40.0), 1.0);
        assert_eq!(direction(300.0), -2.5);
    }

    #[test]
    fn five_points_scale_about_the_nose() {
        let five = [
            [0.0, 0.0],
            [10.0, 0.0],
            [5.0, 5.0],
            [2.0, 10.0],
            [8.0, 10.0],
        ];
        let s = scale_five(&five, 0.5);
        assert_eq!(s[2], [5.0, 5.0]);
        assert_eq!(s[0], [2.5, 2.5]);
        assert_eq!(s[4], [6.5, 7.5]);
    }

    #[test]
    fn fran_direction_is_current_and_target_age_over_100_clipped() {
        assert_eq!(fran_direction(40.0, -30.0), [0.4, 0.1]);
        assert_eq!(fran_direction(40.0, 80.0), [0.4, 1.0]);
        assert_eq!(fran_direction(20.0, -50.0), [0.2, 0.0]);
        assert_eq!(fran_direction(150.0, 0.0), [1.0, 1.0]);
    }

    #[test]
    fn box_mask_is_zero_at_the_edges_and_one_inside() {
        assert_eq!(box_mask(0.0, 100.0, 384.0), 0.0);
        assert!(box_mask(3.0, 192.0, 384.0) < 0.01);
        assert!(box_mask(192.0, 192.0, 384.0) > 0.999);
        assert!(box_mask(60.0, 192.0, 384.0) > 0.95);
    }
}
