//! The effects in a host that offers less: the reference host's restricted profile (the filter
//! context only, no frames at other times, no clip frame ranges, as MLT's host), against the
//! same effects in the full profile:
//!
//! * Face runs without landmark smoothing, says so once, and equals a full-profile render with
//!   smoothing 0 bit for bit; replace (which needs the FaceSource clip) fails with a message;
//! * CleanPlate fills each frame from itself, says so once, and equals a full-profile render
//!   with method inpaint bit for bit;
//! * Inference renders models that read the current frame as in the full profile, and refuses
//!   one that reads the next frame, saying why;
//! * ExtendShot fails with a message naming what is missing, and writes no frame;
//! * no message shows a raw OFX status.
//!
//! Needs `PIXELSPACE_MODELS_DIR` with the default models (tests/run sets it).

use std::path::{Path, PathBuf};

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
const CLEAN_PLATE: &str = "org.pixelspace.CleanPlate";
const EXTEND_SHOT: &str = "org.pixelspace.ExtendShot";

fn face_shot() -> String {
    face_shots()
        .join("astronaut_move")
        .join("%04d.png")
        .display()
        .to_string()
}

/// Renders frames `frames` of `input` through `effect` in `profile`; returns the output folder
/// and the command's messages.
fn render_in(
    name: &str,
    profile: &str,
    effect: &str,
    input: &str,
    frames: &str,
    sets: &[&str],
) -> (PathBuf, String) {
    let dir = scratch(&format!("profiles-{name}-{profile}"));
    let out = dir.join("%04d.png").display().to_string();
    let mut args = vec![
        "-i", input, "-o", &out, "--frames", frames, "--host", profile,
    ];
    args.extend(["--depth", "byte", "--threads", "2"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    let run = render_effect_ok(effect, &args);
    (dir, String::from_utf8_lossy(&run.stderr).into_owned())
}

fn assert_same(a: &Path, b: &Path, frames: std::ops::RangeInclusive<u32>, what: &str) {
    for n in frames {
        let name = format!("{n:04}.png");
        let (x, _) = read_png(&a.join(&name));
        let (y, _) = read_png(&b.join(&name));
        assert_eq!((x.width, x.height), (y.width, y.height), "{what} frame {n}");
        let differing = x.data.iter().zip(&y.data).filter(|(p, q)| p != q).count();
        assert_eq!(
            differing, 0,
            "{what}: frame {n} differs in {differing} values"
        );
    }
}

/// The plugin's own messages in a render's output (the lines `pixelspace render` prints as
/// `EFFECT: Level: text`).
fn plugin_messages(log: &str) -> String {
    log.lines()
        .filter(|l| l.starts_with("org.pixelspace."))
        .collect::<Vec<_>>()
        .join("\n")
}

fn changed_values(source: &str, frame: u32, output: &Path) -> usize {
    let (a, _) = read_png(Path::new(&source.replace("%04d", &format!("{frame:04}"))));
    let (b, _) = read_png(&output.join(format!("{frame:04}.png")));
    a.data.iter().zip(&b.data).filter(|(p, q)| p != q).count()
}

#[test]
fn face_without_other_frames_is_unsmoothed_and_says_so_once() {
    let shot = face_shot();
    let (restricted, log) = render_in("face", "restricted", FACE, &shot, "3..6", &["smoothing=3"]);
    assert_eq!(
        log.matches("landmarks are not smoothed").count(),
        1,
        "one notice for the whole render:\n{log}"
    );
    assert!(log.contains("no temporal clip access"), "{log}");
    assert!(!plugin_messages(&log).contains("kOfxStat"), "{log}");
    let (full, _) = render_in("face", "full", FACE, &shot, "3..6", &["smoothing=0"]);
    assert_same(
        &restricted,
        &full,
        3..=6,
        "Face restricted vs full with smoothing 0",
    );
    assert!(
        changed_values(&shot, 4, &restricted) > 1000,
        "retouch changed the face"
    );
}

#[test]
fn face_replace_needs_the_face_source_clip_of_the_general_context() {
    let shot = face_shot();
    let out = scratch("profiles-face-replace").join("%04d.png");
    let run = render(
        FACE,
        &[
            "-i",
            &shot,
            "-o",
            &out.display().to_string(),
            "--frames",
            "1..1",
            "--host",
            "restricted",
            "--set",
            "mode=replace",
        ],
    );
    let text = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{text}");
    assert!(
        text.contains("FaceSource clip, which this host does not have"),
        "{text}"
    );
    assert!(!plugin_messages(&text).contains("kOfxStat"), "{text}");
    assert!(
        !out.parent().unwrap().join("0001.png").exists(),
        "a failed frame is not written"
    );
}

#[test]
fn clean_plate_without_other_frames_fills_each_frame_from_itself() {
    let shot = face_shot();
    let (restricted, log) = render_in(
        "plate",
        "restricted",
        CLEAN_PLATE,
        &shot,
        "1..2",
        &["method=auto"],
    );
    assert_eq!(
        log.matches("the plate is rebuilt from each frame alone")
            .count(),
        1,
        "{log}"
    );
    let (full, _) = render_in(
        "plate",
        "full",
        CLEAN_PLATE,
        &shot,
        "1..2",
        &["method=inpaint"],
    );
    assert_same(
        &restricted,
        &full,
        1..=2,
        "CleanPlate restricted vs full inpaint",
    );
    assert!(
        changed_values(&shot, 1, &restricted) > 1000,
        "the person was removed"
    );
}

/// A copy of the conv1x1 test model whose manifest reads the Source clip at `offset`.
fn conv1x1_at_offset(offset: i64) -> PathBuf {
    let dir = scratch(&format!("profiles-offset-model-{offset}"));
    let onnx = dir.join("conv1x1.onnx");
    std::fs::copy(model("conv1x1"), &onnx).unwrap();
    let json = std::fs::read_to_string(model("conv1x1").with_extension("json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&json).unwrap();
    for input in manifest["inputs"].as_array_mut().unwrap() {
        input["frame_offset"] = serde_json::json!(offset);
    }
    std::fs::write(onnx.with_extension("json"), manifest.to_string()).unwrap();
    onnx
}

#[test]
fn inference_reads_the_current_frame_alike_and_refuses_other_offsets_without_access() {
    let input = photo_pattern("astronaut");
    let plain = format!("model={}", model("conv1x1").display());
    let (restricted, _) = render_in(
        "inference",
        "restricted",
        INFERENCE,
        &input,
        "1..2",
        &[&plain],
    );
    let (full, _) = render_in("inference", "full", INFERENCE, &input, "1..2", &[&plain]);
    assert_same(&restricted, &full, 1..=2, "Inference restricted vs full");

    let next = format!("model={}", conv1x1_at_offset(1).display());
    let out = scratch("profiles-inference-next").join("%04d.png");
    let out_text = out.display().to_string();
    let args = [
        "-i", &input, "-o", &out_text, "--frames", "1..1", "--set", &next,
    ];
    let ok = render(INFERENCE, &[&args[..], &["--host", "full"]].concat());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let refused = render(INFERENCE, &[&args[..], &["--host", "restricted"]].concat());
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{text}");
    assert!(
        text.contains("at frame offset +1") && text.contains("no temporal clip access"),
        "{text}"
    );
}

#[test]
fn extend_shot_names_what_the_host_lacks_and_writes_nothing() {
    let input = photo_pattern("astronaut");
    let dir = scratch("profiles-extend");
    let out = dir.join("%04d.png").display().to_string();
    let run = render(
        EXTEND_SHOT,
        &[
            "-i",
            &input,
            "-o",
            &out,
            "--host",
            "restricted",
            "--set",
            "tail=2",
        ],
    );
    let text = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{text}");
    for words in [
        "ExtendShot cannot lengthen a shot",
        "no temporal clip access",
        "runs ExtendShot as a filter",
        "Natron",
    ] {
        assert!(text.contains(words), "the message lacks {words:?}:\n{text}");
    }
    assert!(!plugin_messages(&text).contains("kOfxStat"), "{text}");
    assert!(files_in(&dir).is_empty(), "no frame is written");
}
