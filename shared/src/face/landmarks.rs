//! Face landmarks: the rotated square crop a landmark model is fed (manifest `alignment` kind
//! `detection_roi`, MediaPipe's face landmark region of interest), the run, and the model's
//! points mapped back to frame pixels (y up), with the face-presence score.
//!
//! The region: the detection box scaled by `scale` around its centre, made square on its
//! `long` (or `short`) side, and rotated so the line between the two `rotation_keypoints` lies
//! at `target_angle_deg`. As in MediaPipe the rotation is measured in the top-down picture
//! (clockwise positive, as the crop is seen); here it is kept in [`Roi::rotation`]. The crop is
//! sampled bilinearly at the model's fixed size, with `border` outside the frame.
//! Reference implementation: `face_roi`, `roi_matrix`, `crop_roi` and `landmarks_to_image` in
//! `models/convert/face_common.py`.

use std::collections::BTreeMap;
use std::f64::consts::PI;

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::{FloatImage, ImageView};
use crate::manifest::{Activation, Alignment, Border, Fit, Landmarks, Size, Square};
use crate::pipeline::{InferRequest, InferencePipeline, Inferred};

use super::Face;
use super::align::{Affine, warp};

/// A rotated square region of the frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roi {
    /// Centre in frame pixels (y up).
    pub centre: (f64, f64),
    /// Edge length in frame pixels.
    pub side: f64,
    /// Rotation in radians of the crop's rows against the frame's, measured in the top-down
    /// picture (positive = clockwise as seen), in `-pi..pi`.
    pub rotation: f64,
}

impl Roi {
    /// The region `alignment` (kind `detection_roi`) takes around a detected face.
    pub fn from_face(face: &Face, alignment: &Alignment) -> Result<Roi> {
        let Alignment::DetectionRoi {
            rotation_keypoints,
            target_angle_deg,
            scale,
            square,
            ..
        } = alignment
        else {
            return Err(Error::new(
                "this model's alignment is not a detection region (kind 'detection_roi')",
            ));
        };
        let point = |name: &str| {
            face.keypoint(name).ok_or_else(|| {
                Error::new(format!(
                    "the face detection has no '{name}' keypoint, which the landmark model's \
                     alignment rotates by (it has {})",
                    face.keypoints
                        .iter()
                        .map(|k| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        };
        let (x0, y0) = point(&rotation_keypoints[0])?;
        let (x1, y1) = point(&rotation_keypoints[1])?;
        // In the top-down picture the keypoint line's angle is atan2(-(dy down), dx); y up
        // gives dy directly.
        let angle = (*target_angle_deg as f64).to_radians() - (y1 - y0).atan2(x1 - x0);
        let rotation = (angle + PI).rem_euclid(2.0 * PI) - PI;
        let b = face.bbox;
        let side = match square {
            Square::Long => b.width().max(b.height()),
            Square::Short => b.width().min(b.height()),
        } * *scale as f64;
        Ok(Roi {
            centre: b.centre(),
            side,
            rotation,
        })
    }

    /// The frame pixels a `width` x `height` crop of this region reads (its corners' bounding
    /// box grown by 2 pixels for the bilinear samples), within `frame`.
    pub fn frame_rect(&self, width: u32, height: u32, frame: Rect) -> Rect {
        let m = self.crop_to_frame(width, height);
        let (w, h) = (width as f64, height as f64);
        let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (u, v) in [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)] {
            let (x, y) = m.apply(u, v);
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x), y2.max(y));
        }
        if !(x1.is_finite() && y1.is_finite() && x2.is_finite() && y2.is_finite()) {
            return frame;
        }
        let clamp = |v: f64| v.clamp(-1e9, 1e9) as i32;
        Rect::new(
            clamp(x1.floor()) - 2,
            clamp(y1.floor()) - 2,
            clamp(x2.ceil()) + 2,
            clamp(y2.ceil()) + 2,
        )
        .intersect(&frame)
    }

    /// The map from crop points `(u, v)` of a `width` x `height` crop of this region (`v` down
    /// the rows) to frame points (y up).
    pub fn crop_to_frame(&self, width: u32, height: u32) -> Affine {
        let (w, h) = (width.max(1) as f64, height.max(1) as f64);
        let (kx, ky) = (self.side / w, self.side / h);
        let (s, c) = self.rotation.sin_cos();
        // Crop x axis in the frame: (cos, -sin); crop's downward axis: (-sin, -cos).
        let (a, b, cc, d) = (kx * c, -ky * s, -kx * s, -ky * c);
        Affine {
            a,
            b,
            c: cc,
            d,
            tx: self.centre.0 - a * w / 2.0 - b * h / 2.0,
            ty: self.centre.1 - cc * w / 2.0 - d * h / 2.0,
        }
    }
}

/// A landmark model's points for one face, in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceLandmarks {
    /// Every point: `[x, y, z]`, x and y in frame pixels (y up); z (0 when the model gives
    /// none) in the model's depth units scaled by the crop's frame pixels per crop pixel.
    pub points: Vec<[f64; 3]>,
    /// Face presence after the manifest's activation, if the model gives one.
    pub presence: Option<f32>,
    /// Whether a face is present: presence at least `min_presence` (true without either).
    pub present: bool,
    /// The region the model was fed.
    pub roi: Roi,
    /// Named points from the manifest: name -> index into `points`.
    pub named: BTreeMap<String, u32>,
}

impl FaceLandmarks {
    /// A named point (x, y in frame pixels, y up).
    pub fn point(&self, name: &str) -> Option<(f64, f64)> {
        let i = *self.named.get(name)? as usize;
        self.points.get(i).map(|p| (p[0], p[1]))
    }
}

/// A landmark model with its manifest's crop and point decoding.
#[derive(Debug)]
pub struct Landmarker {
    pipeline: InferencePipeline,
    input: String,
    spec: Landmarks,
    alignment: Alignment,
    border: Border,
    width: u32,
    height: u32,
}

impl Landmarker {
    /// Wraps a pipeline whose manifest has a `landmarks` block, a `detection_roi` alignment and
    /// a fixed size.
    pub fn new(pipeline: InferencePipeline) -> Result<Landmarker> {
        let m = pipeline.manifest();
        let what = format!("model '{}' ({})", m.name, pipeline.model_path().display());
        let spec = m.landmarks.clone().ok_or_else(|| {
            Error::new(format!(
                "{what} is not a landmark model: its manifest has no 'landmarks' block"
            ))
        })?;
        let alignment = m.alignment.clone().ok_or_else(|| {
            Error::new(format!(
                "{what} has no 'alignment' block saying how faces are cropped for it"
            ))
        })?;
        let Alignment::DetectionRoi { border, .. } = alignment else {
            return Err(Error::new(format!(
                "{what}: landmarks are read from a detection region (alignment kind 'detection_roi'); \
                 this manifest's alignment is a template"
            )));
        };
        let Size::Fixed { width, height, fit } = m.size else {
            return Err(Error::new(format!(
                "{what}: a landmark model takes a fixed-size crop (size mode 'fixed')"
            )));
        };
        if fit != Fit::Stretch && width != height {
            return Err(Error::new(format!(
                "{what}: the square face crop needs a square model input or fit 'stretch'"
            )));
        }
        if !matches!(spec.values_per_point, 2 | 3) {
            return Err(Error::new(format!(
                "{what}: landmarks.values_per_point must be 2 or 3, not {}",
                spec.values_per_point
            )));
        }
        let mut inputs = m.image_inputs();
        let input = inputs
            .next()
            .map(|i| i.name.clone())
            .ok_or_else(|| Error::new(format!("{what} has no image input")))?;
        if inputs.next().is_some() {
            return Err(Error::new(format!(
                "{what} has more than one image input; a landmark model takes one face crop"
            )));
        }
        drop(inputs);
        Ok(Landmarker {
            pipeline,
            input,
            spec,
            alignment,
            border,
            width,
            height,
        })
    }

    /// The underlying pipeline.
    pub fn pipeline(&self) -> &InferencePipeline {
        &self.pipeline
    }

    /// The region this model is fed for a detected face.
    pub fn roi(&self, face: &Face) -> Result<Roi> {
        Roi::from_face(face, &self.alignment)
    }

    /// The model-sized crop of `image` for a region (bounds `(0, 0, w, h)`, top-down rows as in
    /// [`crate::face::align`]).
    pub fn crop(&self, image: &FloatImage, roi: &Roi) -> FloatImage {
        warp(
            image,
            &roi.crop_to_frame(self.width, self.height),
            self.width,
            self.height,
            self.border,
        )
    }

    /// Runs the model on the face's region of `image` (pixels RGBA in the `frame_colour`
    /// encoding) and returns its points in frame pixels.
    pub fn run(
        &self,
        image: &FloatImage,
        frame_colour: ColourSpace,
        face: &Face,
    ) -> Result<FaceLandmarks> {
        let roi = self.roi(face)?;
        let crop = self.crop(image, &roi);
        let inferred = self.pipeline.infer(&InferRequest {
            images: &[(self.input.as_str(), &crop)],
            frame_colour,
            constants: &[],
        })?;
        self.decode(&inferred, &roi)
    }

    /// [`Landmarker::run`] on a host image (its bounds are the frame): only the part of the
    /// frame the crop reads is converted to float. Gives the same points as `run` on
    /// `FloatImage::from_view(view, view.bounds())`.
    pub fn run_view(
        &self,
        view: &ImageView,
        frame_colour: ColourSpace,
        face: &Face,
    ) -> Result<FaceLandmarks> {
        let roi = self.roi(face)?;
        let mut rect = roi.frame_rect(self.width, self.height, view.bounds());
        if rect.is_empty() {
            // A region wholly outside the frame samples the frame's edge pixels.
            rect = view.bounds();
        }
        self.run(&FloatImage::from_view(view, rect), frame_colour, face)
    }

    /// [`Landmarker::run_view`] for each of `faces`, several at once on a machine with more
    /// than one core, in order.
    pub fn run_view_each(
        &self,
        view: &ImageView,
        frame_colour: ColourSpace,
        faces: &[Face],
    ) -> Result<Vec<FaceLandmarks>> {
        super::each_on_cores(faces.len(), |i| {
            self.run_view(view, frame_colour, &faces[i])
        })
        .into_iter()
        .collect()
    }

    /// Reads a run of this model on the crop of `roi`.
    pub fn decode(&self, inferred: &Inferred, roi: &Roi) -> Result<FaceLandmarks> {
        let name = &self.pipeline.manifest().name;
        let points = inferred.get(&self.spec.points).ok_or_else(|| {
            Error::new(format!(
                "landmark model '{name}' did not return its output '{}'",
                self.spec.points
            ))
        })?;
        let (count, vpp) = (
            self.spec.count as usize,
            self.spec.values_per_point as usize,
        );
        if points.data.len() != count * vpp {
            return Err(Error::new(format!(
                "landmark model '{name}' output '{}' holds {} values; {count} points x {vpp} were expected",
                self.spec.points,
                points.data.len()
            )));
        }
        // Model pixels of the crop; the run's own mapping is the identity for a model-sized crop.
        let (mw, mh) = (
            inferred.mapping.model_width.max(1),
            inferred.mapping.model_height.max(1),
        );
        let (sx, sy) = (
            self.width as f64 / mw as f64,
            self.height as f64 / mh as f64,
        );
        let to_frame = roi.crop_to_frame(self.width, self.height);
        let z_scale = roi.side / self.width.max(1) as f64 * sx;
        let pts = points
            .data
            .chunks_exact(vpp)
            .map(|p| {
                let (x, y) = to_frame.apply(p[0] as f64 * sx, p[1] as f64 * sy);
                let z = if vpp == 3 { p[2] as f64 * z_scale } else { 0.0 };
                [x, y, z]
            })
            .collect();
        let presence = match &self.spec.presence {
            None => None,
            Some(out) => {
                let t = inferred.get(out).ok_or_else(|| {
                    Error::new(format!(
                        "landmark model '{name}' did not return its presence output '{out}'"
                    ))
                })?;
                let raw = *t.data.first().ok_or_else(|| {
                    Error::new(format!(
                        "landmark model '{name}': presence output '{out}' is empty"
                    ))
                })?;
                Some(
                    match self.spec.presence_activation.unwrap_or(Activation::None) {
                        Activation::Sigmoid => 1.0 / (1.0 + (-raw).exp()),
                        Activation::None => raw,
                    },
                )
            }
        };
        let present = match (presence, self.spec.min_presence) {
            (Some(p), Some(min)) => p >= min,
            _ => true,
        };
        Ok(FaceLandmarks {
            points: pts,
            presence,
            present,
            roi: *roi,
            named: self.spec.named_points.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::{FaceBox, Keypoint};

    fn alignment() -> Alignment {
        Alignment::DetectionRoi {
            detector: "d".into(),
            rotation_keypoints: ["right_eye".into(), "left_eye".into()],
            target_angle_deg: 0.0,
            scale: 1.5,
            square: Square::Long,
            border: Border::Replicate,
        }
    }

    fn face(eyes: [(f64, f64); 2]) -> Face {
        Face {
            bbox: FaceBox::from_corners((100.0, 200.0), (180.0, 300.0)),
            score: 0.9,
            keypoints: vec![
                Keypoint {
                    name: "right_eye".into(),
                    x: eyes[0].0,
                    y: eyes[0].1,
                },
                Keypoint {
                    name: "left_eye".into(),
                    x: eyes[1].0,
                    y: eyes[1].1,
                },
            ],
        }
    }

    #[test]
    fn level_eyes_give_an_upright_square_of_the_long_side() {
        let roi = Roi::from_face(&face([(120.0, 270.0), (160.0, 270.0)]), &alignment()).unwrap();
        assert_eq!(roi.centre, (140.0, 250.0));
        assert_eq!(roi.side, 150.0);
        assert!(roi.rotation.abs() < 1e-12);
        let m = roi.crop_to_frame(192, 192);
        // The crop's top-left corner is the region's top-left (small x, large y).
        let (x, y) = m.apply(0.0, 0.0);
        assert!(
            (x - 65.0).abs() < 1e-9 && (y - 325.0).abs() < 1e-9,
            "{x},{y}"
        );
        let (x, y) = m.apply(96.0, 96.0);
        assert!((x - 140.0).abs() < 1e-9 && (y - 250.0).abs() < 1e-9);
    }

    #[test]
    fn a_crop_of_the_part_it_reads_equals_a_crop_of_the_whole_frame() {
        let frame = FloatImage::from_fn(Rect::new(0, 0, 300, 400), |x, y| {
            let v = ((x * 13 + y * 7) % 101) as f32 / 100.0;
            [v, v * v, 1.0 - v, 1.0]
        });
        for eyes in [
            [(120.0, 280.0), (160.0, 260.0)],
            [(20.0, 380.0), (60.0, 390.0)],
            [(250.0, 20.0), (290.0, 5.0)],
        ] {
            let mut f = face(eyes);
            f.bbox = crate::face::FaceBox::from_corners(
                (eyes[0].0 - 20.0, eyes[0].1 - 60.0),
                (eyes[1].0 + 20.0, eyes[1].1 + 30.0),
            );
            let roi = Roi::from_face(&f, &alignment()).unwrap();
            let m = roi.crop_to_frame(192, 192);
            let rect = roi.frame_rect(192, 192, frame.bounds);
            assert!(frame.bounds.contains_rect(&rect) && !rect.is_empty());
            let part = crate::resize::crop(&frame, rect);
            let whole = warp(&frame, &m, 192, 192, Border::Replicate);
            assert_eq!(warp(&part, &m, 192, 192, Border::Replicate), whole);
        }
    }

    #[test]
    fn the_crop_rows_follow_tilted_eyes() {
        // The subject's left eye (image right) lower than the right eye: as seen, the eye line
        // goes down to the right, a clockwise rotation.
        let roi = Roi::from_face(&face([(120.0, 280.0), (160.0, 260.0)]), &alignment()).unwrap();
        let want = (20.0f64).atan2(40.0);
        assert!((roi.rotation - want).abs() < 1e-12, "{}", roi.rotation);
        // Moving right along a crop row follows the eye line in the frame.
        let m = roi.crop_to_frame(192, 192);
        let (x0, y0) = m.apply(96.0, 96.0);
        let (x1, y1) = m.apply(106.0, 96.0);
        assert!(((y1 - y0) / (x1 - x0) - (-0.5)).abs() < 1e-9);
        // And down a crop column goes down in the picture (smaller y).
        let (_, y2) = m.apply(96.0, 106.0);
        assert!(y2 < y0);
    }
}
