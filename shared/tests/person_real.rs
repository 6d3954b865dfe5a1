//! The real converted MediaPipe person models on real photographs: the full-range face detector
//! finds the astronaut's face at full size and when the photo is shrunk into a corner of a large
//! frame (a far face), and finds none in a photo without a face.
//!
//! Needs `PIXELSPACE_MODELS_DIR` with the converted models (`pixelspace models fetch --defaults`)
//! and python3 with scikit-image for the photos. Tests fail with instructions when either is
//! missing; they never skip.

mod common;

use common::*;
use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::face::detect::FaceDetector;
use pixelspace_shared::face::{Face, FaceBox};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::FloatImage;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::policy::LicencePolicy;
use pixelspace_shared::runtime::Provider;

/// Hand-marked face in the astronaut photo, (x1, y1, x2, y2) pixels, y down.
const ASTRONAUT_FACE: (f64, f64, f64, f64) = (178.0, 78.0, 272.0, 182.0);

fn real(stem: &str) -> InferencePipeline {
    init_runtime();
    let path = real_model_path(stem);
    let m = Manifest::for_model(&path).unwrap_or_else(|e| panic!("{e}"));
    InferencePipeline::new_with_policy(m, path, Provider::Cpu, &LicencePolicy::allow_all())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A scikit-image photo as a frame (RGBA, sRGB-encoded, y up, bounds from the origin).
fn photo(name: &str) -> FloatImage {
    let (w, h, bytes) = skimage_photo(name);
    let (w, h) = (w as i32, h as i32);
    FloatImage::from_fn(Rect::new(0, 0, w, h), |x, y| {
        let i = (((h - 1 - y) * w + x) * 3) as usize;
        [
            bytes[i] as f32 / 255.0,
            bytes[i + 1] as f32 / 255.0,
            bytes[i + 2] as f32 / 255.0,
            1.0,
        ]
    })
}

/// `img` shrunk by an integer factor (box average) and placed with its lower-left corner at
/// (x0, y0) of a mid-grey frame of `size` x `size`.
fn shrunk_into(img: &FloatImage, factor: i32, size: i32, x0: i32, y0: i32) -> FloatImage {
    let (w, h) = (img.width() as i32 / factor, img.height() as i32 / factor);
    FloatImage::from_fn(Rect::new(0, 0, size, size), |x, y| {
        let (u, v) = (x - x0, y - y0);
        if u < 0 || v < 0 || u >= w || v >= h {
            return [0.5, 0.5, 0.5, 1.0];
        }
        let mut acc = [0.0f32; 4];
        for dy in 0..factor {
            for dx in 0..factor {
                let p = img.pixel(u * factor + dx, v * factor + dy);
                for c in 0..4 {
                    acc[c] += p[c];
                }
            }
        }
        acc.map(|a| a / (factor * factor) as f32)
    })
}

fn full_range(img: &FloatImage) -> Vec<Face> {
    let det = FaceDetector::new(real("face_detector_full_range")).unwrap_or_else(|e| panic!("{e}"));
    det.detect(img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_range_detector_finds_the_astronaut_near_and_far() {
    let astronaut = photo("astronaut");
    let marked = {
        let (x1, y1, x2, y2) = ASTRONAUT_FACE;
        FaceBox::from_y_down(x1, y1, x2, y2, 512.0)
    };
    let faces = full_range(&astronaut);
    assert_eq!(faces.len(), 1, "{faces:?}");
    let iou = faces[0].bbox.iou(&marked);
    eprintln!("full range, full size: score {:.3}, IoU {iou:.3}", faces[0].score);
    assert!(iou >= 0.6, "IoU {iou:.3} with the hand-marked face");
    // Eyes inside the box, in its upper half (y up).
    for eye in ["right_eye", "left_eye"] {
        let (x, y) = faces[0].keypoint(eye).unwrap();
        assert!(faces[0].bbox.contains(x, y), "{eye} at ({x:.0}, {y:.0})");
        assert!(y > faces[0].bbox.centre().1, "{eye} below the box centre");
    }

    // Shrunk 2x into the top-right of a 768 frame: the face is ~47 px wide, 12 px at the
    // model's 192 input.
    let (factor, size, x0, y0) = (2, 768, 480, 500);
    let far = shrunk_into(&astronaut, factor, size, x0, y0);
    let faces = full_range(&far);
    let f = factor as f64;
    let want = FaceBox {
        x1: x0 as f64 + marked.x1 / f,
        y1: y0 as f64 + marked.y1 / f,
        x2: x0 as f64 + marked.x2 / f,
        y2: y0 as f64 + marked.y2 / f,
    };
    let best = faces
        .iter()
        .map(|face| face.bbox.iou(&want))
        .fold(0.0, f64::max);
    eprintln!("full range, 1/{factor} size: {} faces, best IoU {best:.3}", faces.len());
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(best >= 0.5, "best IoU {best:.3} with the shrunk face {want:?}");
}

#[test]
fn full_range_detector_sees_no_face_in_a_photo_without_one() {
    let faces = full_range(&photo("coffee"));
    assert!(faces.is_empty(), "{faces:?}");
}
