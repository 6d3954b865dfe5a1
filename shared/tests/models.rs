//! The converted models' manifests and the data-model pipeline: every manifest the converters
//! in models/convert write loads and validates; the tiny stand-ins (same manifests, tiny
//! weights) verify, run through `InferencePipeline::infer` with the right output shapes and
//! known numbers, and map coordinates back; the licence policy refuses non-commercial models.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, FloatImage, ImageView, ImageViewMut, PixelDepth};
use pixelspace_shared::manifest::{
    Alignment, Detection, Dim, Fit, Manifest, Output, Role, Size, sha256_file,
};
use pixelspace_shared::pipeline::{
    FitMapping, InferRequest, InferencePipeline, InputImage, RenderRequest,
};
use pixelspace_shared::policy::LicencePolicy;
use pixelspace_shared::runtime::Provider;

const TINY: [&str; 5] = [
    "tiny_rife",
    "face_detector",
    "face_landmarks",
    "selfie_segmentation",
    "centerface",
];

fn tiny(name: &str) -> PathBuf {
    tiny_models().join(format!("{name}.onnx"))
}

fn pipeline(name: &str) -> InferencePipeline {
    init_runtime();
    let m = Manifest::for_model(&tiny(name)).unwrap_or_else(|e| panic!("{e}"));
    InferencePipeline::new_with_policy(m, tiny(name), Provider::Cpu, &LicencePolicy::allow_all())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn image(region: Rect, f: impl Fn(i32, i32) -> [f32; 4]) -> FloatImage {
    FloatImage::from_fn(region, f)
}

fn grey(region: Rect, v: f32) -> FloatImage {
    image(region, |_, _| [v, v, v, 1.0])
}

fn infer(
    p: &InferencePipeline,
    images: &[(&str, &FloatImage)],
    constants: &[(&str, &[f32])],
) -> pixelspace_shared::pipeline::Inferred {
    p.infer(&InferRequest {
        images,
        frame_colour: ColourSpace::Srgb,
        constants,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn parse_value(v: &serde_json::Value) -> pixelspace_shared::error::Result<Manifest> {
    Manifest::parse(v.to_string().as_bytes(), Path::new("models/edited.json"))
}

#[test]
fn every_converter_manifest_loads_and_validates() {
    let (dir, names) = converter_manifests();
    assert!(names.len() >= 8, "{names:?}");
    for name in &names {
        let m = Manifest::load(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Serialising gives back the same manifest.
        let text = serde_json::to_string(&m).unwrap();
        let again = Manifest::parse(text.as_bytes(), &dir.join(name)).unwrap();
        assert_eq!(m, again, "{name}");
    }
    let rife = Manifest::load(&dir.join("rife.json")).unwrap();
    assert!(rife.produces_image());
    assert_eq!(rife.timestep_input().unwrap().name, "timestep");
    assert_eq!(rife.timestep_input().unwrap().role, Some(Role::Timestep));
    match rife.output("flow").unwrap() {
        Output::Flow(f) => {
            assert_eq!(f.flows, ["img0", "img1"]);
            assert_eq!(f.channel_count(), 4);
        }
        other => panic!("flow is {other:?}"),
    }
    assert!(rife.parity.is_some());

    let det = Manifest::load(&dir.join("face_detector.json")).unwrap();
    assert!(!det.produces_image());
    assert_eq!(
        det.size,
        Size::Fixed {
            width: 128,
            height: 128,
            fit: Fit::Letterbox
        }
    );
    match det.detection.as_ref().unwrap() {
        Detection::SsdAnchors {
            anchors, decode, ..
        } => {
            let centres = anchors.centres();
            assert_eq!(centres.len(), 896);
            assert_eq!(decode.keypoints.len(), 6);
            // 16x16 grid, 2 anchors per cell, then 8x8 with 6.
            assert_eq!(centres[0], [0.5 / 16.0, 0.5 / 16.0]);
            assert_eq!(centres[238], [7.5 / 16.0, 7.5 / 16.0]);
            assert_eq!(centres[512], [0.5 / 8.0, 0.5 / 8.0]);
        }
        other => panic!("{other:?}"),
    }
    // The full-range detector: one stride-4 layer on 192x192, one anchor per cell.
    let full = Manifest::load(&dir.join("face_detector_full_range.json")).unwrap();
    match full.detection.as_ref().unwrap() {
        Detection::SsdAnchors {
            anchors, decode, ..
        } => {
            let centres = anchors.centres();
            assert_eq!(centres.len(), 2304);
            assert_eq!(decode.num_boxes, 2304);
            assert_eq!(centres[1], [1.5 / 48.0, 0.5 / 48.0]);
            assert_eq!(centres[48], [0.5 / 48.0, 1.5 / 48.0]);
        }
        other => panic!("{other:?}"),
    }
    // The person detector and BlazePose: the pose crop is a keypoint circle around the
    // detector's hip centre, and the matte is read from the segmentation block.
    let pose = Manifest::load(&dir.join("pose_detector.json")).unwrap();
    match pose.detection.as_ref().unwrap() {
        Detection::SsdAnchors {
            anchors, decode, ..
        } => {
            assert_eq!(anchors.centres().len(), 2254);
            assert_eq!(decode.keypoints[0], "hip_centre");
        }
        other => panic!("{other:?}"),
    }
    let body = Manifest::load(&dir.join("pose_landmarks.json")).unwrap();
    match body.alignment.as_ref().unwrap() {
        Alignment::KeypointCircle {
            detector,
            centre_keypoint,
            circle_keypoint,
            ..
        } => {
            assert_eq!(detector, &pose.name);
            assert_eq!(centre_keypoint, "hip_centre");
            assert_eq!(circle_keypoint, "body_circle");
        }
        other => panic!("{other:?}"),
    }
    let seg = body.segmentation.as_ref().unwrap();
    assert!(matches!(body.output(&seg.output), Some(Output::Tensor(_))));
    let lm = Manifest::load(&dir.join("face_landmarks.json")).unwrap();
    let l = lm.landmarks.as_ref().unwrap();
    assert_eq!((l.count, l.values_per_point), (468, 3));
    assert_eq!(l.named_points["nose_tip"], 1);
    assert!(matches!(lm.alignment, Some(Alignment::DetectionRoi { .. })));
    let cf = Manifest::load(&dir.join("centerface.json")).unwrap();
    match cf.output("landmarks").unwrap() {
        Output::Tensor(t) => assert_eq!(
            t.shape,
            [
                Dim::Batch,
                Dim::Fixed(10),
                Dim::Height { mul: 1, div: 4 },
                Dim::Width { mul: 1, div: 4 }
            ]
        ),
        other => panic!("{other:?}"),
    }
    let seg = Manifest::load(&dir.join("selfie_segmentation.json")).unwrap();
    assert!(seg.produces_image());
}

#[test]
fn tiny_models_carry_the_converters_manifest_structure() {
    // The tiny manifests differ from the real ones only in name, description, model, sha256,
    // licence and parity.
    let (real_dir, _) = converter_manifests();
    let strip = |mut v: serde_json::Value| {
        for k in [
            "name",
            "description",
            "model",
            "sha256",
            "licence",
            "parity",
        ] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    for (tiny_name, real) in [
        ("tiny_rife", "rife"),
        ("face_detector", "face_detector"),
        ("face_landmarks", "face_landmarks"),
        ("selfie_segmentation", "selfie_segmentation"),
        ("centerface", "centerface"),
    ] {
        let a = strip(json(&tiny_models().join(format!("{tiny_name}.json"))));
        let b = strip(json(&real_dir.join(format!("{real}.json"))));
        assert_eq!(a, b, "{tiny_name} vs {real}");
    }
}

#[test]
fn tiny_models_load_and_their_sha256_verifies() {
    for name in TINY {
        let m = Manifest::for_model(&tiny(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            m.sha256.as_deref(),
            Some(sha256_file(&tiny(name)).unwrap().as_str())
        );
        m.verify_model(&tiny(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // A changed byte is caught.
    let dir = temp_dir("tiny-tampered");
    let copy = dir.join("centerface.onnx");
    let mut bytes = std::fs::read(tiny("centerface")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&copy, bytes).unwrap();
    std::fs::copy(
        tiny_models().join("centerface.json"),
        dir.join("centerface.json"),
    )
    .unwrap();
    let m = Manifest::for_model(&copy).unwrap();
    let e = m.verify_model(&copy).unwrap_err();
    assert!(e.message().contains("does not match its manifest"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unknown_fields_and_missing_licence_are_clear_errors() {
    let det = json(&tiny_models().join("face_detector.json"));
    let lm = json(&tiny_models().join("face_landmarks.json"));
    let rife = json(&tiny_models().join("tiny_rife.json"));
    let cf = json(&tiny_models().join("centerface.json"));
    type Edit = fn(&mut serde_json::Value);
    let cases: Vec<(&serde_json::Value, Edit, &str)> = vec![
        (
            &det,
            |v| v["detection"]["anchors"]["num_layer"] = 4.into(),
            "unknown field `num_layer`",
        ),
        (
            &det,
            |v| v["detection"]["decode"]["nms"]["iou"] = 0.3.into(),
            "unknown field `iou`",
        ),
        (
            &det,
            |v| v["detection"]["extra"] = 1.into(),
            "unknown field `extra`",
        ),
        (
            &det,
            |v| v["detection"]["format"] = "yolo".into(),
            "unknown variant `yolo`",
        ),
        (
            &det,
            |v| v["size"]["fit"] = "crop".into(),
            "unknown variant `crop`",
        ),
        (
            &det,
            |v| v["outputs"][0]["layout"] = "nchw".into(),
            "output 'regressors' is a \"tensor\" output (raw numbers, not pixels), which takes no layout",
        ),
        (
            &det,
            |v| v["outputs"][0]["kind"] = "matrix".into(),
            "unknown variant `matrix`",
        ),
        (
            &lm,
            |v| v["landmarks"]["point"] = "landmarks".into(),
            "unknown field `point`",
        ),
        (
            &lm,
            |v| v["alignment"]["angle"] = 0.into(),
            "unknown field `angle`",
        ),
        (
            &rife,
            |v| v["outputs"][1]["range"] = serde_json::json!([0, 1]),
            "output 'flow' is a flow (raw pixel offsets of the model tensor), which takes no range",
        ),
        (
            &rife,
            |v| v["inputs"][2]["role"] = "speed".into(),
            "unknown variant `speed`",
        ),
        (
            &rife,
            |v| {
                v["download"] = serde_json::json!({"url": "https://example.org/m.onnx", "bytes": 3})
            },
            "unknown field `bytes`",
        ),
        (
            &cf,
            |v| v["detection"]["decode"]["stride"] = (-1).into(),
            "invalid value",
        ),
    ];
    for (base, edit, needle) in cases {
        let mut v = base.clone();
        edit(&mut v);
        let e = parse_value(&v).unwrap_err();
        assert!(
            e.message()
                .starts_with("manifest models/edited.json is not valid: "),
            "{e}"
        );
        assert!(e.message().contains(needle), "expected '{needle}' in: {e}");
    }
    for base in [&det, &lm, &rife, &cf] {
        let mut v = base.clone();
        v.as_object_mut().unwrap().remove("licence");
        let e = parse_value(&v).unwrap_err();
        assert!(e.message().contains("missing field `licence`"), "{e}");
        assert!(
            e.message().contains("every model needs a `licence` block"),
            "{e}"
        );
    }
}

#[test]
fn bad_values_in_the_new_blocks_explain_what_to_fix() {
    let det = json(&tiny_models().join("face_detector.json"));
    let lm = json(&tiny_models().join("face_landmarks.json"));
    let rife = json(&tiny_models().join("tiny_rife.json"));
    let cf = json(&tiny_models().join("centerface.json"));
    type Edit = fn(&mut serde_json::Value);
    let cases: Vec<(&serde_json::Value, Edit, &str)> = vec![
        (
            &rife,
            |v| v["outputs"][1]["flows"] = serde_json::json!(["img0", "timestep"]),
            "`flows` names 'timestep', which is not an image input (image inputs: 'img0', 'img1')",
        ),
        (
            &rife,
            |v| v["outputs"][1]["flows"] = serde_json::json!([]),
            "`flows` is empty",
        ),
        (
            &rife,
            |v| {
                v["outputs"][1].as_object_mut().unwrap().remove("flows");
            },
            "needs `flows`",
        ),
        (
            &rife,
            |v| v["outputs"][0]["flows"] = serde_json::json!(["img0"]),
            "only \"flow\" outputs take",
        ),
        (
            &rife,
            |v| v["outputs"][0]["channels"] = "rgbx".into(),
            "channels \"rgbx\" is not one of rgb, bgr, rgba, alpha, flow",
        ),
        (
            &rife,
            |v| {
                let f = v["outputs"][1].clone();
                v["outputs"][0] = f;
                v["outputs"][1]["name"] = "frame".into();
                v["outputs"][1]["channels"] = "rgb".into();
                v["outputs"][1]["colour_space"] = "srgb".into();
                v["outputs"][1].as_object_mut().unwrap().remove("flows");
            },
            "the first output 'flow' is a flow output, but the first output is the image an effect renders",
        ),
        (
            &rife,
            |v| v["inputs"][2]["value"] = serde_json::json!([0.5, 0.5]),
            "role \"timestep\" and needs one number",
        ),
        (
            &rife,
            |v| {
                v["inputs"][0]["role"] = "timestep".into();
            },
            "`role` belongs to constant inputs",
        ),
        (
            &rife,
            |v| v["sha256"] = serde_json::Value::Null,
            "`sha256` is missing or null",
        ),
        (
            &rife,
            |v| {
                v.as_object_mut().unwrap().remove("sha256");
            },
            "`sha256` is missing or null",
        ),
        (
            &rife,
            |v| v["download"] = serde_json::json!({"url": "http://example.org/m.onnx"}),
            "must be an https:// address",
        ),
        (
            &rife,
            |v| v["requires"] = serde_json::json!(["arcface", "arcface"]),
            "`requires` lists 'arcface' twice",
        ),
        (
            &det,
            |v| {
                v.as_object_mut().unwrap().remove("detection");
            },
            "say how to read it with a `detection`, `landmarks`, `embedding` or `segmentation` block",
        ),
        (
            &det,
            |v| v["detection"]["decode"]["num_boxes"] = 895.into(),
            "anchors make 896 anchors but decode `num_boxes` is 895",
        ),
        (
            &det,
            |v| v["detection"]["decode"]["num_keypoints"] = 5.into(),
            "`num_keypoints` is 5 but 6 `keypoints` names",
        ),
        (
            &det,
            |v| v["detection"]["anchors"]["input_size"] = serde_json::json!([128, 96]),
            "must match the fixed size 128x128",
        ),
        (
            &det,
            |v| v["detection"]["boxes"] = "nope".into(),
            "detection `boxes` names output 'nope', which is not in `outputs`",
        ),
        (
            &det,
            |v| v["outputs"][0]["shape"] = serde_json::json!([1, 896, 15]),
            "needs 896 boxes x 16",
        ),
        (
            &det,
            |v| v["outputs"][0]["shape"] = serde_json::json!([1, "Q", 16]),
            "shape entry \"Q\" is not understood",
        ),
        (
            &det,
            |v| {
                v["outputs"][0].as_object_mut().unwrap().remove("shape");
            },
            "needs a `shape`",
        ),
        (
            &det,
            |v| v["detection"]["decode"]["min_score"] = 1.5.into(),
            "`min_score` 1.5 must be 0..1",
        ),
        (
            &lm,
            |v| v["landmarks"]["count"] = 467.into(),
            "467 points x 3 values need 1401",
        ),
        (
            &lm,
            |v| v["landmarks"]["named_points"]["nose_tip"] = 468.into(),
            "named point 'nose_tip' is index 468",
        ),
        (
            &lm,
            |v| {
                v["landmarks"].as_object_mut().unwrap().remove("presence");
            },
            "need a `presence` output",
        ),
        (
            &lm,
            |v| v["alignment"]["rotation_keypoints"] = serde_json::json!(["left_eye", "left_eye"]),
            "two different detector keypoints",
        ),
        (
            &lm,
            |v| v["alignment"] = serde_json::json!({"kind": "template", "template": [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [1.2, 0.8]], "size": 112}),
            "must lie in the unit square",
        ),
        (
            &lm,
            |v| v["alignment"] = serde_json::json!({"kind": "template", "template": [[0.3, 0.4], [0.7, 0.4]], "size": 112}),
            "invalid length 2",
        ),
        (
            &cf,
            |v| v["size"]["multiple"] = 2.into(),
            "make the size `multiple` (or the fixed size) a multiple of 4",
        ),
        (
            &cf,
            |v| v["detection"]["decode"]["stride"] = 8.into(),
            "is at 1/4 of the input but decode `stride` is 8",
        ),
        (
            &cf,
            |v| v["outputs"][3]["shape"][1] = 8.into(),
            "has 8 channels but needs 10",
        ),
        (
            &cf,
            |v| v["detection"]["heatmap"] = "image".into(),
            "names output 'image', which is not in `outputs`",
        ),
    ];
    for (base, edit, needle) in cases {
        let mut v = base.clone();
        edit(&mut v);
        let e = parse_value(&v).unwrap_err();
        assert!(e.message().contains(needle), "expected '{needle}' in: {e}");
    }
    // A template alignment, an embedding model and a download block with a null sha256 are fine.
    let mut v = lm.clone();
    v["alignment"] = serde_json::json!({"kind": "template", "size": 112, "template": [
        [0.34191607, 0.46157411], [0.65653393, 0.45983393], [0.500225, 0.64050536],
        [0.3709759, 0.82469196], [0.63151696, 0.82325089]]});
    let m = parse_value(&v).unwrap();
    assert!(matches!(
        m.alignment,
        Some(Alignment::Template { size: 112, .. })
    ));
    let mut v = lm.clone();
    v["outputs"] = serde_json::json!([{"name": "embedding", "kind": "tensor", "shape": [1, 512]}]);
    v.as_object_mut().unwrap().remove("landmarks");
    v["embedding"] = serde_json::json!({"output": "embedding", "length": 512, "normalise": "l2"});
    v["sha256"] = serde_json::Value::Null;
    v["download"] = serde_json::json!({"url": "https://example.org/arcface.onnx", "size": null});
    v["requires"] = serde_json::json!(["face-detector-short-range"]);
    let m = parse_value(&v).unwrap();
    assert_eq!(m.sha256, None);
    assert_eq!(m.requires, ["face-detector-short-range"]);
    v["embedding"]["length"] = 128.into();
    let e = parse_value(&v).unwrap_err();
    assert!(e.message().contains("embedding `length` is 128"), "{e}");
}

#[test]
fn rife_infer_returns_every_output_with_its_shape() {
    let p = pipeline("tiny_rife");
    // 70x50 is padded to 128x64 (multiple 64).
    let region = Rect::new(3, -2, 73, 48);
    let a = image(region, |x, y| {
        let v = ((x * 13 + y * 7) % 17) as f32 / 17.0;
        [v, 1.0 - v, 0.5 * v, 1.0]
    });
    let b = image(region, |x, y| {
        let v = ((x * 13 + y * 7 + 5) % 17) as f32 / 17.0;
        [v, 1.0 - v, 0.5 * v, 1.0]
    });
    let out = infer(&p, &[("img0", &a), ("img1", &b)], &[]);
    let shapes: Vec<(&str, &[usize])> = out
        .outputs
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("frame", &[1, 3, 64, 128][..]),
            ("flow", &[1, 4, 64, 128][..]),
            ("mask", &[1, 1, 64, 128][..])
        ]
    );
    for t in &out.outputs {
        assert_eq!(t.data.len(), t.shape.iter().product::<usize>());
        assert!(t.data.iter().all(|v| v.is_finite()));
    }
    assert_eq!(out.mapping.covered, Rect::new(3, 48 - 64, 3 + 128, 48));
    assert_eq!(out.mapping.scale(), (1.0, 1.0));
    // The tiny model's flows are t*F into img0 and (t-1)*F into img1: the timestep override
    // reaches the model.
    let plane = 64 * 128;
    let flow = |o: &pixelspace_shared::pipeline::Inferred, c: usize| {
        o.get("flow").unwrap().data[c * plane..(c + 1) * plane].to_vec()
    };
    let half = flow(&out, 0);
    assert!(
        half.iter().any(|v| v.abs() > 1e-3),
        "the motion field is not zero"
    );
    let at0 = infer(&p, &[("img0", &a), ("img1", &b)], &[("timestep", &[0.0])]);
    assert!(
        flow(&at0, 0)
            .iter()
            .chain(&flow(&at0, 1))
            .all(|v| *v == 0.0)
    );
    let at1 = infer(&p, &[("img0", &a), ("img1", &b)], &[("timestep", &[1.0])]);
    assert!(
        flow(&at1, 2)
            .iter()
            .chain(&flow(&at1, 3))
            .all(|v| *v == 0.0)
    );
    // Linear motion: at t = 0.5 the flows into img0 and img1 are opposite (t*F, (t-1)*F).
    let into1 = flow(&out, 2);
    for (h, f) in half.iter().zip(&into1) {
        assert!((h + f).abs() < 1e-6, "{h} vs {f}");
    }
    // Flow vectors map to the frame with y up.
    assert_eq!(out.mapping.flow_to_frame(1.5, 2.0), (1.5, -2.0));

    // Bad requests are clear errors.
    let bad = |images: &[(&str, &FloatImage)], constants: &[(&str, &[f32])], needle: &str| {
        let e = p
            .infer(&InferRequest {
                images,
                frame_colour: ColourSpace::Srgb,
                constants,
            })
            .unwrap_err();
        assert!(e.message().contains(needle), "expected '{needle}' in: {e}");
    };
    bad(&[("img0", &a)], &[], "no image was given for input 'img1'");
    bad(
        &[("img0", &a), ("img1", &b), ("img2", &b)],
        &[],
        "has no image input 'img2'",
    );
    let small = grey(Rect::new(0, 0, 8, 8), 0.5);
    bad(
        &[("img0", &a), ("img1", &small)],
        &[],
        "all image inputs must cover the same",
    );
    bad(
        &[("img0", &a), ("img1", &b)],
        &[("timestep", &[0.1, 0.2])],
        "takes 1 values, 2 were given",
    );
    bad(
        &[("img0", &a), ("img1", &b)],
        &[("speed", &[1.0])],
        "has no constant input 'speed'",
    );
}

#[test]
fn rife_renders_its_frame_at_a_chosen_timestep() {
    let p = pipeline("tiny_rife");
    let frame = Rect::new(0, 0, 40, 30);
    let px = |v: f32| [v, v, v, 1.0];
    let bytes_of = |v: f32| -> Vec<u8> {
        (0..frame.area())
            .flat_map(|_| px(v))
            .flat_map(|c| c.to_ne_bytes())
            .collect()
    };
    let (b0, b1) = (bytes_of(0.2), bytes_of(0.2));
    fn view(b: &[u8], frame: Rect) -> ImageView<'_> {
        ImageView::new(b, 0, 40 * 16, frame, PixelDepth::Float, Components::Rgba).unwrap()
    }
    let mut out_bytes = vec![0u8; frame.area() * 16];
    let mut out = ImageViewMut::new(
        &mut out_bytes,
        0,
        40 * 16,
        frame,
        PixelDepth::Float,
        Components::Rgba,
    )
    .unwrap();
    let req = RenderRequest {
        inputs: vec![
            InputImage {
                clip: "Source".into(),
                frame_offset: 0,
                image: view(&b0, frame),
            },
            InputImage {
                clip: "Source".into(),
                frame_offset: 1,
                image: view(&b1, frame),
            },
        ],
        window: frame,
        frame_colour: ColourSpace::Srgb,
        is_cancelled: &|| false,
        progress: &|_| {},
    };
    p.render_with_constants(&req, &[("timestep", &[0.25])], &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    // Two equal flat frames interpolate to the same flat frame, whatever the flow.
    for (x, y) in frame.pixels() {
        let v = out.pixel_rgba(x, y);
        for c in 0..3 {
            assert!((v[c] - 0.2).abs() < 1e-5, "({x},{y}): {v:?}");
        }
    }
}

#[test]
fn detector_infer_letterboxes_and_maps_back() {
    let p = pipeline("face_detector");
    let expected = json(&tiny_models().join("face_detector.expected.json"));
    // A wide region: letterboxed to a 200x200 square, centred, then 128x128.
    let region = Rect::new(10, 20, 210, 120);
    let img = grey(region, 0.4);
    let out = infer(&p, &[("image", &img)], &[]);
    assert_eq!(out.get("regressors").unwrap().shape, [1, 896, 16]);
    assert_eq!(out.get("classificators").unwrap().shape, [1, 896, 1]);
    assert_eq!(out.mapping.covered, Rect::new(10, -30, 210, 170));
    assert_eq!(out.mapping.scale(), (200.0 / 128.0, 200.0 / 128.0));
    // Decode the one face with the manifest's anchors and scale.
    let m = p.manifest();
    let Some(Detection::SsdAnchors {
        anchors, decode, ..
    }) = &m.detection
    else {
        panic!("ssd detection block")
    };
    let scores = &out.get("classificators").unwrap().data;
    let best = (0..896)
        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
        .unwrap();
    assert_eq!(best as u64, expected["anchor"].as_u64().unwrap());
    let r = &out.get("regressors").unwrap().data[best * 16..best * 16 + 4];
    let c = anchors.centres()[best];
    let cx = r[0] / decode.scale[0] + c[0];
    let cy = r[1] / decode.scale[1] + c[1];
    let w = r[2] / decode.scale[2];
    assert!((cx - 0.5).abs() < 1e-5 && (cy - 0.5).abs() < 1e-5 && (w - 0.4).abs() < 1e-5);
    // The centre of the model input is the centre of the region in the frame.
    let (x, y) = out
        .mapping
        .model_to_frame(cx as f64 * 128.0, cy as f64 * 128.0);
    assert!(
        (x - 110.0).abs() < 1e-3 && (y - 70.0).abs() < 1e-3,
        "{x},{y}"
    );
    // Box width in frame pixels: 0.4 of the 200 px square.
    assert!((w as f64 * 128.0 * out.mapping.scale().0 - 80.0).abs() < 1e-3);
    // And back.
    let (u, v) = out.mapping.frame_to_model(x, y);
    assert!((u - 64.0).abs() < 1e-6 && (v - 64.0).abs() < 1e-6);

    // A data model is not rendered as a picture.
    let bytes = vec![0u8; 16 * region.area()];
    let mut out_bytes = bytes.clone();
    let view = ImageView::new(
        &bytes,
        0,
        200 * 16,
        region,
        PixelDepth::Float,
        Components::Rgba,
    )
    .unwrap();
    let mut dst = ImageViewMut::new(
        &mut out_bytes,
        0,
        200 * 16,
        region,
        PixelDepth::Float,
        Components::Rgba,
    )
    .unwrap();
    let e = p
        .render(
            &RenderRequest {
                inputs: vec![InputImage {
                    clip: "Source".into(),
                    frame_offset: 0,
                    image: view,
                }],
                window: region,
                frame_colour: ColourSpace::Srgb,
                is_cancelled: &|| false,
                progress: &|_| {},
            },
            &mut dst,
        )
        .unwrap_err();
    assert!(e.message().contains("produces data, not an image"), "{e}");
}

#[test]
fn letterbox_mapping_for_tall_and_exact_regions() {
    let size = Size::Fixed {
        width: 128,
        height: 64,
        fit: Fit::Letterbox,
    };
    // Tall region 50x100 into a 2:1 model: padded to 200x100, centred horizontally.
    let m = FitMapping::new(size, Rect::new(0, 0, 50, 100));
    assert_eq!(m.covered, Rect::new(-75, 0, 125, 100));
    assert_eq!(m.model_to_frame(64.0, 32.0), (25.0, 50.0));
    // A region with the model's aspect is not padded.
    let m = FitMapping::new(size, Rect::new(5, 5, 261, 133));
    assert_eq!(m.covered, Rect::new(5, 5, 261, 133));
    assert_eq!(m.scale(), (2.0, 2.0));
}

#[test]
fn landmarks_infer_gives_points_and_presence() {
    let p = pipeline("face_landmarks");
    let expected = json(&tiny_models().join("face_landmarks.expected.json"));
    let img = grey(Rect::new(0, 0, 192, 192), 0.5);
    let out = infer(&p, &[("image", &img)], &[]);
    let points = out.get("landmarks").unwrap();
    assert_eq!(points.shape, [1, 1, 1, 1404]);
    assert_eq!(out.get("presence").unwrap().shape, [1, 1, 1, 1]);
    let l = p.manifest().landmarks.as_ref().unwrap();
    let nose = l.named_points["nose_tip"] as usize * l.values_per_point as usize;
    let want = &expected["named_points_crop_pixels"]["nose_tip"];
    assert!((points.data[nose] as f64 - want[0].as_f64().unwrap()).abs() < 1e-3);
    assert!((points.data[nose + 1] as f64 - want[1].as_f64().unwrap()).abs() < 1e-3);
    assert_eq!(out.get("presence").unwrap().data, [8.0]);
}

#[test]
fn centerface_infer_follows_the_symbolic_shapes() {
    let p = pipeline("centerface");
    // 90x60 is padded to 96x64 (multiple 32): the grid is 24x16.
    let region = Rect::new(0, 0, 90, 60);
    let img = image(region, |x, _| {
        let v = if x < 45 { 1.0 } else { 0.0 };
        [v, v, v, 1.0]
    });
    let out = infer(&p, &[("image", &img)], &[]);
    for (name, c) in [
        ("heatmap", 1),
        ("scale", 2),
        ("offset", 2),
        ("landmarks", 10),
    ] {
        assert_eq!(out.get(name).unwrap().shape, [1, c, 16, 24], "{name}");
    }
    let heat = &out.get("heatmap").unwrap().data;
    // Bright cells on the left are "faces", dark ones on the right are not.
    // sigmoid(40 * (1 - 0.9)) and sigmoid(40 * (0 - 0.9)).
    assert!(
        (heat[0] - 0.982_013_8).abs() < 1e-4 && heat[23] < 1e-6,
        "{} {}",
        heat[0],
        heat[23]
    );
    let scale = &out.get("scale").unwrap().data;
    assert!((scale[0] - 4f32.ln()).abs() < 1e-5);
}

#[test]
fn segmentation_is_an_image_model_and_infers_too() {
    let p = pipeline("selfie_segmentation");
    assert!(p.manifest().produces_image());
    let img = grey(Rect::new(0, 0, 100, 80), 0.5);
    let out = infer(&p, &[("image", &img)], &[]);
    let matte = out.get("matte").unwrap();
    assert_eq!(matte.shape, [1, 256, 256, 1]);
    assert!(matte.data.iter().all(|v| (v - 0.5).abs() < 1e-5));
}

#[test]
fn licence_policy_refuses_non_commercial_models() {
    init_runtime();
    let path = tiny("tiny_rife");
    let mut nc = Manifest::for_model(&path).unwrap();
    nc.licence.commercial_use = false;
    nc.licence.name = "CC-BY-NC-4.0".into();
    let ok = Manifest::for_model(&path).unwrap();
    let on = LicencePolicy::commercial_only();
    let off = LicencePolicy::allow_all();
    InferencePipeline::new_with_policy(ok.clone(), path.clone(), Provider::Cpu, &on).unwrap();
    InferencePipeline::new_with_policy(nc.clone(), path.clone(), Provider::Cpu, &off).unwrap();
    let e = InferencePipeline::new_with_policy(nc, path, Provider::Cpu, &on).unwrap_err();
    assert!(e.message().contains("model 'tiny-rife'"), "{e}");
    assert!(e.message().contains("'CC-BY-NC-4.0'"), "{e}");
    assert!(e.message().contains("does not allow commercial use"), "{e}");
}

#[test]
fn a_model_without_a_published_digest_is_trusted_on_first_fetch() {
    let dir = temp_dir("tofu");
    let model = dir.join("centerface.onnx");
    std::fs::copy(tiny("centerface"), &model).unwrap();
    let mut v = json(&tiny_models().join("centerface.json"));
    v["sha256"] = serde_json::Value::Null;
    v["download"] = serde_json::json!({"url": "https://example.org/centerface.onnx", "size": null});
    std::fs::write(dir.join("centerface.json"), v.to_string()).unwrap();
    let m = Manifest::for_model(&model).unwrap();
    let e = m.verify_model(&model).unwrap_err();
    assert!(
        e.message()
            .contains("has no published sha256 and no digest was recorded"),
        "{e}"
    );
    assert!(
        e.message()
            .contains("pixelspace models fetch tiny-centerface"),
        "{e}"
    );
    let digest = m.record_fetched_digest(&model).unwrap();
    assert_eq!(digest, sha256_file(&model).unwrap());
    let record = std::fs::read_to_string(Manifest::recorded_digest_path(&model)).unwrap();
    assert_eq!(record, format!("{digest}  centerface.onnx\n"));
    m.verify_model(&model).unwrap();
    init_runtime();
    InferencePipeline::new_with_policy(
        m.clone(),
        model.clone(),
        Provider::Cpu,
        &LicencePolicy::allow_all(),
    )
    .unwrap();
    // A later change of the file is caught.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes.push(0);
    std::fs::write(&model, bytes).unwrap();
    let e = m.verify_model(&model).unwrap_err();
    assert!(
        e.message()
            .contains("the digest recorded when it was fetched"),
        "{e}"
    );
    // A manifest with a sha256 does not record.
    let with = Manifest::for_model(&tiny("centerface")).unwrap();
    assert!(with.record_fetched_digest(&tiny("centerface")).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn letterbox_render_is_exact_when_the_padded_region_has_the_model_size() {
    init_runtime();
    // fixed256 is a 1x1 conv on 256x256; a 256x128 region letterboxes to exactly 256x256,
    // so no resampling happens and every pixel is the conv of its own value.
    let mut m = Manifest::for_model(&model("fixed256")).unwrap();
    m.size = Size::Fixed {
        width: 256,
        height: 256,
        fit: Fit::Letterbox,
    };
    let p = InferencePipeline::new_with_policy(
        m,
        model("fixed256"),
        Provider::Cpu,
        &LicencePolicy::allow_all(),
    )
    .unwrap();
    let (w, b) = weights("fixed256");
    let frame = Rect::new(0, 0, 256, 128);
    let px = |x: i32, y: i32| {
        [
            (x % 7) as f32 / 7.0,
            (y % 5) as f32 / 5.0,
            ((x + y) % 3) as f32 / 3.0,
            1.0,
        ]
    };
    let src: Vec<u8> = frame
        .pixels()
        .flat_map(|(x, y)| px(x, y))
        .flat_map(|c| c.to_ne_bytes())
        .collect();
    let mut dst = vec![0u8; src.len()];
    let view = ImageView::new(
        &src,
        0,
        256 * 16,
        frame,
        PixelDepth::Float,
        Components::Rgba,
    )
    .unwrap();
    let mut out = ImageViewMut::new(
        &mut dst,
        0,
        256 * 16,
        frame,
        PixelDepth::Float,
        Components::Rgba,
    )
    .unwrap();
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
    .unwrap();
    for (x, y) in frame.pixels() {
        let s = px(x, y);
        let o = out.pixel_rgba(x, y);
        for c in 0..3 {
            let want: f32 = (0..3).map(|k| w[c][k] * s[k]).sum::<f32>() + b[c];
            assert!(
                (o[c] - want).abs() < 1e-5,
                "({x},{y}) c{c}: {} vs {want}",
                o[c]
            );
        }
    }
    let mapping = FitMapping::new(p.manifest().size, frame);
    assert_eq!(mapping.covered, Rect::new(0, -64, 256, 192));
}
