//! Every effect rendered through a host we did not write, MLT's OpenFX module (the host of
//! Shotcut and Kdenlive, driven by `melt`), next to the reference host in its restricted
//! profile, which offers what MLT offers (the filter context only, no frames at other times,
//! no clip frame ranges):
//!
//! * Inference, Face (retouch, smoothing asked for) and CleanPlate (auto) render every frame in
//!   MLT, in byte and 16-bit frames and on two threads, and equal the reference host's
//!   restricted render bit for bit;
//! * Face and CleanPlate say once, in MLT's log, what they do without other frames;
//! * ExtendShot fails in MLT with a message that names what the host lacks and which hosts
//!   can lengthen a shot, and the reference host's restricted profile gives the same message.
//!
//! MLT is built by `../shared/hosts/mlt/build.sh`; `tests/run` builds it when that script is
//! there and sets `PIXELSPACE_TEST_MLT_RENDER` to its `render.sh`. Without it these tests say
//! they did not run (and fail under CI, where it must be there).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
const CLEAN_PLATE: &str = "org.pixelspace.CleanPlate";
const EXTEND_SHOT: &str = "org.pixelspace.ExtendShot";

/// MLT's `render.sh`, or None (with a note) where MLT is not built.
fn mlt_render_script() -> Option<PathBuf> {
    match std::env::var_os("PIXELSPACE_TEST_MLT_RENDER").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "PIXELSPACE_TEST_MLT_RENDER {} is not a file",
                p.display()
            );
            Some(p)
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the MLT tests: tests/run builds MLT with ../shared/hosts/mlt/build.sh \
                 and sets PIXELSPACE_TEST_MLT_RENDER"
            );
            eprintln!(
                "MLT is not built here (set PIXELSPACE_TEST_MLT_RENDER to ../shared/hosts/mlt/render.sh \
                 after running build.sh beside it): this test did not run"
            );
            None
        }
    }
}

/// The folders MLT always scans for plugins, whatever OFX_PLUGIN_PATH says.
const MLT_SYSTEM_FOLDERS: [&str; 2] = ["/usr/OFX/Plugins", "/usr/local/OFX/Plugins"];

/// Renders through melt; returns the exit status and MLT's log.
///
/// MLT loads every bundle it finds, and a Pixelspace bundle in a system folder (where `pixelspace
/// install` puts one by default) is the one it renders with, not the bundle under test. So where
/// one is there, melt runs in a mount namespace of its own (`unshare`) with an empty folder over
/// those folders. Every render action's line in the plugin's render log must then name the
/// plugin binary of the bundle under test.
fn melt(script: &Path, effect: &str, input: &str, output: &str, args: &[&str]) -> Output {
    let hidden: Vec<&str> = MLT_SYSTEM_FOLDERS
        .into_iter()
        .filter(|d| Path::new(d).join("Pixelspace.ofx.bundle").exists())
        .collect();
    let mut cmd = if hidden.is_empty() {
        Command::new("bash")
    } else {
        let empty = scratch_path("mlt-empty-plugin-folder");
        std::fs::create_dir_all(&empty).unwrap();
        let mut c = Command::new("unshare");
        c.arg("--mount");
        if !is_root() {
            c.arg("--map-root-user");
        }
        c.args([
            "sh",
            "-c",
            r#"set -e; empty=$1; shift; while [ "$1" != -- ]; do mount --bind "$empty" "$1"; shift; done; shift; exec bash "$@""#,
            "sh",
        ]);
        c.arg(&empty).args(&hidden).arg("--");
        c
    };
    let log = Path::new(output)
        .parent()
        .expect("an output folder")
        .with_extension("render-log");
    let _ = std::fs::remove_file(&log);
    let out = cmd
        .arg(script)
        .arg(effect)
        .args(["-i", input, "-o", output])
        .args(args)
        .arg("--plugin-path")
        .arg(plugin_dir())
        .env("PIXELSPACE_RENDER_LOG", &log)
        .output()
        .expect("run MLT's render.sh (through unshare where a system plugin folder has a Pixelspace bundle)");
    let bundle = std::fs::canonicalize(bundle()).unwrap();
    let lines = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !lines.is_empty(),
        "the plugin logged no render action in MLT:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in lines.lines() {
        let binary = line.split('\t').nth(3).unwrap_or("");
        assert!(
            Path::new(binary).starts_with(&bundle),
            "MLT rendered with {binary:?}, not the bundle under test ({}); hidden folders: {hidden:?}\n{}",
            bundle.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn melt_ok(script: &Path, effect: &str, input: &str, output: &str, args: &[&str]) -> String {
    let out = melt(script, effect, input, output, args);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "MLT render of {effect} {args:?} failed ({}):\n{log}",
        out.status
    );
    log
}

/// A PNG sequence of `frames` frames (numbered from 1) copied from `pattern`'s frame 1..,
/// repeating the last when the source has fewer.
fn sequence(dir: &Path, pattern: &str, frames: usize) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut last = None;
    for n in 1..=frames {
        let from = PathBuf::from(pattern.replace("%04d", &format!("{n:04}")));
        let from = if from.is_file() {
            last = Some(from.clone());
            from
        } else {
            last.clone().expect("the source has a first frame")
        };
        std::fs::copy(&from, dir.join(format!("{n:04}.png"))).unwrap();
    }
    dir.join("%04d.png").display().to_string()
}

/// A 16-bit copy of an 8-bit sequence made by [`sequence`], with a ramp in the low bits so the
/// frames use all 16 (both hosts then get the same 16-bit values from the files).
fn sequence16(dir: &Path, eight_bit: &str, frames: usize) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for n in 1..=frames {
        let (mut img, _) = read_png(Path::new(&eight_bit.replace("%04d", &format!("{n:04}"))));
        let w = img.width;
        for (i, v) in img.data.iter_mut().enumerate() {
            let (x, y) = ((i / 4) % w, (i / 4) / w);
            let low = ((x * 7 + y * 13 + n) % 200) as f32;
            *v = ((*v * 255.0).round() * 257.0 + low).min(65535.0) / 65535.0;
        }
        write_png16(&dir.join(format!("{n:04}.png")), &img);
    }
    dir.join("%04d.png").display().to_string()
}

/// Asserts that the two hosts wrote the same pixels, bit for bit, for frames 1..=frames.
/// With `in_order` false (MLT rendering on several threads), each frame MLT wrote must equal
/// one of the reference host's frames: MLT's own multi-threaded consumer sometimes writes a
/// frame under its neighbour's number, with no effect in the chain at all.
fn assert_same_frames(reference: &Path, mlt: &Path, frames: usize, what: &str, in_order: bool) {
    let load = |dir: &Path, n: usize| read_png(&dir.join(format!("{n:04}.png")));
    let reference: Vec<_> = (1..=frames).map(|n| load(reference, n)).collect();
    let differing = |a: &(Image, u8), b: &(Image, u8)| {
        if a.1 != b.1 || (a.0.width, a.0.height) != (b.0.width, b.0.height) {
            return usize::MAX;
        }
        let bits = |v: &f32| v.to_bits();
        a.0.data
            .iter()
            .map(bits)
            .zip(b.0.data.iter().map(bits))
            .filter(|(x, y)| x != y)
            .count()
    };
    for n in 1..=frames {
        let ours = load(mlt, n);
        if in_order {
            let d = differing(&reference[n - 1], &ours);
            assert_eq!(
                d, 0,
                "{what}: frame {n} differs between the reference host and MLT in {d} values"
            );
        } else {
            let best = reference.iter().map(|r| differing(r, &ours)).min().unwrap();
            assert_eq!(
                best, 0,
                "{what}: MLT's frame {n} equals none of the reference host's frames"
            );
        }
    }
}

/// Renders `effect` over `frames` frames of `input` in the reference host's restricted profile
/// and in MLT, and checks both equal bit for bit. `reference_args` and `mlt_args` set the same
/// params (the reference host takes choice option names, MLT option labels: the same here).
/// Returns MLT's log.
fn compare(
    name: &str,
    effect: &str,
    input: &str,
    frames: usize,
    depth: &str,
    threads: &str,
    sets: &[&str],
) -> Option<String> {
    let script = mlt_render_script()?;
    let dir = scratch(&format!("mlt-{name}"));
    let (reference, mlt) = (dir.join("reference"), dir.join("mlt"));
    let frames_arg = format!("1..{frames}");
    let mut common = vec![
        "--frames",
        frames_arg.as_str(),
        "--depth",
        depth,
        "--threads",
        threads,
    ];
    for s in sets {
        common.extend(["--set", s]);
    }
    let ref_out = reference.join("%04d.png").display().to_string();
    let mut args = vec!["-i", input, "-o", ref_out.as_str(), "--host", "restricted"];
    args.extend(&common);
    render_effect_ok(effect, &args);
    let mlt_out = mlt.join("%04d.png").display().to_string();
    let log = melt_ok(&script, effect, input, &mlt_out, &common);
    assert_same_frames(&reference, &mlt, frames, name, threads == "1");
    Some(log)
}

#[test]
fn inference_in_mlt_equals_the_reference_host_in_bytes_and_16_bit() {
    let dir = scratch("mlt-inference-input");
    let input = sequence(&dir, &photo_pattern("astronaut"), 3);
    let input16 = sequence16(&scratch("mlt-inference-input16"), &input, 3);
    let model = format!("model={}", model("conv1x1").display());
    compare(
        "inference-byte",
        INFERENCE,
        &input,
        3,
        "byte",
        "1",
        &[&model],
    );
    compare(
        "inference-short",
        INFERENCE,
        &input16,
        3,
        "short",
        "1",
        &[&model],
    );
}

#[test]
fn face_in_mlt_equals_the_restricted_reference_host_and_says_smoothing_is_off() {
    let dir = scratch("mlt-face-input");
    let shot = face_shots().join("astronaut_move").join("%04d.png");
    let input = sequence(&dir, &shot.display().to_string(), 4);
    let Some(log) = compare("face", FACE, &input, 4, "byte", "2", &["smoothing=2"]) else {
        return;
    };
    let notices = log.matches("landmarks are not smoothed").count();
    assert_eq!(notices, 1, "one smoothing notice in MLT's log:\n{log}");
    assert!(log.contains("no temporal clip access"), "{log}");
    // The retouch did change the face (the comparison above is not of two passthroughs).
    let changed = changed_values(&dir, "mlt-face");
    assert!(changed > 1000, "only {changed} values changed by retouch");
}

#[test]
fn clean_plate_in_mlt_fills_from_one_frame_like_the_restricted_reference_host() {
    let dir = scratch("mlt-clean-plate-input");
    let shot = face_shots().join("astronaut_move").join("%04d.png");
    let input = sequence(&dir, &shot.display().to_string(), 2);
    let Some(log) = compare("clean-plate", CLEAN_PLATE, &input, 2, "byte", "1", &[]) else {
        return;
    };
    assert_eq!(
        log.matches("the plate is rebuilt from each frame alone")
            .count(),
        1,
        "one single-frame notice in MLT's log:\n{log}"
    );
    let changed = changed_values(&dir, "mlt-clean-plate");
    assert!(
        changed > 1000,
        "only {changed} values changed: nobody was removed"
    );
}

#[test]
fn extend_shot_in_mlt_names_what_the_host_lacks() {
    let Some(script) = mlt_render_script() else {
        return;
    };
    let dir = scratch("mlt-extend-input");
    let input = sequence(&dir, &photo_pattern("astronaut"), 2);
    let out = scratch("mlt-extend").join("%04d.png").display().to_string();
    let melted = melt(&script, EXTEND_SHOT, &input, &out, &["--set", "tail=2"]);
    let log = String::from_utf8_lossy(&melted.stderr);
    assert!(
        !melted.status.success(),
        "MLT cannot lengthen a shot:\n{log}"
    );
    for words in [
        "ExtendShot cannot lengthen a shot in MLT",
        "no temporal clip access",
        "runs ExtendShot as a filter",
        "Natron",
    ] {
        assert!(log.contains(words), "MLT's log lacks {words:?}:\n{log}");
    }
    assert!(
        !log.contains("kOfxStat"),
        "a raw OFX status reached the artist:\n{log}"
    );

    let reference = scratch("mlt-extend-reference")
        .join("%04d.png")
        .display()
        .to_string();
    let ours = render(
        EXTEND_SHOT,
        &["-i", &input, "-o", &reference, "--host", "restricted"],
    );
    let text = String::from_utf8_lossy(&ours.stderr);
    assert!(!ours.status.success());
    assert!(
        text.contains("no temporal clip access") && text.contains("as a filter"),
        "{text}"
    );
}

/// How many values of frame 1 MLT changed: the input in `input_dir` against MLT's output in the
/// scratch folder `name` (as [`compare`] wrote it).
fn changed_values(input_dir: &Path, name: &str) -> usize {
    let (src, _) = read_png(&input_dir.join("0001.png"));
    let (out, _) = read_png(&scratch_path(name).join("mlt").join("0001.png"));
    src.data
        .iter()
        .zip(&out.data)
        .filter(|(a, b)| a != b)
        .count()
}

/// The scratch folder `name` as [`scratch`] made it, without emptying it.
fn scratch_path(name: &str) -> PathBuf {
    let target = pixelspace()
        .parent()
        .and_then(|p| p.parent())
        .expect("target folder")
        .to_path_buf();
    target.join("test-scratch").join(name)
}
