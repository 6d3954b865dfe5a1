//! Face swapping with a model of inswapper_128's public contract and its identity recogniser
//! (ArcFace), as InsightFace defines them:
//!
//! * the recogniser ([`Recogniser`], manifest with an `embedding` block and a 5-point
//!   `template` alignment, arcface_112_v2 at 112 for `arcface_w600k_r50`) is fed the source
//!   face aligned to its template, packed as its manifest input says (RGB, `x / 127.5 - 1`);
//!   its output is the identity embedding;
//! * the swapper ([`Swapper`]) takes `target`, the face to replace aligned to its manifest's
//!   template (arcface_128 at 128), RGB in [0, 1], and `source`, the identity: the embedding
//!   times the graph's last initializer (the 512x512 "emap" matrix, read from the .onnx file
//!   with [`crate::onnx_initializers`]), L2-normalised (InsightFace's own order; FaceFusion
//!   divides by the embedding's length instead, which differs from this by a scale factor);
//! * its output, the swapped face in [0, 1] over the same crop, is pasted back through the
//!   inverse warp, weighted by the crop's feathered box mask times the face matte, as a change
//!   so values above 1 survive ([`super::align::paste_back`]), or seamlessly: bent to meet the
//!   frame at the matte's edge first ([`super::blend::paste_seamless`]).
//!
//! Which manifest input is which is read from the manifests: the swapper's image input is the
//! target and its constant input the identity; nothing depends on file names.

use std::path::Path;
use std::sync::Arc;

use super::age::{box_matte, mesh_five, pack, unpack};
use super::align::{Affine, paste_back, sample_bilinear, template_transform, warp};
use super::blend::{Blend, paste_seamless};
use super::regions::{Plane, face_matte};
use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::FloatImage;
use crate::manifest::{
    Alignment, Border, EmbeddingNorm, ImageInput, ImageOutput, Input, Manifest, Output,
};
use crate::onnx_initializers::last_initializer;
use crate::policy::allowed_manifest;
use crate::runtime::{InputTensor, Provider, SessionCache, SharedSession};
use crate::tensor::Layout;

/// The input tensor shape of a square image input of edge `s`.
fn image_shape(spec: &ImageInput, s: u32) -> Vec<i64> {
    let (c, s) = (spec.channels.count() as i64, s as i64);
    match spec.layout {
        Layout::Nchw => vec![1, c, s, s],
        Layout::Nhwc => vec![1, s, s, c],
    }
}

/// A face crop for a template model: the five points of the face mesh fitted to `template` x
/// `size`; returns the crop and the map from crop points (`u`, `v` down) to the frame.
fn template_crop(
    frame: &FloatImage,
    points: &[[f64; 3]],
    template: &[[f32; 2]; 5],
    size: u32,
) -> Result<(FloatImage, Affine)> {
    let five = mesh_five(points)
        .ok_or_else(|| Error::new("face swapping needs the 468-point face mesh"))?;
    let crop_to_frame = template_transform(&five, template, size)?.inverse()?;
    let crop = warp(frame, &crop_to_frame, size, size, Border::Replicate);
    Ok((crop, crop_to_frame))
}

/// The position of the session output named `name`.
fn output_index(session: &SharedSession, name: &str, model: &str) -> Result<usize> {
    session
        .outputs()
        .iter()
        .position(|o| o.name == name)
        .ok_or_else(|| Error::new(format!("model '{model}' has no output '{name}'")))
}

/// An identity recogniser (ArcFace's contract), loaded with its manifest.
pub struct Recogniser {
    manifest: Manifest,
    session: Arc<SharedSession>,
    input: ImageInput,
    output: usize,
    length: usize,
    normalise: EmbeddingNorm,
    template: [[f32; 2]; 5],
    size: u32,
}

impl Recogniser {
    /// Loads the model at `path` with the manifest beside it (an `embedding` block, one image
    /// input and a 5-point `template` alignment), checked against the studio's licence policy.
    pub fn load(path: &Path, provider: Provider) -> Result<Recogniser> {
        let manifest = allowed_manifest(path)?;
        let name = manifest.name.clone();
        let bad = |what: &str| {
            Error::new(format!(
                "model '{name}' is not an identity recogniser the face swap can use: {what}"
            ))
        };
        let embedding = manifest
            .embedding
            .clone()
            .ok_or_else(|| bad("its manifest has no `embedding` block"))?;
        let images: Vec<&ImageInput> = manifest.image_inputs().collect();
        let [input] = images.as_slice() else {
            return Err(bad(&format!(
                "it has {} image inputs; one was expected",
                images.len()
            )));
        };
        let input = (*input).clone();
        let Some(Alignment::Template { template, size }) = manifest.alignment.clone() else {
            return Err(bad("its manifest has no 5-point template alignment"));
        };
        let session = SessionCache::global().get(path, provider, None)?;
        let output = output_index(&session, &embedding.output, &name)?;
        Ok(Recogniser {
            manifest,
            session,
            input,
            output,
            length: embedding.length as usize,
            normalise: embedding.normalise,
            template,
            size,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The crop the recogniser is fed for the face at `points`.
    pub fn crop(&self, frame: &FloatImage, points: &[[f64; 3]]) -> Result<FloatImage> {
        Ok(template_crop(frame, points, &self.template, self.size)?.0)
    }

    /// The identity embedding of the face at `points` in `frame` (pixels in the `colour`
    /// encoding), normalised as the manifest's `embedding` block says.
    pub fn embedding(
        &self,
        frame: &FloatImage,
        colour: ColourSpace,
        points: &[[f64; 3]],
    ) -> Result<Vec<f32>> {
        let crop = self.crop(frame, points)?;
        let data = pack(&crop, &self.input, colour);
        let shape = image_shape(&self.input, self.size);
        let inputs = [InputTensor::new(&self.input.name, &shape, &data)];
        let (_, mut e) = self
            .session
            .run_many(&inputs, &[self.output])?
            .into_iter()
            .next()
            .ok_or_else(|| Error::new("the recogniser returned no output"))?;
        if e.len() != self.length {
            return Err(Error::new(format!(
                "the recogniser '{}' returned {} values; its manifest says {}",
                self.manifest.name,
                e.len(),
                self.length
            )));
        }
        if self.normalise == EmbeddingNorm::L2 {
            normalise(&mut e).map_err(|m| Error::new(format!("the recogniser's embedding {m}")))?;
        }
        Ok(e)
    }
}

/// Divides `v` by its Euclidean length; an error message for a zero or non-finite vector.
fn normalise(v: &mut [f32]) -> std::result::Result<(), &'static str> {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if !n.is_finite() || n < 1e-12 {
        return Err("is zero or not finite, so it has no direction");
    }
    for x in v.iter_mut() {
        *x = (*x as f64 / n) as f32;
    }
    Ok(())
}

/// `normalise(embedding @ emap)`: the identity vector inswapper's `source` takes, for an
/// `n`-value embedding and an `n` x `n` row-major map.
pub fn identity_vector(embedding: &[f32], emap: &[f32]) -> Result<Vec<f32>> {
    let n = embedding.len();
    if emap.len() != n * n {
        return Err(Error::new(format!(
            "the identity map has {} values; {n} x {n} were expected for a {n}-value embedding",
            emap.len()
        )));
    }
    let mut out = vec![0.0f64; n];
    for (e, row) in embedding.iter().zip(emap.chunks_exact(n)) {
        for (o, m) in out.iter_mut().zip(row) {
            *o += *e as f64 * *m as f64;
        }
    }
    let mut v: Vec<f32> = out.into_iter().map(|x| x as f32).collect();
    normalise(&mut v).map_err(|m| Error::new(format!("the identity vector {m}")))?;
    Ok(v)
}

/// A face swapper of inswapper_128's contract, loaded with its manifest and identity map.
pub struct Swapper {
    manifest: Manifest,
    session: Arc<SharedSession>,
    target: ImageInput,
    source: (String, Vec<i64>),
    emap: Vec<f32>,
    length: usize,
    output: ImageOutput,
    output_index: usize,
    template: [[f32; 2]; 5],
    size: u32,
}

impl Swapper {
    /// Loads the model at `path` with the manifest beside it (one image input, the target; one
    /// constant input, the identity, whose `value` length is the embedding length; an image
    /// output; a 5-point `template` alignment), and reads its identity map: the graph's last
    /// initializer, which must be a square matrix of that length.
    pub fn load(path: &Path, provider: Provider) -> Result<Swapper> {
        let manifest = allowed_manifest(path)?;
        let name = manifest.name.clone();
        let bad = |what: &str| {
            Error::new(format!(
                "model '{name}' does not have inswapper_128's contract: {what}"
            ))
        };
        let mut target = None;
        let mut source = None;
        for input in &manifest.inputs {
            match input {
                Input::Image(i) if target.is_none() => target = Some(i.clone()),
                Input::Image(i) => {
                    return Err(bad(&format!("unexpected extra image input '{}'", i.name)));
                }
                Input::Constant(c) if source.is_none() => source = Some(c.clone()),
                Input::Constant(c) => {
                    return Err(bad(&format!(
                        "unexpected extra constant input '{}'",
                        c.name
                    )));
                }
            }
        }
        let target = target.ok_or_else(|| bad("no image input (the target face)"))?;
        let source = source.ok_or_else(|| bad("no constant input (the source identity)"))?;
        let length = source.value.len();
        if length == 0 {
            return Err(bad(&format!(
                "its identity input '{}' has an empty `value`; give a placeholder of the embedding's length",
                source.name
            )));
        }
        let output = match manifest.outputs.first() {
            Some(Output::Image(o)) => o.clone(),
            _ => return Err(bad("its first output is not an image")),
        };
        let Some(Alignment::Template { template, size }) = manifest.alignment.clone() else {
            return Err(bad("its manifest has no 5-point template alignment"));
        };
        let emap = last_initializer(path)?;
        if emap.dims != [length as i64, length as i64] {
            return Err(bad(&format!(
                "the graph's last initializer '{}' has dims {:?}; the {length} x {length} identity map (emap) was expected there",
                emap.name, emap.dims
            )));
        }
        let session = SessionCache::global().get(path, provider, None)?;
        for n in [&target.name, &source.name] {
            if !session.inputs().iter().any(|i| &i.name == n) {
                return Err(bad(&format!("the ONNX file has no input '{n}'")));
            }
        }
        let output_index = output_index(&session, &output.name, &name)?;
        let source = (source.name, vec![1, length as i64]);
        Ok(Swapper {
            manifest,
            session,
            target,
            source,
            emap: emap.data,
            length,
            output,
            output_index,
            template,
            size,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The identity map (row-major, `n` x `n`).
    pub fn emap(&self) -> &[f32] {
        &self.emap
    }

    /// The `source` vector for a recogniser's embedding: `normalise(embedding @ emap)`.
    pub fn identity(&self, embedding: &[f32]) -> Result<Vec<f32>> {
        if embedding.len() != self.length {
            return Err(Error::new(format!(
                "the recogniser gives {} values but the swapper '{}' takes a {}-value identity; use the recogniser its manifest requires ({})",
                embedding.len(),
                self.manifest.name,
                self.length,
                self.manifest.requires.join(", ")
            )));
        }
        identity_vector(embedding, &self.emap)
    }

    /// The `target` crop for the face at `points` and the map from crop points to the frame.
    pub fn target_crop(
        &self,
        frame: &FloatImage,
        points: &[[f64; 3]],
    ) -> Result<(FloatImage, Affine)> {
        template_crop(frame, points, &self.template, self.size)
    }

    /// Swaps the face at `points` in `frame` (pixels in the `colour` encoding) for the
    /// `identity` (from [`Swapper::identity`]), blended by `amount` as `blend` says; returns
    /// the matte it was pasted through (the crop's box mask times the face matte). Pixels where
    /// it is 0 are not written.
    pub fn apply(
        &self,
        frame: &mut FloatImage,
        colour: ColourSpace,
        points: &[[f64; 3]],
        identity: &[f32],
        amount: f32,
        blend: Blend,
    ) -> Result<Plane> {
        let (crop, crop_to_frame) = self.target_crop(frame, points)?;
        let mut matte = box_matte(frame.bounds, &crop_to_frame, self.size as f64)?;
        let face = face_matte(points, matte.bounds);
        for (m, f) in matte.data.iter_mut().zip(&face.data) {
            *m *= f;
        }
        if amount <= 0.0 {
            return Ok(matte);
        }
        if identity.len() != self.length {
            return Err(Error::new(format!(
                "the identity has {} values; the swapper takes {}",
                identity.len(),
                self.length
            )));
        }
        let t = pack(&crop, &self.target, colour);
        let t_shape = image_shape(&self.target, self.size);
        let inputs = [
            InputTensor::new(&self.target.name, &t_shape, &t),
            InputTensor::new(&self.source.0, &self.source.1, identity),
        ];
        let mut results = self.session.run_many(&inputs, &[self.output_index])?;
        let (shape, data) = results.remove(0);
        let (mut result, _) = unpack(&data, &shape, &self.output)?;
        if colour != self.output.colour_space {
            crate::colour::convert_image(&mut result, self.output.colour_space, colour);
        }
        let frame_to_crop = crop_to_frame.inverse()?;
        if blend == Blend::Seamless {
            // The result resampled onto the frame's pixels, defined inside the crop.
            let region = matte.bounds;
            let (size, r) = (self.size as f64, result.width() as f64);
            let k = r / size;
            let mut new = FloatImage::new(region);
            let mut valid = Plane::new(region);
            for (x, y) in region.pixels() {
                let (u, v) = frame_to_crop.apply(x as f64 + 0.5, y as f64 + 0.5);
                if u > 0.0 && v > 0.0 && u < size && v < size {
                    let s = sample_bilinear(&result, u * k, r - v * k, Border::Replicate);
                    new.set_pixel(x, y, s);
                    let i = (y - region.y1) as usize * region.width() as usize
                        + (x - region.x1) as usize;
                    valid.data[i] = 1.0;
                }
            }
            paste_seamless(frame, &new, &valid, &matte, amount);
            return Ok(matte);
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_normalised_product_with_the_map() {
        // e = (1, 2), emap = [[1, 0], [1, 1]] (rows): e @ emap = (3, 2).
        let v = identity_vector(&[1.0, 2.0], &[1.0, 0.0, 1.0, 1.0]).unwrap();
        let n = 13f32.sqrt();
        assert!(
            (v[0] - 3.0 / n).abs() < 1e-6 && (v[1] - 2.0 / n).abs() < 1e-6,
            "{v:?}"
        );
        // Scaling the embedding does not change the identity.
        let w = identity_vector(&[5.0, 10.0], &[1.0, 0.0, 1.0, 1.0]).unwrap();
        assert!((v[0] - w[0]).abs() < 1e-6);
        assert!(identity_vector(&[0.0, 0.0], &[1.0, 0.0, 1.0, 1.0]).is_err());
        assert!(identity_vector(&[1.0, 0.0], &[1.0, 0.0, 1.0]).is_err());
        assert!(identity_vector(&[f32::NAN, 0.0], &[1.0, 0.0, 0.0, 1.0]).is_err());
    }
}
