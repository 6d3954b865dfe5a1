//! The real converted face and matte models on a real photograph (scikit-image's astronaut
//! portrait, 512x512, one face): BlazeFace finds the face where it was marked by hand, the face
//! mesh's eyes and mouth fall inside the detection, the selfie matte covers the person and not
//! the background, CenterFace finds the same face, a 5-point alignment puts the eyes on the
//! template, and neither detector sees a face in a photo without one.
//!
//! Needs `PIXELSPACE_MODELS_DIR`: a folder whose subfolders hold face_detector, face_landmarks,
//! selfie_segmentation and centerface (`.onnx` with the `.json` manifest beside it), as
//! `pixelspace models fetch --defaults` writes them (or models/convert/mediapipe.py and
//! centerface.py with `--out DIR/NAME`); and python3 with scikit-image for the photos. Tests fail
//! with instructions when either is missing; they never skip.

mod common;

use common::*;
use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::face::align::{align_to_template, five_points};
use pixelspace_shared::face::detect::FaceDetector;
use pixelspace_shared::face::landmarks::{FaceLandmarks, Landmarker};
use pixelspace_shared::face::{Face, FaceBox};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, FloatImage, ImageView, ImageViewMut, PixelDepth};
use pixelspace_shared::manifest::Alignment;
use pixelspace_shared::pipeline::{InputImage, RenderRequest};

/// Hand-marked face in the astronaut photo, (x1, y1, x2, y2) pixels, y down (as in
/// models/convert/check_faces.py): hairline to chin, cheek to cheek.
const ASTRONAUT_FACE: (f64, f64, f64, f64) = (178.0, 78.0, 272.0, 182.0);
/// A named box (x1, y1, x2, y2), y down.
type Region = (&'static str, (i32, i32, i32, i32));
/// Regions that are the person (face, torso) and background (flag, wall), y down.
const PERSON: [Region; 2] = [
    ("face", (180, 80, 270, 175)),
    ("torso", (80, 320, 300, 480)),
];
const BACKGROUND: [Region; 2] = [
    ("flag", (0, 0, 100, 150)),
    ("wall right of the head", (300, 0, 512, 120)),
];

fn astronaut() -> FloatImage {
    static PHOTO: std::sync::OnceLock<FloatImage> = std::sync::OnceLock::new();
    PHOTO.get_or_init(|| photo("astronaut")).clone()
}

fn marked_face() -> FaceBox {
    let (x1, y1, x2, y2) = ASTRONAUT_FACE;
    FaceBox::from_y_down(x1, y1, x2, y2, 512.0)
}

fn blazeface(img: &FloatImage) -> Vec<Face> {
    let det = FaceDetector::new(real("face_detector")).unwrap_or_else(|e| panic!("{e}"));
    det.detect(img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn centerface(img: &FloatImage) -> Vec<Face> {
    let det = FaceDetector::new(real("centerface")).unwrap_or_else(|e| panic!("{e}"));
    det.detect(img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn the_face() -> Face {
    let faces = blazeface(&astronaut());
    assert_eq!(
        faces.len(),
        1,
        "BlazeFace found {} faces: {faces:?}",
        faces.len()
    );
    faces[0].clone()
}

fn landmarks(face: &Face) -> FaceLandmarks {
    let lm = Landmarker::new(real("face_landmarks")).unwrap_or_else(|e| panic!("{e}"));
    lm.run(&astronaut(), ColourSpace::Srgb, face)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn y_down(b: &FaceBox) -> [f64; 4] {
    [b.x1, 512.0 - b.y2, b.x2, 512.0 - b.y1]
}

#[test]
fn blazeface_finds_the_astronauts_face_where_it_was_marked() {
    let face = the_face();
    let iou = face.bbox.iou(&marked_face());
    eprintln!(
        "BlazeFace: score {:.3}, box (y down) {:?}, IoU {iou:.3} with the marked face {ASTRONAUT_FACE:?}",
        face.score,
        y_down(&face.bbox)
    );
    assert!(
        iou >= 0.7,
        "IoU {iou:.3} with the hand-marked face (need >= 0.7)"
    );
    assert!(face.score > 0.8, "score {}", face.score);
    // The Python reference decoding (face_common.py) of the same model gives
    // [177.4, 80.6, 271.8, 175.1] (y down); the input resampling differs slightly.
    let reference = FaceBox::from_y_down(177.4, 80.6, 271.8, 175.1, 512.0);
    let b = face.bbox;
    for (got, want, what) in [
        (b.x1, reference.x1, "x1"),
        (b.y1, reference.y1, "y1"),
        (b.x2, reference.x2, "x2"),
        (b.y2, reference.y2, "y2"),
    ] {
        assert!(
            (got - want).abs() < 3.0,
            "{what}: {got:.1} vs the reference {want:.1}"
        );
    }
    // Eyes in the upper half (y up: above the centre), mouth in the lower.
    let mid = b.centre().1;
    let (re, le, mouth) = (
        face.keypoint("right_eye").unwrap(),
        face.keypoint("left_eye").unwrap(),
        face.keypoint("mouth_center").unwrap(),
    );
    assert!(
        re.1 > mid && le.1 > mid && mouth.1 < mid,
        "eyes {re:?} {le:?}, mouth {mouth:?}, mid {mid}"
    );
    // The subject's right eye is on the image's left.
    assert!(re.0 < le.0);
    for k in &face.keypoints[..4] {
        assert!(
            b.contains(k.x, k.y),
            "{} at ({}, {}) outside {b:?}",
            k.name,
            k.x,
            k.y
        );
    }
}

#[test]
fn landmarks_put_eyes_and_mouth_inside_the_detected_face() {
    let face = the_face();
    let lm = landmarks(&face);
    let presence = lm.presence.unwrap();
    eprintln!(
        "landmarks: presence {presence:.4}, crop side {:.1} px, rotation {:.1} deg",
        lm.roi.side,
        lm.roi.rotation.to_degrees()
    );
    assert!(lm.present && presence > 0.5, "presence {presence}");
    assert_eq!(lm.points.len(), 468);
    let names = [
        "right_eye_outer",
        "right_eye_inner",
        "left_eye_inner",
        "left_eye_outer",
        "mouth_upper",
        "mouth_lower",
        "mouth_right",
        "mouth_left",
        "nose_tip",
    ];
    let p = |n: &str| lm.point(n).unwrap_or_else(|| panic!("no named point {n}"));
    for n in names {
        let (x, y) = p(n);
        eprintln!("  {n}: ({x:.1}, {:.1}) y down", 512.0 - y);
        assert!(
            face.bbox.contains(x, y),
            "{n} ({x:.1}, {y:.1}) outside the detection {:?}",
            face.bbox
        );
    }
    // Eyes above the nose above the mouth (y up), the subject's right eye on the image's left.
    let eye_y = p("right_eye_outer").1.min(p("left_eye_outer").1);
    assert!(
        eye_y > p("nose_tip").1
            && p("nose_tip").1 > p("mouth_upper").1
            && p("mouth_upper").1 > p("mouth_lower").1
    );
    assert!(
        p("right_eye_outer").0 < p("right_eye_inner").0
            && p("right_eye_inner").0 < p("left_eye_inner").0
            && p("left_eye_inner").0 < p("left_eye_outer").0
    );
    // The mesh's eye centres agree with the detector's eye keypoints (within 10% of the box).
    let mid = |a: (f64, f64), b: (f64, f64)| ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    let limit = 0.1 * face.bbox.width();
    for (mesh, det) in [
        (
            mid(p("right_eye_outer"), p("right_eye_inner")),
            face.keypoint("right_eye").unwrap(),
        ),
        (
            mid(p("left_eye_outer"), p("left_eye_inner")),
            face.keypoint("left_eye").unwrap(),
        ),
    ] {
        let d = (mesh.0 - det.0).hypot(mesh.1 - det.1);
        eprintln!(
            "  mesh eye centre {mesh:.1?} vs detector eye {det:.1?} (y up): {d:.1} px (limit {limit:.1})"
        );
        assert!(d < limit, "{d} px");
    }
    // The Python reference (check_faces.py) puts the nose tip at (223.9, 131.1), y down.
    let (nx, ny) = p("nose_tip");
    assert!(
        (nx - 223.9).abs() < 3.0 && (512.0 - ny - 131.1).abs() < 3.0,
        "nose tip ({nx}, {})",
        512.0 - ny
    );
}

/// Mean of the alpha channel over a y-down box of a 512-high frame.
fn mean_alpha(img: &[f32], width: i32, (x1, y1, x2, y2): (i32, i32, i32, i32)) -> f64 {
    let mut sum = 0.0;
    for yd in y1..y2 {
        let y = 511 - yd;
        for x in x1..x2 {
            sum += img[((y * width + x) * 4 + 3) as usize] as f64;
        }
    }
    sum / ((x2 - x1) * (y2 - y1)) as f64
}

#[test]
fn the_selfie_matte_covers_the_person_and_not_the_background() {
    let p = real("selfie_segmentation");
    let photo = astronaut();
    let frame = photo.bounds;
    // Render through the pipeline as the Inference effect does: float RGBA host buffers.
    let src: Vec<u8> = photo.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let mut dst = vec![0u8; src.len()];
    let row = 512 * 16;
    let view = ImageView::new(&src, 0, row, frame, PixelDepth::Float, Components::Rgba).unwrap();
    let mut out =
        ImageViewMut::new(&mut dst, 0, row, frame, PixelDepth::Float, Components::Rgba).unwrap();
    p.render(
        &RenderRequest {
            inputs: vec![InputImage {
                clip: "Source".into(),
                frame_offset: 0,
                image: view,
            }],
            window: frame,
            frame_colour: ColourSpace::Srgb,
            is_cancelled: &|| false,
            progress: &|_| {},
        },
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rgba: Vec<f32> = dst
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // The colour channels keep the photo.
    assert!(
        rgba.iter()
            .zip(&photo.data)
            .enumerate()
            .all(|(i, (a, b))| i % 4 == 3 || a == b)
    );
    for (name, r) in PERSON {
        let m = mean_alpha(&rgba, 512, r);
        eprintln!("matte over the {name} {r:?}: {m:.4}");
        assert!(m >= 0.9, "mean matte {m:.4} over the {name}");
    }
    for (name, r) in BACKGROUND {
        let m = mean_alpha(&rgba, 512, r);
        eprintln!("matte over the {name} {r:?}: {m:.4}");
        assert!(m <= 0.05, "mean matte {m:.4} over the {name}");
    }
}

#[test]
fn centerface_finds_the_same_face() {
    let photo = astronaut();
    let faces = centerface(&photo);
    assert_eq!(
        faces.len(),
        1,
        "CenterFace found {} faces: {faces:?}",
        faces.len()
    );
    let cf = &faces[0];
    let bf = the_face();
    let with_marked = cf.bbox.iou(&marked_face());
    let with_blazeface = cf.bbox.iou(&bf.bbox);
    eprintln!(
        "CenterFace: score {:.3}, box (y down) {:?}, IoU {with_marked:.3} with the marked face, {with_blazeface:.3} with BlazeFace's",
        cf.score,
        y_down(&cf.bbox)
    );
    assert!(
        with_marked >= 0.7,
        "IoU {with_marked:.3} with the marked face"
    );
    assert!(
        with_blazeface >= 0.6,
        "IoU {with_blazeface:.3} with BlazeFace's box"
    );
    for eye in ["right_eye", "left_eye"] {
        let (a, b) = (cf.keypoint(eye).unwrap(), bf.keypoint(eye).unwrap());
        let d = (a.0 - b.0).hypot(a.1 - b.1);
        eprintln!("  {eye}: CenterFace {a:.1?}, BlazeFace {b:.1?}: {d:.1} px");
        assert!(d <= 10.0, "{eye}: {d:.1} px apart");
    }
    // The Python reference decoding (face_common.py) gives [181.5, 58.2, 269.9, 177.8], y down.
    let reference = FaceBox::from_y_down(181.5, 58.2, 269.9, 177.8, 512.0);
    assert!(cf.bbox.iou(&reference) > 0.97, "{:?}", y_down(&cf.bbox));
}

#[test]
#[allow(clippy::excessive_precision)] // the published template's digits
fn five_point_alignment_puts_the_mesh_eyes_on_the_template() {
    let photo = astronaut();
    let cf = centerface(&photo).remove(0);
    let points = five_points(&cf).unwrap_or_else(|e| panic!("{e}"));
    // The arcface template at 112 px (models/README.md).
    let template = [
        [0.34191607, 0.46157411],
        [0.65653393, 0.45983393],
        [0.500225, 0.64050536],
        [0.3709759, 0.82469196],
        [0.63151696, 0.82325089],
    ];
    let alignment = Alignment::Template {
        template,
        size: 112,
    };
    let aligned = align_to_template(&photo, &points, &alignment).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(aligned.crop.bounds, Rect::new(0, 0, 112, 112));
    // An upright similarity of the picture: no reflection once the y flip is taken out.
    let m = aligned.frame_to_crop;
    assert!(
        m.determinant() < 0.0,
        "frame (y up) to crop (y down) flips y once"
    );
    // Independent check: the face mesh's eye centres land near the template's eyes.
    let lm = landmarks(&the_face());
    let p = |n: &str| lm.point(n).unwrap();
    let eye = |a: (f64, f64), b: (f64, f64)| m.apply((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    for (got, want, what) in [
        (
            eye(p("right_eye_outer"), p("right_eye_inner")),
            template[0],
            "image-left eye",
        ),
        (
            eye(p("left_eye_outer"), p("left_eye_inner")),
            template[1],
            "image-right eye",
        ),
    ] {
        let d = (got.0 - want[0] as f64 * 112.0).hypot(got.1 - want[1] as f64 * 112.0);
        eprintln!(
            "aligned {what}: ({:.1}, {:.1}), template ({:.1}, {:.1}): {d:.1} px",
            got.0,
            got.1,
            want[0] * 112.0,
            want[1] * 112.0
        );
        assert!(d < 6.0, "{what} {d:.1} px from the template");
    }
    // The crop's centre shows the face (skin, not the dark suit or the flag's blue).
    let c = aligned.crop.pixel(56, 56);
    assert!(c[0] > 0.4 && c[0] > c[2], "crop centre {c:?}");
}

#[test]
fn no_face_in_a_photo_without_one() {
    let coffee = photo("coffee");
    let bf = blazeface(&coffee);
    let cf = centerface(&coffee);
    assert!(
        bf.is_empty() && cf.is_empty(),
        "BlazeFace {bf:?}, CenterFace {cf:?}"
    );
}
