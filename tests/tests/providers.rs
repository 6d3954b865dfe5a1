//! The execution provider that runs is never swapped silently. A plugin built with the `cuda`
//! feature, on a machine whose ONNX Runtime has no CUDA (every CI machine), must: render with
//! `provider=auto` on the CPU and say so, and fail `provider=cuda` with a clear message and no
//! output. tests/setup builds that plugin and installs it as a second bundle
//! (PIXELSPACE_TEST_CUDA_BUNDLE).

use std::path::PathBuf;

use pixelspace_tests::*;

/// The plugin folder holding the bundle built with the `cuda` feature.
fn cuda_plugin_dir() -> PathBuf {
    let dir = std::env::var_os("PIXELSPACE_TEST_CUDA_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("ofx-cuda"));
    assert!(
        dir.join("Pixelspace.ofx.bundle").is_dir(),
        "no bundle built with the cuda feature in {}: run tests/run (tests/setup builds it)",
        dir.display()
    );
    dir
}

fn render_with_provider(name: &str, provider: &str) -> (std::process::Output, PathBuf) {
    let dir = scratch(name);
    let output = format!("{}/out/%04d.png", dir.display());
    let model = format!("model={}", model("conv1x1").display());
    let provider = format!("provider={provider}");
    let plugins = cuda_plugin_dir().display().to_string();
    let out = render(
        INFERENCE,
        &[
            "-i",
            &photo_pattern("astronaut"),
            "-o",
            &output,
            "--frames",
            "1..1",
            "--set",
            &model,
            "--set",
            &provider,
            "--plugin-path",
            &plugins,
        ],
    );
    (out, dir)
}

#[test]
fn auto_falls_back_to_the_cpu_and_says_so() {
    let (out, dir) = render_with_provider("provider_auto_fallback", "auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "render failed:\n{stderr}");
    assert!(
        stderr.contains("provider 'auto' ran on 'cpu' instead") && stderr.contains("cuda"),
        "the fallback to the CPU was not reported:\n{stderr}"
    );
    assert_eq!(files_in(&dir.join("out")).len(), 1, "one frame is written");
}

#[test]
fn an_explicit_cuda_request_fails_clearly_and_writes_nothing() {
    let (out, dir) = render_with_provider("provider_cuda_refused", "cuda");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "killed by a signal:\n{stderr}");
    assert!(
        !out.status.success(),
        "a cuda request ran without CUDA:\n{stderr}"
    );
    assert!(
        stderr.contains("cuda execution provider could not be started"),
        "unclear message:\n{stderr}"
    );
    assert!(files_in(&dir.join("out")).is_empty(), "nothing is written");
}

#[test]
fn the_cpu_build_reports_nothing_for_auto() {
    let dir = scratch("provider_auto_cpu_build");
    let output = format!("{}/out/%04d.png", dir.display());
    let model = format!("model={}", model("conv1x1").display());
    let out = render_ok(&[
        "-i",
        &photo_pattern("astronaut"),
        "-o",
        &output,
        "--frames",
        "1..1",
        "--set",
        &model,
        "--set",
        "provider=auto",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("instead"),
        "a CPU-only build has nothing to fall back from:\n{stderr}"
    );
}
