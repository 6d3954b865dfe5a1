//! Output pixels of the Inference effect equal the models' arithmetic, computed here from the
//! weights the model generator wrote: real photos in, through `pixelspace render`, the reference
//! OFX host and the installed bundle, across pixel depths, colour handling and render scales.

use pixelspace_tests::*;

/// Tolerance for float outputs.
const FLOAT_TOL: f64 = 1e-5;

fn model_arg(name: &str) -> String {
    format!("model={}", model(name).display())
}

/// Expected 8/16-bit code values of a conv on each pixel of `input` (values in the model's space).
fn expected_codes(
    input: &Image,
    conv: &Conv1x1,
    max: f64,
    map_in: impl Fn(f64) -> f64,
    map_out: impl Fn(f64) -> f64,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(input.data.len());
    for px in input.data.chunks_exact(4) {
        let v = conv.apply([
            map_in(px[0] as f64),
            map_in(px[1] as f64),
            map_in(px[2] as f64),
        ]);
        for &x in &v[..3] {
            out.push((map_out(x).clamp(0.0, 1.0) * max).round());
        }
        out.push((px[3] as f64 * max).round());
    }
    out
}

fn codes(image: &Image, max: f64) -> Vec<f32> {
    image
        .data
        .iter()
        .map(|v| (*v as f64 * max).round() as f32)
        .collect()
}

fn assert_codes_within_one(expected: &[f64], actual: &Image, max: f64, what: &str) {
    let (d, i) = max_abs_diff(expected, &codes(actual, max));
    assert!(
        d <= 1.0,
        "{what}: code value off by {d} at component {i} (expected {}, got {})",
        expected[i],
        codes(actual, max)[i]
    );
}

fn assert_float_close(expected: &[f64], actual: &Image, what: &str) {
    assert_eq!(expected.len(), actual.data.len(), "{what}: size");
    for (i, (e, a)) in expected.iter().zip(&actual.data).enumerate() {
        let tol = FLOAT_TOL * e.abs().max(1.0);
        assert!(
            (e - *a as f64).abs() <= tol,
            "{what}: component {i} (pixel {}) expected {e}, got {a}",
            i / 4
        );
    }
}

/// Expected float RGBA of a conv whose manifest takes sRGB, on frames the host gives as linear floats.
fn expected_float(input: &Image, conv: &Conv1x1, frames_are_linear: bool) -> Vec<f64> {
    let mut out = Vec::with_capacity(input.data.len());
    for px in input.data.chunks_exact(4) {
        let to_model = |v: f32| {
            if frames_are_linear {
                linear_to_srgb(v as f64)
            } else {
                v as f64
            }
        };
        let v = conv.apply([to_model(px[0]), to_model(px[1]), to_model(px[2])]);
        for &x in &v[..3] {
            out.push(if frames_are_linear {
                srgb_to_linear(x)
            } else {
                x
            });
        }
        out.push(px[3] as f64);
    }
    out
}

#[test]
fn conv1x1_byte_frames_match_the_weights() {
    let out = scratch("conv1x1_byte");
    let pattern = format!("{}/%04d.png", out.display());
    render_ok(&[
        "-i",
        &photo_pattern("astronaut"),
        "-o",
        &pattern,
        "--frames",
        "1..3",
        "--depth",
        "byte",
        "--set",
        &model_arg("conv1x1"),
    ]);
    let conv = Conv1x1::load("conv1x1");
    for frame in 1..=3 {
        let input = read_image(
            &data_dir()
                .join("photos/astronaut")
                .join(format!("{frame:04}.png")),
        );
        let (output, bits) = read_png(&out.join(format!("{frame:04}.png")));
        assert_eq!(bits, 8, "byte renders are written as 8-bit PNG");
        assert_eq!((output.width, output.height), (input.width, input.height));
        let expected = expected_codes(&input, &conv, 255.0, |v| v, |v| v);
        assert_codes_within_one(&expected, &output, 255.0, &format!("frame {frame}"));
    }
}

#[test]
fn conv1x1_short_frames_match_the_weights() {
    let out = scratch("conv1x1_short");
    let src = read_image(&data_dir().join("photos/coffee/0001.png"));
    std::fs::create_dir_all(out.join("in")).unwrap();
    write_png16(&out.join("in/0001.png"), &src);
    render_ok(&[
        "-i",
        &format!("{}/in/%04d.png", out.display()),
        "-o",
        &format!("{}/out/%04d.png", out.display()),
        "--frames",
        "1..1",
        "--depth",
        "short",
        "--set",
        &model_arg("conv1x1"),
    ]);
    let (output, bits) = read_png(&out.join("out/0001.png"));
    assert_eq!(bits, 16);
    let expected = expected_codes(&src, &Conv1x1::load("conv1x1"), 65535.0, |v| v, |v| v);
    assert_codes_within_one(&expected, &output, 65535.0, "16-bit coffee");
}

#[test]
fn conv1x1_float_frames_are_linear_and_converted_for_the_model() {
    let out = scratch("conv1x1_float_linear");
    // A linear-light EXR made from the photo: the host hands it over as float, taken as scene linear.
    let photo = read_image(&data_dir().join("photos/coffee/0001.png"));
    let linear = Image {
        data: photo
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                [
                    srgb_to_linear(p[0] as f64) as f32,
                    srgb_to_linear(p[1] as f64) as f32,
                    srgb_to_linear(p[2] as f64) as f32,
                    p[3],
                ]
            })
            .collect(),
        ..photo
    };
    std::fs::create_dir_all(out.join("in")).unwrap();
    write_exr(&out.join("in/0001.exr"), &linear);
    render_ok(&[
        "-i",
        &format!("{}/in/%04d.exr", out.display()),
        "-o",
        &format!("{}/out/%04d.exr", out.display()),
        "--frames",
        "1..1",
        "--depth",
        "float",
        "--set",
        &model_arg("conv1x1"),
    ]);
    let output = read_image(&out.join("out/0001.exr"));
    let expected = expected_float(&linear, &Conv1x1::load("conv1x1"), true);
    assert_float_close(&expected, &output, "linear EXR coffee");
}

#[test]
fn conv1x1_float_frames_declared_srgb_are_passed_unchanged() {
    let out = scratch("conv1x1_float_srgb");
    render_ok(&[
        "-i",
        &photo_pattern("chelsea"),
        "-o",
        &format!("{}/%04d.exr", out.display()),
        "--frames",
        "2..2",
        "--depth",
        "float",
        "--set",
        &model_arg("conv1x1"),
        "--set",
        "colourSpace=srgb",
    ]);
    let input = read_image(&data_dir().join("photos/chelsea/0002.png"));
    let output = read_image(&out.join("0002.exr"));
    let expected = expected_float(&input, &Conv1x1::load("conv1x1"), false);
    assert_float_close(&expected, &output, "chelsea declared sRGB");
}

#[test]
fn half_render_scale_runs_on_the_hosts_box_downsample() {
    let out = scratch("scale_half");
    render_ok(&[
        "-i",
        &photo_pattern("astronaut"),
        "-o",
        &format!("{}/float/%04d.exr", out.display()),
        "--frames",
        "1..1",
        "--depth",
        "float",
        "--scale",
        "0.5",
        "--set",
        &model_arg("conv1x1"),
    ]);
    render_ok(&[
        "-i",
        &photo_pattern("astronaut"),
        "-o",
        &format!("{}/byte/%04d.png", out.display()),
        "--frames",
        "1..1",
        "--depth",
        "byte",
        "--scale",
        "0.5",
        "--set",
        &model_arg("conv1x1"),
    ]);
    let input = read_image(&data_dir().join("photos/astronaut/0001.png"));
    let small = box_downsample(&input, 0.5);
    assert_eq!((small.width, small.height), (256, 256));
    let conv = Conv1x1::load("conv1x1");

    let float = read_image(&out.join("float/0001.exr"));
    assert_eq!((float.width, float.height), (256, 256));
    assert_float_close(
        &expected_float(&small, &conv, true),
        &float,
        "float at scale 0.5",
    );

    // In byte depth the host rounds the downsampled frame to 8 bits before the plugin sees it.
    let small_bytes = Image {
        data: small
            .data
            .iter()
            .map(|v| (v * 255.0).round() / 255.0)
            .collect(),
        ..small
    };
    let byte = read_image(&out.join("byte/0001.png"));
    assert_codes_within_one(
        &expected_codes(&small_bytes, &conv, 255.0, |v| v, |v| v),
        &byte,
        255.0,
        "byte at scale 0.5",
    );
}

#[test]
fn pad_to_multiple_model_on_odd_sizes() {
    let out = scratch("pad8");
    let conv = Conv1x1::load("conv_pad8");
    for name in ["odd", "chelsea"] {
        render_ok(&[
            "-i",
            &photo_pattern(name),
            "-o",
            &format!("{}/{name}/%04d.exr", out.display()),
            "--frames",
            "1..1",
            "--depth",
            "float",
            "--set",
            &model_arg("conv_pad8"),
            "--set",
            "colourSpace=srgb",
        ]);
        let input = read_image(&data_dir().join("photos").join(name).join("0001.png"));
        assert!(
            !input.width.is_multiple_of(8) && !input.height.is_multiple_of(8),
            "{name} should not be a multiple of 8"
        );
        let output = read_image(&out.join(name).join("0001.exr"));
        assert_eq!(
            (output.width, output.height),
            (input.width, input.height),
            "{name}: cropped back"
        );
        assert_float_close(&expected_float(&input, &conv, false), &output, name);
    }
}

#[test]
fn model_output_written_to_alpha() {
    let out = scratch("alpha_out");
    render_ok(&[
        "-i",
        &photo_pattern("coffee"),
        "-o",
        &format!("{}/%04d.png", out.display()),
        "--frames",
        "1..1",
        "--depth",
        "byte",
        "--set",
        &model_arg("alpha_out"),
    ]);
    let input = read_image(&data_dir().join("photos/coffee/0001.png"));
    let output = read_image(&out.join("0001.png"));
    let conv = Conv1x1::load("alpha_out");
    for (i, (src, dst)) in input
        .data
        .chunks_exact(4)
        .zip(output.data.chunks_exact(4))
        .enumerate()
    {
        let a = conv.apply([src[0] as f64, src[1] as f64, src[2] as f64])[0];
        let expected = (a.clamp(0.0, 1.0) * 255.0).round();
        let got = (dst[3] as f64 * 255.0).round();
        assert!(
            (expected - got).abs() <= 1.0,
            "pixel {i}: alpha {got}, expected {expected}"
        );
    }
}

#[test]
fn residual_model_is_added_to_its_linear_input() {
    let out = scratch("residual");
    render_ok(&[
        "-i",
        &photo_pattern("astronaut"),
        "-o",
        &format!("{}/%04d.png", out.display()),
        "--frames",
        "3..3",
        "--depth",
        "byte",
        "--set",
        &model_arg("residual"),
    ]);
    let input = read_image(&data_dir().join("photos/astronaut/0003.png"));
    let output = read_image(&out.join("0003.png"));
    let conv = Conv1x1::load("residual");
    let mut expected = Vec::with_capacity(input.data.len());
    for px in input.data.chunks_exact(4) {
        // Byte frames are sRGB-encoded; the model takes and returns linear light.
        let x = [
            srgb_to_linear(px[0] as f64),
            srgb_to_linear(px[1] as f64),
            srgb_to_linear(px[2] as f64),
        ];
        let d = conv.apply(x);
        for c in 0..3 {
            expected.push((linear_to_srgb(x[c] + d[c]).clamp(0.0, 1.0) * 255.0).round());
        }
        expected.push((px[3] as f64 * 255.0).round());
    }
    assert_codes_within_one(&expected, &output, 255.0, "residual");
}
