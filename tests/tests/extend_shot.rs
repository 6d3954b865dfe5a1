//! `org.pixelspace.ExtendShot` through `pixelspace render`, the reference OFX host and the
//! installed bundle, with the real RIFE model (the bundle's default), on shots made by moving a
//! crop window across real photographs (tests/data/make_shots.py), so every true in-between
//! frame and every true frame past the ends is known:
//!
//! * retime x2: the new frames reach 32 dB against the truth and beat blending the two
//!   neighbours by 8 dB; the source frames come through bit for bit;
//! * extend: head and tail frames beat holding the first/last frame by 3 dB on average;
//!   frames inside the shot are the source bit for bit (byte, short and float);
//! * a hard cut is never blended across, and a cut just before the last frame holds it;
//! * byte and float renders give the same picture within quantisation; values above 1 and
//!   alpha (warped with the colour) survive;
//! * the `extender` slot with a tiny predictor model (next = 2 * newest - previous);
//! * the effect's frame range (time domain) is what `render` renders without `--frames`;
//! * a render cancelled through the host stops inside the effect and writes nothing.
//!
//! Every test prints its PSNR figures (`cargo nextest run --no-capture` shows them).

use std::path::{Path, PathBuf};

use pixelspace_tests::*;

const EXTEND_SHOT: &str = "org.pixelspace.ExtendShot";
/// Shots with known truth (tests/data/make_shots.py).
const SHOTS: [&str; 5] = ["pan_diag", "pan_fast", "pan_slow", "pan_tiny", "zoom"];

fn shots_dir() -> PathBuf {
    let dir = data_dir().join("shots");
    assert!(
        dir.join("pan_diag").join("src").join("0001.png").is_file(),
        "{} has no test shots: run tests/setup, or python3 tests/data/make_shots.py {}",
        dir.display(),
        dir.display()
    );
    dir
}

fn shot(name: &str, part: &str, frame: i32) -> PathBuf {
    shots_dir()
        .join(name)
        .join(part)
        .join(format!("{frame:04}.png"))
}

fn pattern(dir: &Path, ext: &str) -> String {
    format!("{}/%04d.{ext}", dir.display())
}

fn render_extend(args: &[&str]) {
    let out = render(EXTEND_SHOT, args);
    assert!(
        out.status.success(),
        "pixelspace render {EXTEND_SHOT} {:?} failed ({}):\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Renders like [`render_extend`] and returns what the host printed (its messages).
fn render_extend_stderr(args: &[&str]) -> String {
    let out = render(EXTEND_SHOT, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "pixelspace render {EXTEND_SHOT} {args:?} failed ({}):\n{stderr}",
        out.status
    );
    stderr
}

fn out_frame(dir: &Path, frame: i32, ext: &str) -> Image {
    read_image(&dir.join(format!("{frame:04}.{ext}")))
}

fn blend(a: &Image, b: &Image) -> Image {
    Image {
        width: a.width,
        height: a.height,
        data: a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| 0.5 * (x + y))
            .collect(),
    }
}

/// Pixels the same bit for bit.
fn assert_identical(a: &Image, b: &Image, what: &str) {
    assert_eq!((a.width, a.height), (b.width, b.height), "{what}: sizes");
    let bad = a
        .data
        .iter()
        .zip(&b.data)
        .position(|(x, y)| x.to_bits() != y.to_bits());
    assert!(bad.is_none(), "{what}: differs at value {bad:?}");
}

#[test]
fn retime_x2_interpolates_within_32_db_and_8_db_better_than_blending() {
    let mut table = vec!["shot      frame  psnr dB  blend dB".to_string()];
    for name in SHOTS {
        let dir = scratch(&format!("extend_retime_{name}"));
        let src = pattern(&shots_dir().join(name).join("src"), "png");
        let out = pattern(&dir, "png");
        render_extend(&[
            "-i",
            &src,
            "-o",
            &out,
            "--frames",
            "1..9",
            "--set",
            "mode=retime",
            "--set",
            "speed=2",
        ]);
        for f in 1..=9 {
            let got = out_frame(&dir, f, "png");
            let truth = read_image(&shot(name, "dense", f));
            if f % 2 == 1 {
                // Output frame f shows source frame (f + 1) / 2 unchanged.
                let source = read_image(&shot(name, "src", (f + 1) / 2));
                assert_identical(&got, &source, &format!("{name} frame {f}"));
                continue;
            }
            let k = f / 2;
            let baseline = blend(
                &read_image(&shot(name, "src", k)),
                &read_image(&shot(name, "src", k + 1)),
            );
            let (p, pb) = (psnr_rgb(&got, &truth), psnr_rgb(&baseline, &truth));
            table.push(format!("{name:9} {f:5} {p:8.2} {pb:9.2}"));
            assert!(p >= 32.0, "{name} frame {f}: {p:.2} dB against the truth");
            assert!(
                p >= pb + 8.0,
                "{name} frame {f}: {p:.2} dB, blending gives {pb:.2} dB"
            );
        }
    }
    println!("{}", table.join("\n"));
}

#[test]
fn extend_head_and_tail_beat_holding_the_end_frames_by_3_db() {
    let mut table = vec!["shot      frame  psnr dB  hold dB".to_string()];
    for name in SHOTS {
        let dir = scratch(&format!("extend_tail_{name}"));
        let src = pattern(&shots_dir().join(name).join("src"), "png");
        let out = pattern(&dir, "png");
        render_extend(&[
            "-i",
            &src,
            "-o",
            &out,
            "--frames=-1..9",
            "--set",
            "mode=extend",
            "--set",
            "head=2",
            "--set",
            "tail=4",
        ]);
        // Frames inside the shot are the source, bit for bit.
        for k in 1..=5 {
            assert_identical(
                &out_frame(&dir, k, "png"),
                &read_image(&shot(name, "src", k)),
                &format!("{name} frame {k}"),
            );
        }
        for (frames, edge) in [(vec![6, 7, 8, 9], 5), (vec![-1, 0], 1)] {
            let hold = read_image(&shot(name, "src", edge));
            let mut gain = 0.0;
            for &k in &frames {
                let truth = read_image(&shot(name, "ends", k));
                let p = psnr_rgb(&out_frame(&dir, k, "png"), &truth);
                let ph = psnr_rgb(&hold, &truth);
                table.push(format!("{name:9} {k:5} {p:8.2} {ph:8.2}"));
                gain += (p - ph) / frames.len() as f64;
            }
            assert!(
                gain >= 3.0,
                "{name} frames {frames:?}: {gain:.2} dB better than holding frame {edge} on average"
            );
        }
    }
    println!("{}", table.join("\n"));
}

#[test]
fn a_hard_cut_is_never_blended_across() {
    // cut: frames 1..3 are pan_diag's, frames 4..5 pan_fast's (another photo).
    let src = pattern(&shots_dir().join("cut").join("src"), "png");
    let dir = scratch("extend_cut_retime");
    render_extend(&[
        "-i",
        &src,
        "-o",
        &pattern(&dir, "png"),
        "--frames",
        "1..9",
        "--set",
        "mode=retime",
        "--set",
        "speed=2",
    ]);
    for f in 1..=9 {
        let got = out_frame(&dir, f, "png");
        let t = 1.0 + (f - 1) as f64 / 2.0;
        if t == 3.5 {
            // Half way across the cut: the nearest frame of a scene, unchanged.
            let a = read_image(&shot("cut", "src", 3));
            let b = read_image(&shot("cut", "src", 4));
            assert!(
                got == a || got == b,
                "frame {f} across the cut is neither source frame 3 nor 4 (PSNR {:.1} / {:.1} dB)",
                psnr_rgb(&got, &a),
                psnr_rgb(&got, &b)
            );
            continue;
        }
        // Elsewhere each frame is its own scene's truth (a mix of the two would be ~14 dB).
        let scene = if t < 3.5 { "pan_diag" } else { "pan_fast" };
        let p = psnr_rgb(&got, &read_image(&shot(scene, "dense", f)));
        println!("cut retime frame {f}: {p:.2} dB against {scene}");
        assert!(p >= 32.0, "frame {f}: {p:.2} dB against {scene}");
    }

    // Head and tail: extrapolated from their own scene's frames only.
    let dir = scratch("extend_cut_ends");
    render_extend(&[
        "-i",
        &src,
        "-o",
        &pattern(&dir, "png"),
        "--frames=-1..7",
        "--set",
        "mode=extend",
        "--set",
        "head=2",
        "--set",
        "tail=2",
    ]);
    for (k, scene, edge) in [
        (-1, "pan_diag", 1),
        (0, "pan_diag", 1),
        (6, "pan_fast", 5),
        (7, "pan_fast", 5),
    ] {
        let truth = read_image(&shot(scene, "ends", k));
        let p = psnr_rgb(&out_frame(&dir, k, "png"), &truth);
        let ph = psnr_rgb(&read_image(&shot("cut", "src", edge)), &truth);
        println!("cut extend frame {k}: {p:.2} dB against {scene}, hold {ph:.2} dB");
        assert!(
            p >= ph + 3.0,
            "frame {k}: {p:.2} dB, holding gives {ph:.2} dB"
        );
    }

    // A cut just before the last frame leaves nothing to extrapolate from: the tail holds it.
    let short = scratch("extend_cut_last_src");
    for (k, from) in [(1, 2), (2, 3), (3, 4)] {
        std::fs::copy(shot("cut", "src", from), short.join(format!("{k:04}.png"))).unwrap();
    }
    let dir = scratch("extend_cut_last");
    let stderr = render_extend_stderr(&[
        "-i",
        &pattern(&short, "png"),
        "-o",
        &pattern(&dir, "png"),
        "--frames",
        "1..5",
        "--set",
        "mode=extend",
        "--set",
        "tail=2",
    ]);
    assert!(
        stderr.contains(
            "a cut lies right before the last frame (3), so there is no motion to carry on"
        ),
        "the host is told why the tail holds: {stderr}"
    );
    let last = read_image(&short.join("0003.png"));
    for k in [4, 5] {
        assert_identical(
            &out_frame(&dir, k, "png"),
            &last,
            &format!("tail frame {k}"),
        );
    }
}

/// The shot as linear float frames (EXR) with alpha = red, optionally scaled (HDR).
fn float_shot(name: &str, dir: &Path, gain: f32) {
    for k in 1..=5 {
        let mut img = read_image(&shot(name, "src", k));
        for px in img.data.chunks_exact_mut(4) {
            for v in &mut px[..3] {
                *v = srgb_to_linear(*v as f64) as f32 * gain;
            }
            px[3] = (px[0] / gain).min(1.0);
        }
        write_exr(&dir.join(format!("{k:04}.exr")), &img);
    }
}

#[test]
fn byte_short_and_float_agree_pass_through_bit_for_bit_and_keep_hdr_and_alpha() {
    let name = "pan_diag";
    let byte_dir = scratch("extend_depth_byte");
    let src = pattern(&shots_dir().join(name).join("src"), "png");
    let args = |out: &str, src: &str| -> Vec<String> {
        [
            "-i",
            src,
            "-o",
            out,
            "--frames",
            "1..10",
            "--set",
            "mode=retime",
            "--set",
            "speed=2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |a: Vec<String>| render_extend(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    run(args(&pattern(&byte_dir, "png"), &src));

    // Float: linear EXR frames, alpha = red.
    let float_src = scratch("extend_depth_float_src");
    float_shot(name, &float_src, 1.0);
    let float_dir = scratch("extend_depth_float");
    run(args(
        &pattern(&float_dir, "exr"),
        &pattern(&float_src, "exr"),
    ));

    // Short: 16-bit PNG frames.
    let short_src = scratch("extend_depth_short_src");
    for k in 1..=5 {
        write_png16(
            &short_src.join(format!("{k:04}.png")),
            &read_image(&shot(name, "src", k)),
        );
    }
    let short_dir = scratch("extend_depth_short");
    run(args(
        &pattern(&short_dir, "png"),
        &pattern(&short_src, "png"),
    ));

    for f in 1..=10 {
        let b = out_frame(&byte_dir, f, "png");
        let fl = out_frame(&float_dir, f, "exr");
        let s = out_frame(&short_dir, f, "png");
        if f % 2 == 1 {
            let k = (f + 1) / 2;
            assert_identical(
                &fl,
                &out_frame(&float_src, k, "exr"),
                &format!("float frame {f}"),
            );
            assert_identical(
                &s,
                &out_frame(&short_src, k, "png"),
                &format!("short frame {f}"),
            );
            continue;
        }
        // The float result, encoded as sRGB, is the byte result within quantisation.
        let mut enc = fl.clone();
        for px in enc.data.chunks_exact_mut(4) {
            for v in &mut px[..3] {
                *v = linear_to_srgb(*v as f64) as f32;
            }
        }
        let (pf, ps) = (psnr_rgb(&enc, &b), psnr_rgb(&s, &b));
        println!("frame {f}: float vs byte {pf:.2} dB, short vs byte {ps:.2} dB");
        assert!(pf >= 40.0, "frame {f}: float and byte differ ({pf:.2} dB)");
        assert!(ps >= 40.0, "frame {f}: short and byte differ ({ps:.2} dB)");
        // Alpha (= red in the source) is warped and blended exactly like red.
        let worst = fl
            .data
            .chunks_exact(4)
            .map(|p| (p[3] - p[0].min(1.0)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "frame {f}: alpha strays from red by {worst}");
    }

    // HDR: the same shot 4x brighter (linear) keeps its range: new frames are 4x the others
    // wherever the model saw the same picture, and values above 1 survive.
    let hdr_src = scratch("extend_depth_hdr_src");
    float_shot(name, &hdr_src, 4.0);
    let hdr_dir = scratch("extend_depth_hdr");
    run(args(&pattern(&hdr_dir, "exr"), &pattern(&hdr_src, "exr")));
    for f in [2, 10] {
        let h = out_frame(&hdr_dir, f, "exr");
        let max = h.data.chunks_exact(4).map(|p| p[0]).fold(0.0f32, f32::max);
        assert!(max > 2.0, "frame {f}: HDR values were clipped (max {max})");
    }
}

#[test]
fn the_extender_slot_runs_a_frame_predictor_described_by_its_manifest() {
    let model = shots_dir().join("extender").join("linear.onnx");
    assert!(
        model.is_file(),
        "{} missing: run tests/setup",
        model.display()
    );
    // A still picture whose brightness goes up by 0.05 per frame (linear float).
    let src = scratch("extend_extender_src");
    let (w, h) = (64usize, 64usize);
    let value = |k: i32| 0.2 + 0.05 * k as f32;
    for k in 1..=4 {
        let data = (0..w * h)
            .flat_map(|i| {
                let ramp = (i % w) as f32 / w as f32 * 0.1;
                [value(k) + ramp, value(k), value(k) * 0.5, 1.0]
            })
            .collect();
        write_exr(
            &src.join(format!("{k:04}.exr")),
            &Image {
                width: w,
                height: h,
                data,
            },
        );
    }
    let dir = scratch("extend_extender");
    render_extend(&[
        "-i",
        &pattern(&src, "exr"),
        "-o",
        &pattern(&dir, "exr"),
        "--frames=-1..7",
        "--set",
        "mode=extend",
        "--set",
        "head=2",
        "--set",
        "tail=3",
        "--set",
        &format!("extender={}", model.display()),
    ]);
    // The predictor continues the change exactly, forwards and (time reversed) backwards.
    for k in [-1, 0, 5, 6, 7] {
        let img = out_frame(&dir, k, "exr");
        for (i, p) in img.data.chunks_exact(4).enumerate() {
            let ramp = (i % w) as f32 / w as f32 * 0.1;
            let want = [value(k) + ramp, value(k), value(k) * 0.5, 1.0];
            for c in 0..4 {
                assert!(
                    (p[c] - want[c]).abs() < 1e-5,
                    "frame {k} pixel {i}: {p:?}, expected {want:?}"
                );
            }
        }
    }
}

#[test]
fn render_without_frames_renders_the_effects_frame_range() {
    let src = pattern(&shots_dir().join("pan_tiny").join("src"), "png");
    let dir = scratch("extend_time_domain");
    render_extend(&[
        "-i",
        &src,
        "-o",
        &pattern(&dir, "png"),
        "--set",
        "mode=extend",
        "--set",
        "head=3",
        "--set",
        "tail=1",
    ]);
    let names: Vec<String> = files_in(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: Vec<String> = (-2..=6).map(|k| format!("{k:04}.png")).collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(names, want_sorted);

    // retime x1.5 of 5 frames lasts ceil(7.5) = 8 frames: 1..8.
    let dir = scratch("extend_time_domain_retime");
    render_extend(&[
        "-i",
        &src,
        "-o",
        &pattern(&dir, "png"),
        "--set",
        "mode=retime",
        "--set",
        "speed=1.5",
    ]);
    assert_eq!(files_in(&dir).len(), 8);
    assert!(dir.join("0008.png").is_file());
}

/// A still frame source for driving the host directly.
struct Still {
    range: (i32, i32),
}

impl pixelspace_host::FrameSource for Still {
    fn frame_range(&self) -> (i32, i32) {
        self.range
    }
    fn rod(&self) -> (u32, u32) {
        (64, 32)
    }
    fn read(&self, _frame: i32) -> Result<pixelspace_host::HostImage, String> {
        Ok(pixelspace_host::HostImage {
            width: 64,
            height: 32,
            data: vec![0.5; 64 * 32 * 4],
        })
    }
}

#[test]
fn the_host_sees_the_lengthened_time_domain_and_the_frames_each_frame_needs() {
    let host = pixelspace_host::Host::new(&[plugin_dir()]).unwrap();
    let mut fx = host.instance(EXTEND_SHOT).unwrap();
    fx.connect("Source", std::sync::Arc::new(Still { range: (1, 5) }))
        .unwrap();
    fx.set_param("mode", "extend").unwrap();
    fx.set_param("head", "2").unwrap();
    fx.set_param("tail", "3").unwrap();
    assert_eq!(fx.time_domain().unwrap(), (-1.0, 8.0));
    let needed = |fx: &pixelspace_host::Instance, t: f64| fx.frames_needed(t, "Source").unwrap();
    // Inside the shot: the frame itself; past the ends: the edge frame and the one beside it.
    assert_eq!(needed(&fx, 3.0), vec![(3.0, 3.0)]);
    assert_eq!(needed(&fx, -1.0), vec![(1.0, 2.0)]);
    assert_eq!(needed(&fx, 7.0), vec![(4.0, 5.0)]);

    fx.set_param("mode", "retime").unwrap();
    fx.set_param("speed", "2").unwrap();
    assert_eq!(fx.time_domain().unwrap(), (1.0, 10.0));
    assert_eq!(needed(&fx, 4.0), vec![(2.0, 3.0)]);
    assert_eq!(needed(&fx, 5.0), vec![(3.0, 3.0)]);
    fx.set_param("speed", "1.25").unwrap();
    assert_eq!(fx.time_domain().unwrap(), (1.0, 7.0));
}

/// A still frame source that cancels the render (through the host's cancel handle) the first
/// time the effect reads a frame, and counts the reads.
struct CancellingStill {
    cancel: std::sync::Mutex<Option<pixelspace_host::CancelHandle>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl pixelspace_host::FrameSource for CancellingStill {
    fn frame_range(&self) -> (i32, i32) {
        (1, 5)
    }
    fn rod(&self) -> (u32, u32) {
        (64, 32)
    }
    fn read(&self, frame: i32) -> Result<pixelspace_host::HostImage, String> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Some(cancel) = self.cancel.lock().unwrap().take() {
            cancel.cancel();
        }
        Still { range: (1, 5) }.read(frame)
    }
}

#[test]
fn a_cancelled_render_is_stopped_by_the_effect_and_writes_nothing() {
    let host = pixelspace_host::Host::new(&[plugin_dir()]).unwrap();
    let mut fx = host.instance(EXTEND_SHOT).unwrap();
    let source = std::sync::Arc::new(CancellingStill {
        cancel: std::sync::Mutex::new(Some(fx.cancel_handle())),
        reads: std::sync::atomic::AtomicUsize::new(0),
    });
    fx.connect("Source", source.clone()).unwrap();
    fx.set_param("mode", "retime").unwrap();
    fx.set_param("speed", "2").unwrap();
    let written = std::sync::atomic::AtomicUsize::new(0);
    let sink = |_: i32, _: pixelspace_host::HostImage| -> Result<(), String> {
        written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    };
    // Output frame 2 lies between source frames 1 and 2: it needs the model. The render is
    // cancelled while the effect reads its first source frame.
    let opts = pixelspace_host::RenderOptions::default();
    let err = fx.render_frames(&[2], &opts, &sink).unwrap_err();
    // The effect itself gave up (its render action failed), rather than finishing the frame
    // for the host's own check to throw away ("frame 2: render cancelled"), and quietly: a
    // cancel is no error to show the artist.
    assert!(err.message.contains("render action failed"), "{err}");
    let said = fx.messages();
    assert!(
        !said.iter().any(|m| m.starts_with("error")),
        "the effect's messages: {said:?}"
    );
    assert_eq!(
        written.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing written"
    );
    let reads = source.reads.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        reads <= 2,
        "{reads} source reads: the effect went on after the cancel"
    );

    // The cancel is not sticky: the next render runs the model and writes its frame.
    fx.render_frames(&[2], &opts, &sink).unwrap();
    assert_eq!(written.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_one_frame_shot_is_held_with_a_message_and_nan_pixels_are_refused_by_name() {
    // One frame: nothing to extrapolate from, the frame is held and the host is told why.
    let src = scratch("extend_one_frame_src");
    let frame = shot("pan_diag", "src", 1);
    std::fs::copy(&frame, src.join("0000.png")).expect("copy a frame");
    let dir = scratch("extend_one_frame");
    let stderr = render_extend_stderr(&[
        "-i",
        &pattern(&src, "png"),
        "-o",
        &pattern(&dir, "png"),
        "--frames=0..2",
        "--set",
        "mode=extend",
        "--set",
        "tail=2",
    ]);
    assert!(
        stderr.contains("the shot has one frame, so there is no motion to carry on"),
        "{stderr}"
    );
    assert_identical(
        &out_frame(&dir, 2, "png"),
        &read_image(&frame),
        "the held frame",
    );

    // A NaN in the frame the motion is measured from: the render fails naming the frame, and
    // writes no made frame.
    let src = scratch("extend_nan_src");
    let (w, h) = (64usize, 48usize);
    for k in 0..3 {
        let mut data: Vec<f32> = (0..w * h)
            .flat_map(|i| {
                let v = ((i % w) as f32 * 0.1 + k as f32 * 0.3).sin() * 0.4 + 0.5;
                [v, 0.5, 1.0 - v, 1.0]
            })
            .collect();
        if k == 2 {
            data[4 * (10 * w + 7)] = f32::NAN;
        }
        write_exr(
            &src.join(format!("{k:04}.exr")),
            &Image {
                width: w,
                height: h,
                data,
            },
        );
    }
    let dir = scratch("extend_nan");
    let out = render(
        EXTEND_SHOT,
        &[
            "-i",
            &pattern(&src, "exr"),
            "-o",
            &pattern(&dir, "exr"),
            "--frames=3..3",
            "--set",
            "mode=extend",
            "--set",
            "tail=1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a NaN frame must fail: {stderr}");
    assert!(
        stderr.contains("source frame 2 has pixels that are not numbers"),
        "{stderr}"
    );
    assert!(
        !dir.join("0003.exr").exists(),
        "no frame is written for a failed render"
    );
}

#[test]
fn repeated_frames_are_skipped_and_the_motion_is_measured_per_frame() {
    // pan_diag with every frame shown twice (a webcam's or screen recording's doubled frames):
    // the camera moves at half the speed per frame, and a made frame two steps past the end is
    // the true frame one step past it.
    let src = scratch("extend_doubled_src");
    for k in 1..=5 {
        for copy in 0..2 {
            std::fs::copy(
                shot("pan_diag", "src", k),
                src.join(format!("{:04}.png", 2 * (k - 1) + copy)),
            )
            .expect("copy a frame");
        }
    }
    let dir = scratch("extend_doubled");
    render_extend(&[
        "-i",
        &pattern(&src, "png"),
        "-o",
        &pattern(&dir, "png"),
        "--frames=11..11",
        "--set",
        "mode=extend",
        "--set",
        "tail=2",
    ]);
    let truth = read_image(&shot("pan_diag", "ends", 6));
    let p = psnr_rgb(&out_frame(&dir, 11, "png"), &truth);
    let held = psnr_rgb(&read_image(&shot("pan_diag", "src", 5)), &truth);
    println!("doubled pan_diag, 2 frames past the end: {p:.2} dB, holding {held:.2} dB");
    assert!(p >= held + 3.0, "{p:.2} dB against holding's {held:.2} dB");
}

#[test]
fn an_extender_given_a_scene_shorter_than_its_context_says_so() {
    let model = shots_dir().join("extender").join("linear.onnx");
    let src = scratch("extend_short_context_src");
    std::fs::copy(shot("pan_diag", "src", 1), src.join("0000.png")).expect("copy a frame");
    let dir = scratch("extend_short_context");
    let stderr = render_extend_stderr(&[
        "-i",
        &pattern(&src, "png"),
        "-o",
        &pattern(&dir, "png"),
        "--frames=1..1",
        "--set",
        "mode=extend",
        "--set",
        "tail=1",
        "--set",
        &format!("extender={}", model.display()),
    ]);
    assert!(
        stderr.contains("the extender reads 2 frames but the scene at the last frame (0) has 1"),
        "{stderr}"
    );
}
