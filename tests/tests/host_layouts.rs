//! The effect's output does not depend on how the host lays out or schedules the work: frames
//! rendered on 4 threads, images with negative rowBytes, padded rows and tiled render windows all
//! give the same pixels, bit for bit, as one thread with plain bottom-up rows.

use std::path::Path;

use pixelspace_tests::*;

fn model_arg() -> String {
    format!("model={}", model("conv1x1").display())
}

/// Renders conv1x1 and returns what `pixelspace` printed on stderr.
fn render_to(
    dir: &Path,
    photo: &str,
    frames: &str,
    depth: &str,
    ext: &str,
    extra: &[&str],
) -> String {
    let (input, output, model) = (
        photo_pattern(photo),
        format!("{}/%04d.{ext}", dir.display()),
        model_arg(),
    );
    let mut args = vec![
        "-i", &input, "-o", &output, "--frames", frames, "--depth", depth, "--set", &model,
    ];
    args.extend_from_slice(extra);
    String::from_utf8_lossy(&render_ok(&args).stderr).into_owned()
}

fn bits(image: &Image) -> Vec<u32> {
    image.data.iter().map(|v| v.to_bits()).collect()
}

fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files_in(a), files_in(b));
    assert_eq!(
        fa.len(),
        fb.len(),
        "{} and {} hold different numbers of frames",
        a.display(),
        b.display()
    );
    assert!(!fa.is_empty(), "no frames written in {}", a.display());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.file_name(), y.file_name());
        let (ix, iy) = (read_image(x), read_image(y));
        assert_eq!((ix.width, ix.height), (iy.width, iy.height));
        assert!(
            bits(&ix) == bits(&iy),
            "{} differs from {}",
            x.display(),
            y.display()
        );
    }
}

#[test]
fn four_threads_equal_one_thread_bit_for_bit() {
    let dir = scratch("threads");
    render_to(
        &dir.join("t1"),
        "coffee",
        "1..3",
        "float",
        "exr",
        &["--threads", "1"],
    );
    let stderr = render_to(
        &dir.join("t4"),
        "coffee",
        "1..3",
        "float",
        "exr",
        &["--threads", "4"],
    );
    assert!(
        !stderr.contains("one at a time"),
        "frames were not rendered concurrently:\n{stderr}"
    );
    assert_eq!(files_in(&dir.join("t4")).len(), 3);
    assert_same_files(&dir.join("t1"), &dir.join("t4"));
}

#[test]
fn negative_row_bytes_and_padded_rows_give_identical_output() {
    let dir = scratch("row_layout");
    for depth in ["float", "byte"] {
        let ext = if depth == "float" { "exr" } else { "png" };
        let plain = dir.join(format!("{depth}-plain"));
        render_to(&plain, "chelsea", "1..1", depth, ext, &[]);
        // Padding keeps rows aligned to the component size (as hosts do): odd for bytes, 4n for floats.
        let pad = if depth == "byte" { "13" } else { "12" };
        for (name, extra) in [
            ("top-down", &["--row-order", "top-down"][..]),
            ("padded", &["--row-padding", pad][..]),
            (
                "top-down-padded",
                &["--row-order", "top-down", "--row-padding", "64"][..],
            ),
        ] {
            let other = dir.join(format!("{depth}-{name}"));
            render_to(&other, "chelsea", "1..1", depth, ext, extra);
            assert_same_files(&plain, &other);
        }
    }
}

#[test]
fn tiled_render_windows_give_identical_output() {
    let dir = scratch("tiles");
    render_to(&dir.join("whole"), "astronaut", "1..1", "float", "exr", &[]);
    let stderr = render_to(
        &dir.join("tiled"),
        "astronaut",
        "1..1",
        "float",
        "exr",
        &["--tile", "200x136"],
    );
    assert!(
        !stderr.contains("does not support tiles"),
        "the render was not tiled:\n{stderr}"
    );
    assert_same_files(&dir.join("whole"), &dir.join("tiled"));
}

#[test]
fn frames_and_depth_default_to_the_inputs_own() {
    let dir = scratch("defaults");
    render_to(&dir.join("explicit"), "coffee", "1..3", "byte", "png", &[]);
    let (input, output, model) = (
        photo_pattern("coffee"),
        format!("{}/%04d.png", dir.join("default").display()),
        model_arg(),
    );
    render_ok(&["-i", &input, "-o", &output, "--set", &model]);
    for file in files_in(&dir.join("default")) {
        assert_eq!(
            read_png(&file).1,
            8,
            "8-bit input, byte depth, 8-bit output"
        );
    }
    assert_same_files(&dir.join("explicit"), &dir.join("default"));
}
