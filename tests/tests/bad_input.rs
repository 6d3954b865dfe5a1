//! Broken setups fail cleanly: a missing model, a malformed manifest, a manifest that does not
//! match its model, a file that is not a model, and a bundle without its runtime library each make
//! `pixelspace render` exit non-zero (not killed by a signal) with a message saying what is wrong,
//! and no output file is written.

use std::path::{Path, PathBuf};
use std::process::Output;

use pixelspace_tests::*;
use sha2::{Digest, Sha256};

fn render_into(dir: &Path, model_path: &Path, plugin_dir: Option<&Path>) -> Output {
    let output = format!("{}/out/%04d.png", dir.display());
    let model = format!("model={}", model_path.display());
    let mut args = vec![
        "-i".to_string(),
        photo_pattern("odd"),
        "-o".into(),
        output,
        "--frames".into(),
        "1..1".into(),
        "--set".into(),
        model,
    ];
    if let Some(p) = plugin_dir {
        args.push("--plugin-path".into());
        args.push(p.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    render(INFERENCE, &refs)
}

/// Asserts a clean failure: an exit code (no signal), non-zero, stderr containing every `needle`
/// (case-insensitive), and nothing written to the output folder.
fn assert_clean_failure(out: &Output, dir: &Path, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        code.is_some(),
        "pixelspace was killed by a signal ({}); stderr:\n{stderr}",
        out.status
    );
    assert_ne!(
        code,
        Some(0),
        "pixelspace succeeded on bad input; stderr:\n{stderr}"
    );
    let lower = stderr.to_lowercase();
    for needle in needles {
        assert!(
            lower.contains(&needle.to_lowercase()),
            "stderr does not mention {needle:?}:\n{stderr}"
        );
    }
    let written = files_in(&dir.join("out"));
    assert!(
        written.is_empty(),
        "files were written on failure: {written:?}"
    );
}

/// Copies a generated model and its manifest into `dir` under `name` (manifest `model` field updated).
fn copy_model(dir: &Path, from: &str, name: &str) -> (PathBuf, serde_json::Value) {
    let onnx = dir.join(format!("{name}.onnx"));
    std::fs::copy(model(from), &onnx).unwrap();
    let text = std::fs::read_to_string(model(from).with_extension("json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["model"] = format!("{name}.onnx").into();
    (onnx, manifest)
}

fn write_manifest(onnx: &Path, manifest: &serde_json::Value) {
    std::fs::write(
        onnx.with_extension("json"),
        serde_json::to_string_pretty(manifest).unwrap(),
    )
    .unwrap();
}

#[test]
fn missing_model_file() {
    let dir = scratch("bad_missing_model");
    let out = render_into(&dir, &dir.join("no_such_model.onnx"), None);
    assert_clean_failure(&out, &dir, &["no_such_model"]);
}

#[test]
fn malformed_manifest() {
    let dir = scratch("bad_malformed_manifest");
    let (onnx, _) = copy_model(&dir, "conv1x1", "broken");
    std::fs::write(onnx.with_extension("json"), "{ \"schema\": 1, \"name\": ").unwrap();
    let out = render_into(&dir, &onnx, None);
    assert_clean_failure(&out, &dir, &["broken.json", "not valid"]);
}

#[test]
fn manifest_that_does_not_match_the_model() {
    let dir = scratch("bad_manifest_mismatch");
    let (onnx, mut manifest) = copy_model(&dir, "conv1x1", "renamed");
    manifest["inputs"][0]["name"] = "image".into();
    write_manifest(&onnx, &manifest);
    let out = render_into(&dir, &onnx, None);
    assert_clean_failure(&out, &dir, &["does not match its manifest", "renamed.json"]);
}

#[test]
fn random_bytes_instead_of_a_model() {
    let dir = scratch("bad_random_onnx");
    let (onnx, mut manifest) = copy_model(&dir, "conv1x1", "garbage");
    // Deterministic pseudo-random bytes; the manifest's hash matches them, so ONNX Runtime must refuse the file.
    let bytes = pseudo_random_bytes(0x2545_f491_4f6c_dd1d, 4096);
    std::fs::write(&onnx, &bytes).unwrap();
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    manifest["sha256"] = hash.into();
    write_manifest(&onnx, &manifest);
    let out = render_into(&dir, &onnx, None);
    assert_clean_failure(&out, &dir, &["cannot load model", "garbage.onnx"]);
}

#[test]
fn bundle_without_its_runtime_library() {
    let dir = scratch("bad_missing_runtime");
    let plugins = dir.join("plugins");
    let arch = plugins.join("Pixelspace.ofx.bundle/Contents/Linux-x86-64");
    std::fs::create_dir_all(&arch).unwrap();
    std::fs::create_dir_all(plugins.join("Pixelspace.ofx.bundle/Contents/Resources")).unwrap();
    let installed = bundle().join("Contents");
    std::fs::copy(
        installed.join("Info.plist"),
        plugins.join("Pixelspace.ofx.bundle/Contents/Info.plist"),
    )
    .unwrap();
    std::fs::copy(
        installed.join("Linux-x86-64/Pixelspace.ofx"),
        arch.join("Pixelspace.ofx"),
    )
    .unwrap();
    let out = render_into(&dir, &model("conv1x1"), Some(&plugins));
    assert_clean_failure(
        &out,
        &dir,
        &["onnx runtime library not found", "pixelspace doctor"],
    );

    // `pixelspace doctor` names the same problem and fails.
    let doctor = std::process::Command::new(pixelspace())
        .args(["doctor", "--plugin-path"])
        .arg(&plugins)
        .env_remove("PIXELSPACE_ORT_LIB")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&doctor.stderr).to_lowercase();
    assert_eq!(
        doctor.status.code(),
        Some(1),
        "doctor should fail:\n{stderr}"
    );
    assert!(
        stderr.contains("onnx runtime library not found"),
        "doctor does not name the missing library:\n{stderr}"
    );
}

#[test]
fn missing_input_frame_fails_that_frame_only() {
    let dir = scratch("bad_missing_frame");
    // A shot with a gap: frames 1 and 3 exist, frame 2 does not.
    std::fs::create_dir_all(dir.join("in")).unwrap();
    for frame in ["0001.png", "0003.png"] {
        std::fs::copy(
            data_dir().join("photos/coffee").join(frame),
            dir.join("in").join(frame),
        )
        .unwrap();
    }
    let input = format!("{}/in/%04d.png", dir.display());
    let output = format!("{}/out/%04d.png", dir.display());
    let model = format!("model={}", model("conv1x1").display());
    let out = render(
        INFERENCE,
        &[
            "-i", &input, "-o", &output, "--frames", "1..3", "--set", &model,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "expected a clean failure ({}):\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("0002.png"),
        "stderr does not name the missing frame:\n{stderr}"
    );
    let written: Vec<String> = files_in(&dir.join("out"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        !written.contains(&"0002.png".to_string()),
        "the failed frame was written: {written:?}"
    );
    assert!(
        written.iter().all(|n| n == "0001.png" || n == "0003.png"),
        "unexpected files: {written:?}"
    );
}
