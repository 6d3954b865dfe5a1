//! `pixelspace install` lays out a complete bundle that a host loads, replaces an existing one
//! without leaving temporary folders behind, and `pixelspace doctor` passes on it; a missing plugin
//! library is a clean error that installs nothing.

use std::process::Command;

use pixelspace_tests::*;

fn pixelspace_cmd(args: &[&str]) -> std::process::Output {
    Command::new(pixelspace())
        .args(args)
        .env_remove("PIXELSPACE_ORT_LIB")
        .output()
        .expect("run pixelspace")
}

#[test]
fn install_twice_then_doctor() {
    let dir = scratch("install");
    let prefix = dir.join("plugins");
    let prefix_s = prefix.display().to_string();
    for _ in 0..2 {
        let out = pixelspace_cmd(&["install", "--prefix", &prefix_s]);
        assert!(
            out.status.success(),
            "install failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries: Vec<String> = files_in(&prefix)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        ["Pixelspace.ofx.bundle"],
        "only the bundle is left in the plugin folder"
    );
    let contents = prefix.join("Pixelspace.ofx.bundle/Contents");
    let plist = std::fs::read_to_string(contents.join("Info.plist")).unwrap();
    assert!(
        plist.contains("<string>Pixelspace.ofx</string>"),
        "Info.plist names the binary:\n{plist}"
    );
    assert!(contents.join("Linux-x86-64/Pixelspace.ofx").is_file());
    assert!(
        contents
            .join("Linux-x86-64/libonnxruntime.so.1.32.0")
            .is_file()
    );
    assert!(contents.join("Resources").is_dir());

    let doctor = pixelspace_cmd(&["doctor", "--plugin-path", &prefix_s]);
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        doctor.status.success(),
        "doctor failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
    assert!(
        stdout.contains("ONNX Runtime 1.32.0"),
        "doctor does not report the runtime:\n{stdout}"
    );
    assert!(
        stdout.contains(INFERENCE),
        "doctor does not list the Inference effect:\n{stdout}"
    );
}

#[test]
fn install_without_the_plugin_library_is_a_clean_error() {
    let dir = scratch("install_missing_plugin");
    let prefix = dir.join("plugins");
    let missing = dir.join("libpixelspace_ofx.so");
    let out = pixelspace_cmd(&[
        "install",
        "--prefix",
        &prefix.display().to_string(),
        "--plugin-lib",
        &missing.display().to_string(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "install should fail:\n{stderr}");
    assert!(
        stderr.contains("plugin library not found"),
        "unclear message:\n{stderr}"
    );
    assert!(
        files_in(&prefix).is_empty(),
        "something was installed: {:?}",
        files_in(&prefix)
    );
}
