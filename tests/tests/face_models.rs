//! `org.pixelspace.Face` modes that run external face models (`swap`: inswapper_128 with its
//! ArcFace recogniser; `age` with FRAN's contract), through `pixelspace render`, with the tiny
//! contract models of tests/data/tiny_face_models.py on the moved astronaut shot:
//!
//! * the swapper's output is its `target` crop plus a colour offset computed from its `source`
//!   input, with a green block on the template's nose tip: the block must land where the
//!   arcface_128 template puts the nose (an independent 5-point fit here), the offset must be
//!   the one `normalise(arcface(crop) @ emap)` gives for the colour patch painted where the
//!   arcface_112_v2 template reads the source face (and not what a wrong contract gives), and
//!   the rest of the crop must come back in place;
//! * FRAN's contract model does the same with its `direction` input and the ffhq_512 template
//!   at 1024;
//! * the seamless blend bends the swapped face's colour offset away and keeps its detail;
//! * on float frames, values above 1 inside the matte survive the swap (both blends);
//! * pixels outside the paste-back matte are untouched; a frame without a face passes through;
//!   a malformed swapper, a missing model or a FaceSource without a face are clear errors.
//!
//! Needs `PIXELSPACE_MODELS_DIR` with face_detector and face_landmarks, python3 with
//! scikit-image (the shot), onnx and numpy (the tiny models).

use std::path::{Path, PathBuf};

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
/// Face mesh eye outlines (MediaPipe's face mesh): the subject's right eye, then left eye.
const RIGHT_EYE: [usize; 16] = [
    7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163,
];
const LEFT_EYE: [usize; 16] = [
    249, 263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390,
];
/// Frames of the shot the model tests render.
const FIRST: usize = 8;
const LAST: usize = 13;

fn shot() -> PathBuf {
    face_shots().join("astronaut_move")
}

fn shot_pattern() -> String {
    shot().join("%04d.png").display().to_string()
}

fn face_args(input: &str, output: &str, frames: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["-i", input, "-o", output, "--frames", frames]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for set in [
        format!("detector={}", real_model("face_detector").display()),
        format!("landmarker={}", real_model("face_landmarks").display()),
        // PNG frames are sRGB-encoded whatever depth the host hands over.
        "colourSpace=srgb".to_string(),
        "smoothing=0".to_string(),
    ] {
        args.push("--set".into());
        args.push(set);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn render_face(input: &str, output: &str, frames: &str, extra: &[&str]) {
    let args = face_args(input, output, frames, extra);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    render_effect_ok(FACE, &refs);
}

/// Renders and expects a failure; returns the error output.
fn render_face_fails(input: &str, output: &str, frames: &str, extra: &[&str]) -> String {
    let args = face_args(input, output, frames, extra);
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = render(FACE, &refs);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "the render should have failed:\n{text}"
    );
    text
}

/// Landmarks (frame pixels, y up) of each frame of `frames` of `input`.
fn landmarks(
    input: &str,
    dir: &Path,
    frames: std::ops::RangeInclusive<usize>,
) -> Vec<Vec<[f64; 2]>> {
    let out = dir.join("%04d.exr").display().to_string();
    let range = format!("{}..{}", frames.start(), frames.end());
    render_face(
        input,
        &out,
        &range,
        &["--set", "output=landmarks", "--depth", "float"],
    );
    frames
        .map(|t| {
            let img = read_image(&dir.join(format!("{t:04}.exr")));
            let count = img.pixel(2, 1)[1] as usize;
            assert_eq!(count, 468, "no face tracked in frame {t} of {input}");
            (0..count)
                .map(|i| {
                    let p = img.pixel(i, 0);
                    [p[0] as f64, p[1] as f64]
                })
                .collect()
        })
        .collect()
}

/// The five alignment points of a face mesh (template order): centres of the eye outlines on
/// the image's left and right, the nose tip (1), the mouth corners (61, 291).
fn five(points: &[[f64; 2]]) -> [[f64; 2]; 5] {
    let centre = |idx: &[usize]| {
        let n = idx.len() as f64;
        idx.iter().fold([0.0, 0.0], |a, &i| {
            [a[0] + points[i][0] / n, a[1] + points[i][1] / n]
        })
    };
    [
        centre(&RIGHT_EYE),
        centre(&LEFT_EYE),
        points[1],
        points[61],
        points[291],
    ]
}

/// A similarity `q = s R p + t` (no reflection), as `(s cos, s sin, tx, ty)`.
#[derive(Clone, Copy, Debug)]
struct Similarity([f64; 4]);

impl Similarity {
    /// Least-squares fit of `src` onto `dst` (Umeyama, proper rotation).
    fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Similarity {
        let n = src.len() as f64;
        let mean = |p: &[[f64; 2]]| {
            p.iter()
                .fold([0.0, 0.0], |a, q| [a[0] + q[0] / n, a[1] + q[1] / n])
        };
        let (ms, md) = (mean(src), mean(dst));
        let (mut a, mut b, mut var) = (0.0, 0.0, 0.0);
        for (p, q) in src.iter().zip(dst) {
            let (px, py, qx, qy) = (p[0] - ms[0], p[1] - ms[1], q[0] - md[0], q[1] - md[1]);
            a += px * qx + py * qy;
            b += px * qy - py * qx;
            var += px * px + py * py;
        }
        let (c, s) = (a / var, b / var);
        Similarity([
            c,
            s,
            md[0] - (c * ms[0] - s * ms[1]),
            md[1] - (s * ms[0] + c * ms[1]),
        ])
    }

    fn invert(&self, q: [f64; 2]) -> [f64; 2] {
        let [c, s, tx, ty] = self.0;
        let (x, y) = (q[0] - tx, q[1] - ty);
        let d = c * c + s * s;
        [(c * x + s * y) / d, (-s * x + c * y) / d]
    }
}

/// A manifest's 5-point template and crop size.
fn template(manifest: &Path) -> ([[f64; 2]; 5], f64) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let a = &v["alignment"];
    assert_eq!(a["kind"], "template", "{}", manifest.display());
    let t: Vec<[f64; 2]> = a["template"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect();
    ([t[0], t[1], t[2], t[3], t[4]], a["size"].as_f64().unwrap())
}

/// The frame point (y up) that a template crop's point `uv` (v down) comes from, for a face
/// whose five points (frame, y up) are `pts`.
fn crop_to_frame(pts: &[[f64; 2]; 5], tpl: &[[f64; 2]; 5], size: f64, uv: [f64; 2]) -> [f64; 2] {
    let src: Vec<[f64; 2]> = pts.iter().map(|p| [p[0], -p[1]]).collect();
    let dst: Vec<[f64; 2]> = tpl.iter().map(|t| [t[0] * size, t[1] * size]).collect();
    let p = Similarity::fit(&src, &dst).invert(uv);
    [p[0], -p[1]]
}

fn facts() -> serde_json::Value {
    let path = tiny_face_models().join("tiny_face_models.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vec3(v: &serde_json::Value) -> [f64; 3] {
    let a: Vec<f64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    [a[0], a[1], a[2]]
}

/// What a paste-back left in one rendered frame.
struct Measured {
    /// Pixels outside the matte, all equal to the source's.
    outside: usize,
    /// The green block's centre (frame pixels, y up), weighted by how green it turned.
    marker: [f64; 2],
    /// Sums of the colour change where the matte is 1, away from the block.
    offset_sum: [f64; 3],
    offset_n: f64,
}

fn measure(
    src: &Image,
    comp: &Image,
    matte: &Image,
    expected_marker: [f64; 2],
    frame: usize,
) -> Measured {
    let (w, h) = (src.width, src.height);
    let mut m = Measured {
        outside: 0,
        marker: [0.0; 2],
        offset_sum: [0.0; 3],
        offset_n: 0.0,
    };
    let (mut wsum, mut wx, mut wy) = (0.0, 0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let (a, b, k) = (
                src.pixel(x, y),
                comp.pixel(x, y),
                matte.pixel(x, y)[3] as f64,
            );
            if k == 0.0 {
                for c in 0..4 {
                    assert!(
                        (a[c] - b[c]).abs() <= 1e-6,
                        "frame {frame}: pixel ({x}, {y}) outside the matte changed: {a:?} -> {b:?}"
                    );
                }
                m.outside += 1;
                continue;
            }
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            let d: Vec<f64> = (0..3).map(|c| b[c] as f64 - a[c] as f64).collect();
            let dist = (cx - expected_marker[0]).hypot(cy - expected_marker[1]);
            if dist < 20.0 {
                let g = (d[1] - d[0] - 0.2).max(0.0);
                wsum += g;
                wx += g * cx;
                wy += g * cy;
            }
            if dist < 14.0 {
                continue;
            }
            // Where the matte is 1 and no value near the pixel is near 0 or 1 (the model's
            // output is clipped to 0..1), judged on the whole 5x5 neighbourhood so the choice
            // does not favour pixels darker or brighter than their surroundings.
            if k >= 0.999 && window_in_range(src, x, y) {
                for (o, v) in m.offset_sum.iter_mut().zip(&d) {
                    *o += v;
                }
                m.offset_n += 1.0;
            }
        }
    }
    assert!(
        wsum > 0.0,
        "frame {frame}: no green block near {expected_marker:?}"
    );
    m.marker = [wx / wsum, wy / wsum];
    m
}

/// Whether every channel of the 5x5 pixels around `(x, y)` lies in 0.03..0.82.
fn window_in_range(img: &Image, x: usize, y: usize) -> bool {
    if x < 2 || y < 2 || x + 2 >= img.width || y + 2 >= img.height {
        return false;
    }
    (y - 2..=y + 2).all(|j| {
        (x - 2..=x + 2).all(|i| {
            img.pixel(i, j)[..3]
                .iter()
                .all(|&v| (0.03..=0.82).contains(&v))
        })
    })
}

/// Second pass: the crop's return once the measured offset is taken out.
fn crop_error(
    src: &Image,
    comp: &Image,
    matte: &Image,
    marker: [f64; 2],
    offset: [f64; 3],
    shift: usize,
) -> (f64, f64) {
    let (w, h) = (src.width, src.height);
    let (mut se, mut n) = (0.0, 0.0);
    for y in 0..h {
        for x in 0..w {
            let k = matte.pixel(x, y)[3] as f64;
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            if k < 0.5 || (cx - marker[0]).hypot(cy - marker[1]) < 14.0 {
                continue;
            }
            let a = src.pixel((x + shift).min(w - 1), y);
            let b = comp.pixel(x, y);
            for c in 0..3 {
                se += (b[c] as f64 - k * offset[c] - a[c] as f64).powi(2);
                n += 1.0;
            }
        }
    }
    (se, n)
}

/// Runs a model mode on frames FIRST..=LAST and checks placement, offset and the untouched
/// outside; returns the measured mean offset, the marker error in px and the PSNR of the
/// crop's return (and against the frame moved 3 px).
fn run_and_measure(
    name: &str,
    extra: &[&str],
    manifest: &Path,
    marker_uv: [f64; 2],
) -> ([f64; 3], f64, f64, f64) {
    let dir = scratch(name);
    let comp = dir.join("comp/%04d.exr").display().to_string();
    let matte = dir.join("matte/%04d.exr").display().to_string();
    let frames = format!("{FIRST}..{LAST}");
    let mut args = extra.to_vec();
    args.extend_from_slice(&["--depth", "float", "--threads", "2"]);
    render_face(&shot_pattern(), &comp, &frames, &args);
    args.extend_from_slice(&["--set", "output=matte"]);
    render_face(&shot_pattern(), &matte, &frames, &args);
    let marks = landmarks(&shot_pattern(), &dir.join("landmarks"), FIRST..=LAST);
    let (tpl, size) = template(manifest);
    let (mut sum, mut n, mut worst) = ([0.0f64; 3], 0.0, 0.0f64);
    let mut frames_data = Vec::new();
    for (k, t) in (FIRST..=LAST).enumerate() {
        let src = read_image(&shot().join(format!("{t:04}.png")));
        let out = read_image(&dir.join(format!("comp/{t:04}.exr")));
        let m = read_image(&dir.join(format!("matte/{t:04}.exr")));
        let expected = crop_to_frame(&five(&marks[k]), &tpl, size, marker_uv);
        let r = measure(&src, &out, &m, expected, t);
        assert!(
            r.outside > src.width * src.height / 2,
            "frame {t}: the matte covers most of the frame"
        );
        let err = (r.marker[0] - expected[0]).hypot(r.marker[1] - expected[1]);
        worst = worst.max(err);
        for (o, v) in sum.iter_mut().zip(r.offset_sum) {
            *o += v;
        }
        n += r.offset_n;
        assert!(
            r.offset_n > 300.0,
            "frame {t}: only {} pixels to measure the offset on",
            r.offset_n
        );
        frames_data.push((src, out, m, r.marker));
    }
    let offset = sum.map(|s| s / n);
    let (mut se, mut se_shift, mut cnt) = (0.0, 0.0, 0.0);
    for (src, out, m, marker) in &frames_data {
        let (a, c) = crop_error(src, out, m, *marker, offset, 0);
        let (b, _) = crop_error(src, out, m, *marker, offset, 3);
        se += a;
        se_shift += b;
        cnt += c;
    }
    let psnr = 10.0 * (cnt / se).log10();
    let psnr_shift = 10.0 * (cnt / se_shift).log10();
    (offset, worst, psnr, psnr_shift)
}

/// The FaceSource still for `swap`: frame 0 of the shot with a disc of `rgb8` painted where the
/// arcface_112_v2 template's read block (crop point `block_uv`) falls on its face.
fn painted_face_source(
    dir: &Path,
    rgb8: [f64; 3],
    block_uv: [f64; 2],
    arcface_manifest: &Path,
) -> String {
    let frame0 = shot().join("0000.png");
    let pattern = shot_pattern();
    let before = landmarks(&pattern, &dir.join("source_marks"), 0..=0);
    let (tpl, size) = template(arcface_manifest);
    let centre = crop_to_frame(&five(&before[0]), &tpl, size, block_uv);
    let mut img = read_image(&frame0);
    let radius = 6.0;
    for y in 0..img.height {
        for x in 0..img.width {
            if (x as f64 + 0.5 - centre[0]).hypot(y as f64 + 0.5 - centre[1]) <= radius {
                let i = (y * img.width + x) * 4;
                for (v, c) in img.data[i..i + 3].iter_mut().zip(rgb8) {
                    *v = (c / 255.0) as f32;
                }
            }
        }
    }
    std::fs::create_dir_all(dir.join("facesource")).unwrap();
    write_png16(&dir.join("facesource/0000.png"), &img);
    let still = dir.join("facesource/%04d.png").display().to_string();
    // The paint must not move the face's alignment: the block still falls well inside it.
    let after = landmarks(&still, &dir.join("painted_marks"), 0..=0);
    let moved = crop_to_frame(&five(&after[0]), &tpl, size, block_uv);
    let d = (moved[0] - centre[0]).hypot(moved[1] - centre[1]);
    assert!(
        d < 2.0,
        "painting the source moved its read block by {d:.2} px"
    );
    still
}

fn max_diff(a: [f64; 3], b: [f64; 3]) -> f64 {
    (0..3).map(|c| (a[c] - b[c]).abs()).fold(0.0, f64::max)
}

/// Swaps the tiny models' painted FaceSource face onto the shot with `blend` and measures the
/// result (see `run_and_measure`).
fn render_swap(name: &str, blend: &str) -> ([f64; 3], f64, f64, f64) {
    let models = tiny_face_models();
    let facts = facts();
    let swap = &facts["swap"];
    let dir = scratch(name);
    let block = facts["arcface_block_rows_cols"].as_array().unwrap();
    let (r0, c0) = (block[0].as_f64().unwrap(), block[1].as_f64().unwrap());
    let still = painted_face_source(
        &dir,
        vec3(&swap["patch_rgb8"]),
        [c0 + 2.0, r0 + 2.0],
        &models.join("tiny_arcface.json"),
    );
    let clip = format!("FaceSource={still}");
    let swap_set = format!("swapModel={}", models.join("tiny_inswapper.onnx").display());
    let rec_set = format!(
        "recogniserModel={}",
        models.join("tiny_arcface.onnx").display()
    );
    let blend_set = format!("blend={blend}");
    let uv = swap["marker_uv"].as_array().unwrap();
    let marker_uv = [uv[0].as_f64().unwrap(), uv[1].as_f64().unwrap()];
    run_and_measure(
        &format!("{name}_render"),
        &[
            "--clip",
            &clip,
            "--set",
            "mode=swap",
            "--set",
            &swap_set,
            "--set",
            &rec_set,
            "--set",
            &blend_set,
        ],
        &models.join("tiny_inswapper.json"),
        marker_uv,
    )
}

#[test]
fn swap_builds_the_inswapper_and_arcface_inputs_and_pastes_back_in_place() {
    let facts = facts();
    let swap = &facts["swap"];
    let (offset, marker_err, psnr, psnr_shift) = render_swap("face_swap_contract", "feather");
    let expected = vec3(&swap["offset"]);
    eprintln!(
        "swap (tiny inswapper + arcface contract models, frames {FIRST}-{LAST}): colour offset from the source identity {offset:.4?} (expected {expected:.4?}); nose block placed within {marker_err:.2} px of the arcface_128 template's nose; crop returned at {psnr:.1} dB ({psnr_shift:.1} dB against the frame moved 3 px)"
    );
    assert!(
        max_diff(offset, expected) <= 0.004,
        "the swapper's source identity is not normalise(arcface(source crop) @ emap): offset {offset:?}, expected {expected:?}"
    );
    for (name, alt) in swap["wrong_contract_offsets"].as_object().unwrap() {
        let alt = vec3(alt);
        assert!(
            max_diff(offset, alt) > 0.02,
            "offset {offset:?} also matches the wrong contract '{name}' {alt:?}"
        );
    }
    assert!(
        marker_err <= 1.0,
        "nose block {marker_err:.2} px from the template's nose"
    );
    // The 128 px crop is coarser than the face in the frame: its return is a blurred face.
    assert!(psnr >= 27.0, "crop returned at {psnr:.1} dB");
    assert!(
        psnr_shift + 6.0 < psnr,
        "placement not distinguishable: {psnr:.1} vs {psnr_shift:.1} dB"
    );
}

#[test]
fn seamless_swap_bends_the_new_face_to_meet_the_frame_and_keeps_its_detail() {
    // The tiny swapper's face is the frame's plus a colour offset (0.15 in red) and a green
    // block: blended seamlessly, the offset is bent away to meet the frame at the matte's edge
    // while the block (detail of the new face) stays where it belongs.
    let facts = facts();
    let swap = &facts["swap"];
    let (offset, marker_err, psnr, _) = render_swap("face_swap_seamless", "seamless");
    let feathered = vec3(&swap["offset"]);
    eprintln!(
        "swap, seamless blend: colour offset left {offset:.4?} (feathered: {feathered:.4?}); green block within {marker_err:.2} px; face returned at {psnr:.1} dB"
    );
    assert!(
        max_diff(offset, [0.0; 3]) <= 0.01,
        "the seamless blend left an offset {offset:?}"
    );
    assert!(
        marker_err <= 1.0,
        "green block {marker_err:.2} px from its place"
    );
    assert!(psnr >= 27.0, "face returned at {psnr:.1} dB");
}

#[test]
fn age_with_a_fran_contract_model_gets_its_direction_and_pastes_back_in_place() {
    let models = tiny_face_models();
    let facts = facts();
    let fran = &facts["fran"];
    let uv = fran["marker_uv"].as_array().unwrap();
    let marker_uv = [uv[0].as_f64().unwrap(), uv[1].as_f64().unwrap()];
    let gain = fran["direction_gain"].as_f64().unwrap();
    let model_set = format!("ageModel={}", models.join("tiny_fran.onnx").display());
    let (current, change) = (50.0, -20.0);
    let (offset, marker_err, psnr, psnr_shift) = run_and_measure(
        "face_fran_contract",
        &[
            "--set",
            "mode=age",
            "--set",
            &model_set,
            "--set",
            &format!("age={change}"),
            "--set",
            &format!("faceAge={current}"),
        ],
        &models.join("tiny_fran.json"),
        marker_uv,
    );
    // FRAN's direction: [current age, target age] / 100.
    let expected = [
        gain * current / 100.0,
        gain * (current + change) / 100.0,
        0.0,
    ];
    eprintln!(
        "age (tiny FRAN-contract model, frames {FIRST}-{LAST}): direction read back {:.3?} (expected [{:.2}, {:.2}]); nose block within {marker_err:.2} px of the ffhq_512 template's nose at 1024; crop returned at {psnr:.1} dB ({psnr_shift:.1} dB against the frame moved 3 px)",
        [offset[0] / gain, offset[1] / gain],
        current / 100.0,
        (current + change) / 100.0
    );
    assert!(
        max_diff(offset, expected) <= 0.004,
        "offset {offset:?}, expected {expected:?}"
    );
    assert!(
        marker_err <= 1.0,
        "nose block {marker_err:.2} px from the template's nose"
    );
    assert!(psnr >= 30.0, "crop returned at {psnr:.1} dB");
    assert!(
        psnr_shift + 8.0 < psnr,
        "placement not distinguishable: {psnr:.1} vs {psnr_shift:.1} dB"
    );
}

#[test]
fn swap_passes_a_frame_without_a_face_through_and_reports_bad_inputs() {
    let models = tiny_face_models();
    let dir = scratch("face_swap_errors");
    let coffee = data_dir()
        .join("photos/coffee/%04d.png")
        .display()
        .to_string();
    let shot_still = format!("FaceSource={}", shot().join("%04d.png").display());
    let swap_set = format!("swapModel={}", models.join("tiny_inswapper.onnx").display());
    let rec_set = format!(
        "recogniserModel={}",
        models.join("tiny_arcface.onnx").display()
    );
    // No face in the frame: passthrough, and the host is told why.
    let out = dir.join("none/%04d.png").display().to_string();
    let args = face_args(
        &coffee,
        &out,
        "1..1",
        &[
            "--clip",
            &shot_still,
            "--set",
            "mode=swap",
            "--set",
            &swap_set,
            "--set",
            &rec_set,
        ],
    );
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let result = render_effect_ok(FACE, &refs);
    let a = read_image(&data_dir().join("photos/coffee/0001.png"));
    let b = read_image(&dir.join("none/0001.png"));
    assert_eq!(a, b, "the frame without a face changed");
    assert!(String::from_utf8_lossy(&result.stderr).contains("no face"));

    let face = shot_pattern();
    let out = dir.join("err/%04d.png").display().to_string();
    // A FaceSource without a face.
    let coffee_source = format!("FaceSource={coffee}");
    let e = render_face_fails(
        &face,
        &out,
        "0..0",
        &[
            "--clip",
            &coffee_source,
            "--set",
            "mode=swap",
            "--set",
            &swap_set,
            "--set",
            &rec_set,
        ],
    );
    assert!(e.contains("no face found in the FaceSource"), "{e}");
    // No swap model.
    let e = render_face_fails(
        &face,
        &out,
        "0..0",
        &["--clip", &shot_still, "--set", "mode=swap"],
    );
    assert!(e.contains("swap model"), "{e}");
    // A swapper whose last initializer is not the identity map.
    let bad = format!(
        "swapModel={}",
        models.join("tiny_inswapper_bad_emap.onnx").display()
    );
    let e = render_face_fails(
        &face,
        &out,
        "0..0",
        &[
            "--clip",
            &shot_still,
            "--set",
            "mode=swap",
            "--set",
            &bad,
            "--set",
            &rec_set,
        ],
    );
    assert!(e.contains("identity map"), "{e}");
    // A recogniser that is not one (the swapper given as recogniser).
    let wrong = format!(
        "recogniserModel={}",
        models.join("tiny_inswapper.onnx").display()
    );
    let e = render_face_fails(
        &face,
        &out,
        "0..0",
        &[
            "--clip",
            &shot_still,
            "--set",
            "mode=swap",
            "--set",
            &swap_set,
            "--set",
            &wrong,
        ],
    );
    assert!(e.contains("embedding"), "{e}");
}

#[test]
fn swap_on_float_frames_keeps_values_above_one_and_leaves_the_outside_alone() {
    let models = tiny_face_models();
    let dir = scratch("face_swap_hdr");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    // Frame 12 as scene-linear float, twice as bright (highlights above 1).
    let src = read_image(&shot().join("0012.png"));
    let hdr = Image {
        width: src.width,
        height: src.height,
        data: src
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let f = |v: f32| (2.0 * srgb_to_linear(v as f64)) as f32;
                [f(p[0]), f(p[1]), f(p[2]), p[3]]
            })
            .collect(),
    };
    write_exr(&dir.join("in/0012.exr"), &hdr);
    let input = dir.join("in/%04d.exr").display().to_string();
    let clip = format!("FaceSource={}", shot_pattern());
    let swap_set = format!("swapModel={}", models.join("tiny_inswapper.onnx").display());
    let rec_set = format!(
        "recogniserModel={}",
        models.join("tiny_arcface.onnx").display()
    );
    for blend in ["feather", "seamless"] {
        let blend_set = format!("blend={blend}");
        let run = |name: &str, output: &str| {
            let out = dir
                .join(format!("{name}_{blend}/%04d.exr"))
                .display()
                .to_string();
            let mut args: Vec<String> = ["-i", &input, "-o", &out, "--frames", "12..12"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            for set in [
                format!("detector={}", real_model("face_detector").display()),
                format!("landmarker={}", real_model("face_landmarks").display()),
                "mode=swap".to_string(),
                swap_set.clone(),
                rec_set.clone(),
                blend_set.clone(),
                format!("output={output}"),
            ] {
                args.push("--set".into());
                args.push(set);
            }
            args.extend(["--clip".to_string(), clip.clone()]);
            let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            render_effect_ok(FACE, &refs);
            read_image(&dir.join(format!("{name}_{blend}/0012.exr")))
        };
        let out = run("comp", "comp");
        let matte = run("matte", "matte");
        let (mut above_in, mut above_out, mut changed) = (0, 0, 0);
        for i in 0..hdr.width * hdr.height {
            let k = matte.data[i * 4 + 3];
            let (a, b) = (&hdr.data[i * 4..i * 4 + 4], &out.data[i * 4..i * 4 + 4]);
            if k == 0.0 {
                assert_eq!(a, b, "{blend}: pixel {i} outside the matte changed");
                continue;
            }
            changed += a.iter().zip(b).filter(|(x, y)| x != y).count();
            if k >= 0.5 {
                above_in += a[..3].iter().filter(|v| **v > 1.0).count();
                above_out += b[..3].iter().filter(|v| **v > 1.0).count();
            }
        }
        eprintln!(
            "swap on a float frame ({blend}): {above_in} values above 1 inside the matte before, {above_out} after; {changed} values changed"
        );
        assert!(changed > 1000, "{blend}: only {changed} values changed");
        assert!(
            above_in > 100,
            "the test frame has too few values above 1 in the face"
        );
        assert!(
            above_out * 10 >= above_in * 8,
            "{blend}: values above 1 lost: {above_in} -> {above_out}"
        );
    }
}
