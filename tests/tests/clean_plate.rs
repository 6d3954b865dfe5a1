//! `org.pixelspace.CleanPlate` through `pixelspace render`, the reference OFX host and the
//! installed bundle, on shots made by tests/data/make_plate_shots.py: a person cut out of a
//! real photo moving over a real background photo, with the true matte and the true plate.
//!
//! Needs python3 with numpy and scikit-image (the shots are made per test in its scratch
//! folder) and `PIXELSPACE_MODELS_DIR` with the default models (rife, selfie_segmentation).

use std::path::{Path, PathBuf};
use std::process::Command;

use pixelspace_tests::*;

const EFFECT: &str = "org.pixelspace.CleanPlate";
const W: usize = 384;
const H: usize = 256;

/// Makes one shot of make_plate_shots.py in a fresh scratch folder; returns its folder.
fn shot(test: &str, name: &str) -> PathBuf {
    generated_shot("make_plate_shots.py", test, name)
}

/// Runs the shot generator `script` (in tests/data) for shot `name` into a fresh scratch folder
/// for `test`; returns the shot's folder.
fn generated_shot(script: &str, test: &str, name: &str) -> PathBuf {
    let dir = scratch(test);
    let script = workspace_root().join("tests/data").join(script);
    let out = Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .arg(name)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{} failed (needs python3 with numpy and scikit-image):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join(name)
}

fn pattern(dir: &Path, what: &str) -> String {
    dir.join(what).join("%04d.png").display().to_string()
}

fn frame(dir: &Path, what: &str, n: i32) -> Image {
    read_image(&dir.join(what).join(format!("{n:04}.png")))
}

/// Renders frames `frames` of a shot's `shot/` (with `matte/` as the Mask unless `no_mask`)
/// into `out/`, with the given `--set` values.
fn render_plate(dir: &Path, frames: &str, sets: &[&str], no_mask: bool) {
    let input = pattern(dir, "shot");
    let output = pattern(dir, "out");
    let mask = format!("Mask={}", pattern(dir, "matte"));
    let mut args: Vec<&str> = vec!["-i", &input, "-o", &output, "--frames", frames];
    if !no_mask {
        args.extend(["--clip", &mask]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    let start = std::time::Instant::now();
    render_effect_ok(EFFECT, &args);
    eprintln!(
        "rendered {frames} with {sets:?} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// True where the matte image marks the person.
fn matte(img: &Image) -> Vec<bool> {
    img.data.chunks_exact(4).map(|p| p[3] > 0.5).collect()
}

/// PSNR over the RGB of the pixels in `select`.
fn psnr_where(a: &Image, b: &Image, select: &[bool]) -> (f64, usize) {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (i, _) in select.iter().enumerate().filter(|(_, s)| **s) {
        for c in 0..3 {
            let d = a.data[4 * i + c] as f64 - b.data[4 * i + c] as f64;
            sum += d * d;
        }
        n += 1;
    }
    let mse = sum / (3 * n.max(1)) as f64;
    (10.0 * (1.0 / mse.max(1e-12)).log10(), n)
}

/// The comp output equals the source bit for bit wherever the matte is 0.
fn assert_untouched_outside(out: &Image, src: &Image, hole: &[bool]) {
    let mut changed = 0;
    for (i, h) in hole.iter().enumerate() {
        if !h && out.data[4 * i..4 * i + 4] != src.data[4 * i..4 * i + 4] {
            changed += 1;
        }
    }
    assert_eq!(
        changed, 0,
        "{changed} pixels outside the matte changed in the comp"
    );
}

#[test]
fn locked_off_median_plate_is_35_db_where_the_background_was_seen_and_comp_is_untouched_outside() {
    let dir = shot("clean_plate_locked", "locked");
    let frames = [8, 16];
    render_plate(
        &dir,
        "8..8",
        &["method=median", "window=24", "dilate=0", "output=plate"],
        false,
    );
    render_plate(
        &dir,
        "16..16",
        &["method=median", "window=24", "dilate=0", "output=plate"],
        false,
    );
    let mattes: Vec<Vec<bool>> = (1..=24).map(|n| matte(&frame(&dir, "matte", n))).collect();
    for t in frames {
        let out = frame(&dir, "out", t);
        let truth = frame(&dir, "plate", t);
        let hole = &mattes[t as usize - 1];
        // Hole pixels that some other frame of the window (all 24) shows.
        let seen: Vec<bool> = (0..W * H)
            .map(|i| hole[i] && mattes.iter().any(|m| !m[i]))
            .collect();
        let (p, n) = psnr_where(&out, &truth, &seen);
        let (p_src, _) = psnr_where(&frame(&dir, "shot", t), &truth, &seen);
        eprintln!(
            "locked-off, frame {t}: plate PSNR {p:.2} dB over {n} hole pixels seen in the window (the source there: {p_src:.2} dB)"
        );
        assert!(n > 5000, "only {n} pixels measured");
        assert!(p >= 35.0, "plate PSNR {p:.2} dB, need >= 35 dB");
    }
    // The comp: the source untouched outside the matte.
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    render_plate(
        &dir,
        "8..8",
        &["method=median", "window=24", "dilate=0", "output=comp"],
        false,
    );
    let out = frame(&dir, "out", 8);
    assert_untouched_outside(&out, &frame(&dir, "shot", 8), &mattes[7]);
    let (p, _) = psnr_where(&out, &frame(&dir, "plate", 8), &mattes[7]);
    eprintln!("locked-off comp, frame 8: PSNR {p:.2} dB inside the matte");
    assert!(p >= 35.0);
}

#[test]
fn panning_camera_propagated_plate_is_28_db() {
    real_model("rife");
    let dir = shot("clean_plate_pan", "pan");
    let t = 6;
    render_plate(
        &dir,
        "6..6",
        &[
            "method=propagate",
            "window=8",
            "dilate=0",
            "output=confidence",
        ],
        false,
    );
    let mattes: Vec<Vec<bool>> = (1..=12).map(|n| matte(&frame(&dir, "matte", n))).collect();
    let out = frame(&dir, "out", t);
    let truth = frame(&dir, "plate", t);
    let hole = &mattes[t as usize - 1];
    // The window of 8 around frame 6 is frames 3..10; the camera pans 3 px a frame, so pixel x
    // of frame t shows what pixel x + 3 (t - k) of frame k shows.
    let seen: Vec<bool> = (0..W * H)
        .map(|i| {
            let (x, y) = (i % W, i / W);
            hole[i]
                && (3..=10).filter(|&k| k != t).any(|k| {
                    let xk = x as i64 + 3 * (t - k) as i64;
                    (0..W as i64).contains(&xk) && !mattes[k as usize - 1][y * W + xk as usize]
                })
        })
        .collect();
    let (p, n) = psnr_where(&out, &truth, &seen);
    let (p_src, _) = psnr_where(&frame(&dir, "shot", t), &truth, &seen);
    let real = seen
        .iter()
        .enumerate()
        .filter(|(i, s)| **s && out.data[4 * i + 3] >= 0.999)
        .count();
    eprintln!(
        "panning camera, frame {t}: plate PSNR {p:.2} dB over {n} hole pixels seen in the window \
         (source {p_src:.2} dB); confidence 1 on {real} of them"
    );
    assert!(n > 5000, "only {n} pixels measured");
    assert!(p >= 28.0, "plate PSNR {p:.2} dB, need >= 28 dB");
}

#[test]
fn never_visible_background_is_invented_without_nan_below_full_confidence_and_beats_a_flat_fill() {
    real_model("rife");
    let dir = shot("clean_plate_static", "static");
    let t = 4;
    render_plate(
        &dir,
        "4..4",
        &["method=auto", "window=8", "dilate=0", "output=confidence"],
        false,
    );
    let out = frame(&dir, "out", t);
    let truth = frame(&dir, "plate", t);
    let src = frame(&dir, "shot", t);
    let hole = matte(&frame(&dir, "matte", t));
    assert!(
        out.data.iter().all(|v| v.is_finite()),
        "NaN or infinity in the plate"
    );
    let hole_n = hole.iter().filter(|h| **h).count();
    let max_conf = hole
        .iter()
        .enumerate()
        .filter(|(_, h)| **h)
        .map(|(i, _)| out.data[4 * i + 3])
        .fold(0.0f32, f32::max);
    // A flat fill: the mean of the frame's pixels outside the matte.
    let mut mean = [0f64; 3];
    let mut m = 0.0;
    for (i, h) in hole.iter().enumerate() {
        if !h {
            for (sum, v) in mean.iter_mut().zip(&src.data[4 * i..4 * i + 3]) {
                *sum += *v as f64;
            }
            m += 1.0;
        }
    }
    let mut flat = src.clone();
    for (i, h) in hole.iter().enumerate() {
        if *h {
            for (v, sum) in flat.data[4 * i..4 * i + 3].iter_mut().zip(&mean) {
                *v = (sum / m) as f32;
            }
        }
    }
    let (p_fill, _) = psnr_where(&out, &truth, &hole);
    let (p_flat, _) = psnr_where(&flat, &truth, &hole);
    eprintln!(
        "never visible ({hole_n} px): fill PSNR {p_fill:.2} dB, flat mean fill {p_flat:.2} dB; highest confidence there {max_conf:.3}"
    );
    assert!(
        max_conf < 1.0,
        "confidence {max_conf} in a region no frame shows"
    );
    assert!(
        p_fill > p_flat,
        "fill {p_fill:.2} dB is no closer than a flat fill {p_flat:.2} dB"
    );
}

#[test]
fn auto_matte_covers_90_percent_of_the_person() {
    real_model("selfie_segmentation");
    let dir = shot("clean_plate_auto_matte", "locked");
    let t = 12;
    render_plate(
        &dir,
        "12..12",
        &[
            "method=inpaint",
            "autoMatte=true",
            "dilate=0",
            "output=confidence",
        ],
        true,
    );
    let out = frame(&dir, "out", t);
    let hole = matte(&frame(&dir, "matte", t));
    let n = hole.iter().filter(|h| **h).count();
    let matted = |i: usize| out.data[4 * i + 3] < 0.999;
    let covered = (0..W * H).filter(|&i| hole[i] && matted(i)).count();
    let extra = (0..W * H).filter(|&i| !hole[i] && matted(i)).count();
    let cover = covered as f64 / n as f64;
    eprintln!(
        "autoMatte: covers {:.1} % of the true matte ({covered} of {n} px); {extra} px outside it",
        100.0 * cover
    );
    assert!(
        cover >= 0.9,
        "autoMatte covers {:.1} % of the person, need >= 90 %",
        100.0 * cover
    );
    // The comp with the automatic matte leaves everything outside it alone.
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    render_plate(
        &dir,
        "12..12",
        &[
            "method=inpaint",
            "autoMatte=true",
            "dilate=0",
            "output=comp",
        ],
        true,
    );
    let comp = frame(&dir, "out", t);
    let auto_hole: Vec<bool> = (0..W * H).map(matted).collect();
    assert_untouched_outside(&comp, &frame(&dir, "shot", t), &auto_hole);
}

#[test]
fn an_inpainting_model_of_lamas_contract_fills_the_hole() {
    let dir = shot("clean_plate_lama_contract", "static");
    let models = dir.parent().unwrap().to_path_buf();
    let script = workspace_root().join("tests/data/make_plate_shots.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&models)
        .arg("lama_tiny")
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = format!(
        "inpaintModel={}",
        models.join("lama_tiny/lama_tiny.onnx").display()
    );
    let t = 4;
    render_plate(
        &dir,
        "4..4",
        &["method=inpaint", "dilate=0", "output=confidence", &model],
        false,
    );
    let out = frame(&dir, "out", t);
    let src = frame(&dir, "shot", t);
    let hole = matte(&frame(&dir, "matte", t));
    // The model fills with 0.25 (sRGB); away from the hole's edge (where resizing blends in
    // the border) the plate is that value.
    let inner: Vec<bool> = (0..W * H)
        .map(|i| {
            let (x, y) = ((i % W) as i64, (i / W) as i64);
            (-3..=3).all(|dy| {
                (-3..=3).all(|dx| {
                    let (u, v) = (x + dx, y + dy);
                    (0..W as i64).contains(&u)
                        && (0..H as i64).contains(&v)
                        && hole[v as usize * W + u as usize]
                })
            })
        })
        .collect();
    let mut worst = 0f32;
    let mut n = 0;
    for (i, _) in inner.iter().enumerate().filter(|(_, s)| **s) {
        for c in 0..3 {
            worst = worst.max((out.data[4 * i + c] - 0.25).abs());
        }
        assert!(
            out.data[4 * i + 3] < 1.0,
            "confidence 1 on an invented pixel"
        );
        n += 1;
    }
    eprintln!("LaMa-contract model: {n} inner hole pixels within {worst:.4} of its fill");
    assert!(n > 5000 && worst < 0.005, "worst {worst} over {n}");
    for (i, h) in hole.iter().enumerate() {
        if !h {
            assert_eq!(out.data[4 * i..4 * i + 3], src.data[4 * i..4 * i + 3]);
        }
    }
}

/// Renders frame `frame` of a shot with `sets`, with the flow model (the installed `rife`) or,
/// when `with_flow` is false, with `flowModel=none`, so that only the global affine fit aligns
/// the frames.
fn render_plate_models(dir: &Path, frame: i32, sets: &[&str], with_flow: bool, out: &str) {
    let input = pattern(dir, "shot");
    let output = pattern(dir, out);
    let mask = format!("Mask={}", pattern(dir, "matte"));
    let frames = format!("{frame}..{frame}");
    let mut cmd = Command::new(pixelspace());
    cmd.args([
        "render", EFFECT, "-i", &input, "-o", &output, "--frames", &frames,
    ])
    .args(["--clip", &mask, "--plugin-path"])
    .arg(plugin_dir())
    .env_remove("PIXELSPACE_ORT_LIB");
    for s in sets {
        cmd.args(["--set", s]);
    }
    if !with_flow {
        cmd.args(["--set", "flowModel=none"]);
    }
    let res = cmd.output().expect("run pixelspace");
    assert!(
        res.status.success(),
        "pixelspace render {sets:?} failed ({}):\n{}",
        res.status,
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn parallax_per_pixel_flow_beats_the_global_fit() {
    real_model("rife");
    let dir = shot("clean_plate_parallax", "parallax");
    let t = 6;
    let sets = [
        "method=propagate",
        "window=8",
        "dilate=0",
        "output=confidence",
    ];
    render_plate_models(&dir, t, &sets, true, "flow");
    render_plate_models(&dir, t, &sets, false, "global");
    let mattes: Vec<Vec<bool>> = (1..=12).map(|n| matte(&frame(&dir, "matte", n))).collect();
    let truth = frame(&dir, "plate", t);
    let hole = &mattes[t as usize - 1];
    // Two depth layers (make_plate_shots.py): from row NEAR_TOP = 160 (counted from the top)
    // down the background moves 9 px a frame, above it 3 px a frame, both to the left. Image
    // rows are stored bottom first. A hole pixel is seen when some frame of the window (3..10)
    // shows its background unmatted.
    let is_near = |i: usize| H - 1 - i / W >= 160;
    let seen: Vec<bool> = (0..W * H)
        .map(|i| {
            let (x, y) = (i % W, i / W);
            let speed = if is_near(i) { 9 } else { 3 };
            hole[i]
                && (3..=10).filter(|&k| k != t).any(|k| {
                    let xk = x as i64 + speed * (t - k) as i64;
                    (0..W as i64).contains(&xk) && !mattes[k as usize - 1][y * W + xk as usize]
                })
        })
        .collect();
    let near: Vec<bool> = (0..W * H).map(|i| seen[i] && is_near(i)).collect();
    let far: Vec<bool> = (0..W * H).map(|i| seen[i] && !is_near(i)).collect();
    let flow = frame(&dir, "flow", t);
    let global = frame(&dir, "global", t);
    let (p_flow, n) = psnr_where(&flow, &truth, &seen);
    let (p_global, _) = psnr_where(&global, &truth, &seen);
    let (near_flow, n_near) = psnr_where(&flow, &truth, &near);
    let (near_global, _) = psnr_where(&global, &truth, &near);
    let (far_flow, _) = psnr_where(&flow, &truth, &far);
    let (far_global, _) = psnr_where(&global, &truth, &far);
    eprintln!(
        "parallax, frame {t}, {n} hole pixels seen in the window ({n_near} on the near layer): \
         per-pixel flow {p_flow:.2} dB (near {near_flow:.2}, far {far_flow:.2}), global fit \
         {p_global:.2} dB (near {near_global:.2}, far {far_global:.2})"
    );
    assert!(
        n > 5000 && n_near > 2000,
        "only {n} ({n_near}) pixels measured"
    );
    assert!(
        p_flow >= p_global + 2.0,
        "per-pixel flow {p_flow:.2} dB does not beat the global fit {p_global:.2} dB by 2 dB"
    );
    assert!(
        near_flow >= near_global + 2.0,
        "on the near layer, per-pixel flow {near_flow:.2} dB vs the global fit {near_global:.2} dB"
    );
    assert!(
        far_flow >= far_global - 3.0,
        "on the far layer, per-pixel flow {far_flow:.2} dB vs the global fit {far_global:.2} dB"
    );
}

/// Makes one shot of make_motion_shots.py (a textured box, not a person, crossing a noisy
/// background) in a fresh scratch folder; returns its folder.
fn motion_shot(test: &str, name: &str) -> PathBuf {
    generated_shot("make_motion_shots.py", test, name)
}

/// Renders frame `t` of `dir`'s shot without a Mask into `out_dir`, with `--threads threads`.
fn render_unmasked(dir: &Path, t: i32, sets: &[&str], threads: &str, out_dir: &str) -> Image {
    let input = pattern(dir, "shot");
    let output = pattern(dir, out_dir);
    let frames = format!("{t}..{t}");
    let mut args: Vec<&str> = vec![
        "-i",
        &input,
        "-o",
        &output,
        "--frames",
        &frames,
        "--threads",
        threads,
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    render_effect_ok(EFFECT, &args);
    frame(dir, out_dir, t)
}

#[test]
fn motion_matte_removes_a_moving_box_on_a_locked_off_camera_and_is_the_same_on_one_or_two_threads()
{
    real_model("selfie_segmentation");
    let dir = motion_shot("clean_plate_motion_box", "box");
    let t = 12;
    // make_motion_shots.py writes the box's matte in RGB.
    let box_px: Vec<bool> = frame(&dir, "matte", t)
        .data
        .chunks_exact(4)
        .map(|p| p[0] > 0.5)
        .collect();
    let truth = frame(&dir, "plate", t);
    // The motion matte alone (the person matte marks bits of this photo in every frame).
    let sets = ["method=auto", "window=24", "output=plate", "autoMatte=0"];
    let one = render_unmasked(&dir, t, &sets, "1", "out1");
    let two = render_unmasked(&dir, t, &sets, "2", "out2");
    assert!(one.data == two.data, "--threads 1 and 2 differ");
    let (p, n) = psnr_where(&one, &truth, &box_px);
    let (p_src, _) = psnr_where(&frame(&dir, "shot", t), &truth, &box_px);
    eprintln!(
        "motion matte: plate PSNR {p:.2} dB over the box's {n} pixels (the source: {p_src:.2} dB)"
    );
    assert_eq!(n, 1200);
    assert!(
        p >= 38.0,
        "plate PSNR {p:.2} dB where the box was, need >= 38 dB"
    );
    // Without the motion matte only the person matte is left, which marks some of this photo
    // (the box region is then partly inpainted, about 26 dB) but does not see the box.
    let off = render_unmasked(
        &dir,
        t,
        &["method=auto", "window=24", "output=plate", "motionMatte=0"],
        "1",
        "off",
    );
    let (p_off, _) = psnr_where(&off, &truth, &box_px);
    eprintln!("motionMatte=0: PSNR {p_off:.2} dB over the box");
    assert!(
        p_off < p - 20.0,
        "without the motion matte {p_off:.2} dB, with it {p:.2} dB"
    );
}

#[test]
fn motion_matte_removes_a_moving_box_under_a_panning_camera_and_is_the_same_on_one_or_two_threads()
{
    let dir = motion_shot("clean_plate_motion_pan", "box_pan");
    let t = 6;
    let box_px: Vec<bool> = frame(&dir, "matte", t)
        .data
        .chunks_exact(4)
        .map(|p| p[0] > 0.5)
        .collect();
    let truth = frame(&dir, "plate", t);
    // No Mask, no person matte: the motion matte is all there could be, and the camera moves,
    // so it is found against a background aligned to each frame.
    let sets = [
        "method=auto",
        "window=12",
        "output=plate",
        "autoMatte=0",
        "motionMatte=1",
    ];
    let one = render_unmasked(&dir, t, &sets, "1", "out1");
    let two = render_unmasked(&dir, t, &sets, "2", "out2");
    assert!(one.data == two.data, "--threads 1 and 2 differ");
    let (p, n) = psnr_where(&one, &truth, &box_px);
    let (p_src, _) = psnr_where(&frame(&dir, "shot", t), &truth, &box_px);
    let outside: Vec<bool> = box_px.iter().map(|b| !b).collect();
    let (p_rest, _) = psnr_where(&one, &truth, &outside);
    eprintln!(
        "panning camera: plate PSNR {p:.2} dB over the box's {n} pixels (the source: \
         {p_src:.2} dB), {p_rest:.2} dB elsewhere"
    );
    assert_eq!(n, 1200);
    assert!(
        p >= 45.0,
        "plate PSNR {p:.2} dB where the box was, need >= 45 dB (53.7 when written)"
    );
    assert!(
        p_rest >= 44.0,
        "plate PSNR {p_rest:.2} dB away from the box, need >= 44 dB (47.9 when written)"
    );
}
