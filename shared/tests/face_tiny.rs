//! Face decoding on the tiny stand-in models (tests/data/tiny_faces.py): their outputs are known,
//! so detections, keypoints and landmark points in frame pixels are checked to the last digit
//! through the letterbox, padding and rotated-crop mappings. Fast; ONNX Runtime and python3 with
//! onnx and numpy are needed.

mod common;

use common::*;
use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::face::detect::FaceDetector;
use pixelspace_shared::face::landmarks::Landmarker;
use pixelspace_shared::face::{Face, FaceBox};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::FloatImage;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::policy::LicencePolicy;
use pixelspace_shared::runtime::Provider;

fn pipeline(name: &str) -> InferencePipeline {
    init_runtime();
    let path = tiny_models().join(format!("{name}.onnx"));
    let m = Manifest::for_model(&path).unwrap_or_else(|e| panic!("{e}"));
    InferencePipeline::new_with_policy(m, path, Provider::Cpu, &LicencePolicy::allow_all())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn expected(name: &str) -> serde_json::Value {
    let path = tiny_models().join(format!("{name}.expected.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs expected {b}");
}

/// The tiny detector's one face in a wide grey region.
fn tiny_face() -> (Face, Rect) {
    let det = FaceDetector::new(pipeline("face_detector")).unwrap_or_else(|e| panic!("{e}"));
    // 200x100 region: letterboxed to the 200x200 square (10, -30)..(210, 170).
    let region = Rect::new(10, 20, 210, 120);
    let img = FloatImage::filled(region, [0.4, 0.4, 0.4, 1.0]);
    let faces = det
        .detect(&img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faces.len(), 1, "{faces:?}");
    (faces[0].clone(), region)
}

#[test]
fn blazeface_decoding_maps_the_face_through_the_letterbox() {
    let (face, _) = tiny_face();
    let exp = expected("face_detector");
    close(
        face.score as f64,
        exp["score"].as_f64().unwrap(),
        1e-6,
        "score",
    );
    // Model units -> the 200 px square whose top-left (y up: top = 170) is (10, 170).
    let to_frame = |u: f64, v: f64| (10.0 + u * 200.0, 170.0 - v * 200.0);
    let b = exp["box_xyxy_model_units"].as_array().unwrap();
    let (x1, y_top) = to_frame(b[0].as_f64().unwrap(), b[1].as_f64().unwrap());
    let (x2, y_bottom) = to_frame(b[2].as_f64().unwrap(), b[3].as_f64().unwrap());
    let want = FaceBox::from_corners((x1, y_top), (x2, y_bottom));
    for (got, want, what) in [
        (face.bbox.x1, want.x1, "x1"),
        (face.bbox.y1, want.y1, "y1"),
        (face.bbox.x2, want.x2, "x2"),
        (face.bbox.y2, want.y2, "y2"),
    ] {
        close(got, want, 1e-3, what);
    }
    // Centred on the region, 0.4 x 200 = 80 px wide.
    close(face.bbox.centre().0, 110.0, 1e-3, "centre x");
    close(face.bbox.centre().1, 70.0, 1e-3, "centre y");
    close(face.bbox.width(), 80.0, 1e-3, "width");
    let names = exp["keypoint_names"].as_array().unwrap();
    let kps = exp["keypoints_model_units"].as_array().unwrap();
    assert_eq!(face.keypoints.len(), names.len());
    for (k, (name, uv)) in face.keypoints.iter().zip(names.iter().zip(kps)) {
        assert_eq!(k.name, name.as_str().unwrap());
        let (x, y) = to_frame(uv[0].as_f64().unwrap(), uv[1].as_f64().unwrap());
        close(k.x, x, 1e-3, &k.name);
        close(k.y, y, 1e-3, &k.name);
    }
    // The eyes are above the mouth in a y-up frame.
    assert!(face.keypoint("right_eye").unwrap().1 > face.keypoint("mouth_center").unwrap().1);
}

#[test]
fn landmark_points_come_back_through_the_rotated_region() {
    let (face, _) = tiny_face();
    let lm = Landmarker::new(pipeline("face_landmarks")).unwrap_or_else(|e| panic!("{e}"));
    let region = Rect::new(0, -40, 230, 200);
    let img = FloatImage::filled(region, [0.5, 0.5, 0.5, 1.0]);
    let out = lm
        .run(&img, ColourSpace::Srgb, &face)
        .unwrap_or_else(|e| panic!("{e}"));
    let exp = expected("face_landmarks");
    close(
        out.presence.unwrap() as f64,
        exp["presence"].as_f64().unwrap(),
        1e-6,
        "presence",
    );
    assert!(out.present);
    assert_eq!(out.points.len(), 468);
    // The tiny face's eyes are level: an upright square, 1.5 x the 80 px box, on its centre.
    assert!(out.roi.rotation.abs() < 1e-9, "{}", out.roi.rotation);
    close(out.roi.side, 120.0, 1e-3, "side");
    let (cx, cy) = (110.0, 70.0);
    let k = 120.0 / 192.0;
    for (name, uv) in exp["named_points_crop_pixels"].as_object().unwrap() {
        let (u, v) = (uv[0].as_f64().unwrap(), uv[1].as_f64().unwrap());
        let (x, y) = out.point(name).unwrap();
        close(x, cx + (u - 96.0) * k, 1e-3, name);
        close(y, cy - (v - 96.0) * k, 1e-3, name);
    }
    // All points, not only the named ones.
    let all = exp["all_points_crop_pixels"].as_array().unwrap();
    for (p, e) in out.points.iter().zip(all) {
        close(p[0], cx + (e[0].as_f64().unwrap() - 96.0) * k, 1e-3, "x");
        close(p[1], cy - (e[1].as_f64().unwrap() - 96.0) * k, 1e-3, "y");
        close(p[2], e[2].as_f64().unwrap() * k, 1e-3, "z");
    }
}

#[test]
fn the_landmark_crop_is_upright_and_samples_the_region() {
    let (face, _) = tiny_face();
    let lm = Landmarker::new(pipeline("face_landmarks")).unwrap_or_else(|e| panic!("{e}"));
    // Pixel values = their own coordinates / 1000: bilinear sampling is exact on a ramp.
    let region = Rect::new(0, -40, 230, 200);
    let img = FloatImage::from_fn(region, |x, y| {
        [x as f32 / 1000.0, (y + 100) as f32 / 1000.0, 0.0, 1.0]
    });
    let roi = lm.roi(&face).unwrap();
    let crop = lm.crop(&img, &roi);
    assert_eq!(crop.bounds, Rect::new(0, 0, 192, 192));
    let k = 120.0 / 192.0;
    // Crop pixel (i, j), j from the top, is image row 191 - j.
    for (i, j) in [(0, 0), (191, 0), (0, 191), (96, 40), (17, 150)] {
        let p = crop.pixel(i, 191 - j);
        let x = 50.0 + (i as f64 + 0.5) * k; // region's left edge: 110 - 60
        let y = 130.0 - (j as f64 + 0.5) * k; // top edge: 70 + 60
        close(p[0] as f64, (x - 0.5) / 1000.0, 1e-5, "x ramp");
        close(p[1] as f64, (y - 0.5 + 100.0) / 1000.0, 1e-5, "y ramp");
    }
}

#[test]
fn centerface_decoding_finds_bright_cells_through_the_padding() {
    let det = FaceDetector::new(pipeline("centerface")).unwrap_or_else(|e| panic!("{e}"));
    let exp = expected("centerface");
    // 90x60 region padded to 96x64 (right and bottom); grid 24x16 cells of 4 px.
    let region = Rect::new(100, 200, 190, 260);
    // One bright 4x4 cell at grid (5, 3) (tensor rows 12..16 from the top, y = 259 - row) and
    // two adjacent ones at (15, 10), (16, 10), which overlap (IoU 0.6) and are suppressed to one.
    let bright = |gx: i32, gy: i32, x: i32, y: i32| {
        let (col, row) = (x - 100, 259 - y);
        col / 4 == gx && row / 4 == gy
    };
    let img = FloatImage::from_fn(region, |x, y| {
        let v = if bright(5, 3, x, y) || bright(15, 10, x, y) || bright(16, 10, x, y) {
            1.0
        } else {
            0.0
        };
        [v, v, v, 1.0]
    });
    let faces = det
        .detect(&img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(faces.len(), 2, "{faces:?}");
    let lm = exp["landmarks_yx_box_units"].as_array().unwrap();
    for (gx, gy) in [(5, 3), (15, 10)] {
        let f = faces
            .iter()
            .find(|f| (f.bbox.centre().0 - (100.0 + (gx as f64 + 0.5) * 4.0)).abs() < 3.0)
            .unwrap_or_else(|| panic!("no face at cell ({gx}, {gy}): {faces:?}"));
        // exp(ln 4) * 4 = 16 px boxes centred on the cell.
        let u1 = (gx as f64 + 0.5) * 4.0 - 8.0;
        let v1 = (gy as f64 + 0.5) * 4.0 - 8.0;
        close(f.bbox.x1, 100.0 + u1, 1e-3, "x1");
        close(f.bbox.x2, 100.0 + u1 + 16.0, 1e-3, "x2");
        close(f.bbox.y2, 260.0 - v1, 1e-3, "y2 (top)");
        close(f.bbox.y1, 260.0 - v1 - 16.0, 1e-3, "y1 (bottom)");
        assert!(f.score > 0.98, "{}", f.score);
        assert_eq!(f.keypoints.len(), 5);
        for (k, kp) in f.keypoints.iter().enumerate() {
            let (ly, lx) = (lm[2 * k].as_f64().unwrap(), lm[2 * k + 1].as_f64().unwrap());
            close(kp.x, 100.0 + u1 + lx * 16.0, 1e-3, &kp.name);
            close(kp.y, 260.0 - (v1 + ly * 16.0), 1e-3, &kp.name);
        }
    }
    // A face at the padded edge is clamped to the region.
    let edge = FloatImage::from_fn(region, |x, y| {
        let v = if bright(22, 14, x, y) { 1.0 } else { 0.0 };
        [v, v, v, 1.0]
    });
    let faces = det.detect(&edge, ColourSpace::Srgb).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(
        faces[0].bbox.x2 <= 190.0 && faces[0].bbox.y1 >= 200.0,
        "{faces:?}"
    );
}

#[test]
fn models_without_their_block_are_refused_with_a_reason() {
    let e = FaceDetector::new(pipeline("face_landmarks")).unwrap_err();
    assert!(e.message().contains("no 'detection' block"), "{e}");
    let e = Landmarker::new(pipeline("face_detector")).unwrap_err();
    assert!(e.message().contains("no 'landmarks' block"), "{e}");
}
