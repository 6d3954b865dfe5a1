//! Movie files and luminance mattes through `pixelspace render`, the reference OFX host and the
//! installed bundle, on clips made with FFmpeg from its moving test pattern (testsrc2, 320x240,
//! 25 fps, 10 frames):
//!
//! * an H.264 .mp4 and a 10-bit ProRes .mov render through Inference (the `conv1x1` test model)
//!   exactly as the same frames do from a PNG sequence that FFmpeg decoded them to; the ProRes
//!   clip reaches the plugin as 16-bit (the PNG output is 16-bit and uses more than 8 bits);
//! * movie outputs (.mov ProRes 422 HQ and 4444, .mp4 H.264, .mxf DNxHR) hold every frame at the
//!   input movie's frame rate, or `--fps` (default 24) from a PNG sequence; a ProRes output
//!   decodes back to the PNG render within 40 dB, frame for frame;
//! * ExtendShot's head (negative times) comes first in a movie output;
//! * a missing, corrupt or truncated movie, no FFmpeg on PATH, and a codec the container does
//!   not take each fail with a clear message and write nothing;
//! * a matte without alpha (RGB or grey PNG) is read by its Rec. 709 luminance on the Mask clip
//!   (a model that reads the Mask's alpha shows the numbers; CleanPlate removes what a
//!   black-and-white matte marks and leaves the rest bit for bit), and a matte with alpha
//!   keeps it.
//!
//! Needs `ffmpeg` and `ffprobe` on PATH (Debian: apt-get install ffmpeg) and, for the matte
//! model, python3 with onnx and numpy.

use std::path::{Path, PathBuf};
use std::process::Command;

use pixelspace_tests::*;

const W: usize = 320;
const H: usize = 240;

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("run ffmpeg (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A movie's first video stream as ffprobe sees it (frames counted by decoding).
#[derive(Debug)]
struct Probe {
    codec: String,
    profile: String,
    pix_fmt: String,
    rate: String,
    frames: usize,
}

fn probe(path: &Path) -> Probe {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args(["-show_entries"])
        .arg("stream=codec_name,profile,pix_fmt,r_frame_rate,nb_read_frames")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe {} failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let s = &v["streams"][0];
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    Probe {
        codec: text("codec_name"),
        profile: text("profile"),
        pix_fmt: text("pix_fmt"),
        rate: text("r_frame_rate"),
        frames: text("nb_read_frames").parse().unwrap_or(0),
    }
}

/// Ten frames of FFmpeg's moving test pattern (320x240, 25 fps) encoded with `codec`.
fn make_clip(dir: &Path, name: &str, codec: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-frames:v",
        "10",
    ];
    args.extend(codec);
    let p = path.display().to_string();
    args.push(&p);
    ffmpeg(&args);
    path
}

fn h264_clip(dir: &Path) -> PathBuf {
    make_clip(dir, "clip.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"])
}

fn prores_clip(dir: &Path) -> PathBuf {
    make_clip(
        dir,
        "clip.mov",
        &[
            "-c:v",
            "prores_ks",
            "-profile:v",
            "3",
            "-pix_fmt",
            "yuv422p10le",
        ],
    )
}

/// Decodes a movie into a PNG sequence numbered from 0 (`pix_fmt` rgba or rgba64be).
fn decode_to_pngs(movie: &Path, dir: &Path, pix_fmt: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let pattern = format!("{}/%04d.png", dir.display());
    ffmpeg(&[
        "-i",
        &movie.display().to_string(),
        "-fps_mode",
        "passthrough",
        "-pix_fmt",
        pix_fmt,
        "-start_number",
        "0",
        &pattern,
    ]);
    pattern
}

fn conv1x1() -> String {
    format!("model={}", model("conv1x1").display())
}

fn frame_png(dir: &Path, frame: i32) -> PathBuf {
    dir.join(format!("{frame:04}.png"))
}

fn names_in(dir: &Path) -> Vec<String> {
    files_in(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn names_of(frames: impl Iterator<Item = i32>) -> Vec<String> {
    let mut v: Vec<String> = frames.map(|k| format!("{k:04}.png")).collect();
    v.sort();
    v
}

/// Renders a movie and the PNG sequence FFmpeg decodes it to through Inference (conv1x1) into
/// PNGs; asserts the two renders are identical; returns the movie render's folder.
fn assert_renders_like_its_frames(
    test: &str,
    make: fn(&Path) -> PathBuf,
    pix_fmt: &str,
) -> PathBuf {
    let dir = scratch(test);
    let movie = make(&dir);
    let frames = decode_to_pngs(&movie, &dir.join("decoded"), pix_fmt);
    let from_movie = dir.join("from_movie");
    let from_frames = dir.join("from_frames");
    let m = conv1x1();
    for (input, out) in [
        (movie.display().to_string(), &from_movie),
        (frames, &from_frames),
    ] {
        let o = format!("{}/%04d.png", out.display());
        render_ok(&["-i", &input, "-o", &o, "--set", &m]);
    }
    // Frame N of the movie is time N from 0: all ten, 0..9, without --frames.
    assert_eq!(names_in(&from_movie), names_of(0..10));
    assert_eq!(names_in(&from_frames), names_of(0..10));
    for k in 0..10 {
        let a = read_png(&frame_png(&from_movie, k));
        let b = read_png(&frame_png(&from_frames, k));
        assert_eq!(a.1, b.1, "frame {k}: bit depths differ");
        assert!(
            a.0 == b.0,
            "frame {k}: the movie render differs from the frames' render"
        );
    }
    from_movie
}

#[test]
fn an_mp4_renders_like_the_frames_it_decodes_to() {
    let out = assert_renders_like_its_frames("movies_mp4_input", h264_clip, "rgba");
    assert_eq!(
        read_png(&frame_png(&out, 0)).1,
        8,
        "an 8-bit movie renders at byte depth"
    );
}

#[test]
fn a_10_bit_prores_clip_reaches_the_plugin_as_16_bit() {
    let out = assert_renders_like_its_frames("movies_prores_input", prores_clip, "rgba64be");
    let (image, bits) = read_png(&frame_png(&out, 4));
    assert_eq!(bits, 16, "a 10-bit ProRes clip renders at short depth");
    // More than 8 bits of it arrive: values that no 8-bit code gives (k * 257 / 65535).
    let deep = image
        .data
        .iter()
        .filter(|&&v| !((v as f64 * 65535.0).round() as u32).is_multiple_of(257))
        .count();
    assert!(
        deep > image.data.len() / 4,
        "only {deep} of {} values use more than 8 bits",
        image.data.len()
    );
}

#[test]
fn movie_outputs_keep_every_frame_and_the_frame_rate() {
    let dir = scratch("movies_outputs");
    let clip = h264_clip(&dir);
    let input = clip.display().to_string();
    let m = conv1x1();
    let cases: [(&str, Option<&str>, &str, &str, &str); 6] = [
        ("hq.mov", None, "prores", "HQ", "yuv422p10le"),
        (
            "alpha.mov",
            Some("prores4444"),
            "prores",
            "4444",
            "yuva444p12le",
        ),
        (
            "dnx.mov",
            Some("dnxhr-hqx"),
            "dnxhd",
            "DNXHR HQX",
            "yuv422p10le",
        ),
        ("review.mp4", None, "h264", "High", "yuv420p"),
        ("edit.mxf", None, "dnxhd", "DNXHR HQ", "yuv422p"),
        (
            "edit10.mxf",
            Some("dnxhr-hqx"),
            "dnxhd",
            "DNXHR HQX",
            "yuv422p10le",
        ),
    ];
    for (name, codec, want_codec, want_profile, want_pix) in cases {
        let out = dir.join("out").join(name).display().to_string();
        let mut args = vec!["-i", &input, "-o", &out, "--set", &m];
        if let Some(c) = codec {
            args.extend(["--codec", c]);
        }
        let start = std::time::Instant::now();
        render_ok(&args);
        eprintln!("{name}: {:.2} s", start.elapsed().as_secs_f64());
        let p = probe(Path::new(&out));
        assert_eq!(
            (p.codec.as_str(), p.profile.as_str(), p.pix_fmt.as_str()),
            (want_codec, want_profile, want_pix),
            "{name}"
        );
        assert_eq!((p.frames, p.rate.as_str()), (10, "25/1"), "{name}");
    }
    // No partial file is left beside the movies.
    assert_eq!(
        names_in(&dir.join("out")),
        [
            "alpha.mov",
            "dnx.mov",
            "edit.mxf",
            "edit10.mxf",
            "hq.mov",
            "review.mp4"
        ]
    );

    // --frames picks frames of the movie (time N is frame N from 0).
    let part = dir.join("part.mov").display().to_string();
    render_ok(&["-i", &input, "-o", &part, "--frames", "2..5", "--set", &m]);
    assert_eq!(probe(Path::new(&part)).frames, 4);

    // From a PNG sequence: --fps, else 24.
    let frames = decode_to_pngs(&clip, &dir.join("decoded"), "rgba");
    for (fps, want) in [
        (Some("30000/1001"), "30000/1001"),
        (Some("23.976"), "24000/1001"),
        (None, "24/1"),
    ] {
        let out = dir.join(format!("seq{}.mp4", want.replace('/', "_")));
        let o = out.display().to_string();
        let mut args = vec!["-i", &frames, "-o", &o, "--set", &m];
        if let Some(f) = fps {
            args.extend(["--fps", f]);
        }
        render_ok(&args);
        let p = probe(&out);
        assert_eq!((p.frames, p.rate.as_str()), (10, want), "--fps {fps:?}");
    }
}

#[test]
fn a_prores_output_decodes_back_to_the_frames_in_order() {
    let dir = scratch("movies_prores_round_trip");
    let clip = h264_clip(&dir);
    let input = clip.display().to_string();
    let m = conv1x1();
    let pngs = dir.join("pngs");
    let movie = dir.join("out.mov");
    render_ok(&[
        "-i",
        &input,
        "-o",
        &format!("{}/%04d.png", pngs.display()),
        "--set",
        &m,
    ]);
    render_ok(&[
        "-i",
        &input,
        "-o",
        &movie.display().to_string(),
        "--set",
        &m,
    ]);
    let back = dir.join("back");
    decode_to_pngs(&movie, &back, "rgba");
    for k in 0..10 {
        let got = read_image(&frame_png(&back, k));
        let want = read_image(&frame_png(&pngs, k));
        let p = psnr_rgb(&got, &want);
        eprintln!("frame {k}: {p:.1} dB");
        assert!(
            p >= 40.0,
            "frame {k} of the ProRes movie: {p:.1} dB against the PNG render"
        );
        // The right frame in the right place: closer to its own PNG than to its neighbours'.
        for n in [k - 1, k + 1].into_iter().filter(|n| (0..10).contains(n)) {
            let other = psnr_rgb(&got, &read_image(&frame_png(&pngs, n)));
            assert!(
                p > other + 3.0,
                "frame {k}: {p:.1} dB, but {other:.1} dB against frame {n}"
            );
        }
    }
}

#[test]
fn extend_shot_head_frames_come_first_in_a_movie() {
    let dir = scratch("movies_extend_shot");
    let clip = h264_clip(&dir);
    let input = clip.display().to_string();
    let sets = ["--set", "mode=extend", "--set", "head=2", "--set", "tail=1"];
    let pngs = dir.join("pngs");
    let movie = dir.join("out.mov");
    for out in [
        format!("{}/%04d.png", pngs.display()),
        movie.display().to_string(),
    ] {
        let mut args = vec!["-i", input.as_str(), "-o", &out];
        args.extend(sets);
        render_effect_ok("org.pixelspace.ExtendShot", &args);
    }
    // Without --frames: the effect's frame range, two frames before 0 and one after 9.
    assert_eq!(names_in(&pngs), names_of(-2..=10));
    let p = probe(&movie);
    assert_eq!((p.frames, p.rate.as_str()), (13, "25/1"));
    let back = dir.join("back");
    decode_to_pngs(&movie, &back, "rgba");
    // Movie frame i is time i - 2: close to it, and closer than to the times beside it.
    for i in 0..13 {
        let got = read_image(&frame_png(&back, i));
        let at = |t: i32| psnr_rgb(&got, &read_image(&frame_png(&pngs, t)));
        let p = at(i - 2);
        eprintln!("movie frame {i}: {p:.1} dB against time {}", i - 2);
        assert!(
            p >= 35.0,
            "movie frame {i} against time {}: {p:.1} dB",
            i - 2
        );
        for t in [i - 3, i - 1].into_iter().filter(|t| (-2..=10).contains(t)) {
            let other = at(t);
            assert!(
                p > other + 3.0,
                "movie frame {i}: {p:.1} dB against time {}, but {other:.1} dB against time {t}",
                i - 2
            );
        }
    }
}

/// Asserts a failed render: non-zero exit (no signal), stderr mentioning each needle
/// (case-insensitive), and nothing at all in `out` (no partial files either).
fn assert_fails_cleanly(out: &std::process::Output, written: &Path, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "did not fail cleanly ({}):\n{stderr}",
        out.status
    );
    for needle in needles {
        assert!(
            stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr does not mention {needle:?}:\n{stderr}"
        );
    }
    let files = files_in(written);
    assert!(files.is_empty(), "files written on failure: {files:?}");
}

#[test]
fn missing_corrupt_and_truncated_movies_fail_cleanly() {
    let dir = scratch("movies_bad_input");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let movie_out = out_dir.join("out.mov").display().to_string();
    let png_out = format!("{}/%04d.png", out_dir.display());
    let m = conv1x1();

    let missing = dir.join("no_such_clip.mp4").display().to_string();
    let out = render(INFERENCE, &["-i", &missing, "-o", &png_out, "--set", &m]);
    assert_fails_cleanly(&out, &out_dir, &["no_such_clip.mp4", "not found"]);

    let corrupt = dir.join("corrupt.mov");
    let bytes = pseudo_random_bytes(0x9e37_79b9_7f4a_7c15, 65536);
    std::fs::write(&corrupt, &bytes).unwrap();
    let c = corrupt.display().to_string();
    let out = render(INFERENCE, &["-i", &c, "-o", &movie_out, "--set", &m]);
    assert_fails_cleanly(
        &out,
        &out_dir,
        &["corrupt.mov", "not a movie ffmpeg can read"],
    );

    // The index up front (faststart) says 10 frames, but the data stops part way: some frames
    // reach the encoder before the render fails; the movie is not left behind.
    let whole = make_clip(
        &dir,
        "whole.mp4",
        &[
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
    );
    let data = std::fs::read(&whole).unwrap();
    let truncated = dir.join("truncated.mp4");
    std::fs::write(&truncated, &data[..data.len() * 6 / 10]).unwrap();
    let t = truncated.display().to_string();
    let out = render(INFERENCE, &["-i", &t, "-o", &movie_out, "--set", &m]);
    assert_fails_cleanly(&out, &out_dir, &["truncated.mp4", "could not be decoded"]);

    // A codec the container does not take.
    let w = whole.display().to_string();
    let mp4 = out_dir.join("out.mp4").display().to_string();
    let out = render(
        INFERENCE,
        &["-i", &w, "-o", &mp4, "--codec", "prores", "--set", &m],
    );
    assert_fails_cleanly(&out, &out_dir, &["--codec prores", ".mp4"]);
}

#[test]
fn without_ffmpeg_on_path_the_error_says_how_to_install_it() {
    let dir = scratch("movies_no_ffmpeg");
    let clip = h264_clip(&dir);
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(pixelspace())
        .args(["render", INFERENCE, "-i"])
        .arg(&clip)
        .arg("-o")
        .arg(out_dir.join("out.mp4"))
        .args(["--set", &conv1x1(), "--plugin-path"])
        .arg(plugin_dir())
        .env("PATH", &empty)
        .env_remove("PIXELSPACE_ORT_LIB")
        .output()
        .expect("run pixelspace");
    assert_fails_cleanly(
        &out,
        &out_dir,
        &["not found on PATH", "apt-get install ffmpeg"],
    );
}

/// Writes an 8-bit PNG with `channels` samples per pixel (1 grey, 3 RGB, 4 RGBA), rows top-down.
fn write_png8(
    path: &Path,
    width: usize,
    height: usize,
    channels: usize,
    pixel: impl Fn(usize, usize) -> Vec<u8>,
) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    });
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    let mut bytes = Vec::with_capacity(width * height * channels);
    for row in 0..height {
        for x in 0..width {
            let p = pixel(x, row);
            assert_eq!(p.len(), channels);
            bytes.extend(p);
        }
    }
    writer.write_image_data(&bytes).unwrap();
}

/// A model that copies the Mask clip's alpha into R, G and B (made with python3 and onnx), with
/// its manifest.
fn mask_alpha_model(dir: &Path) -> PathBuf {
    let onnx = dir.join("mask_alpha.onnx");
    let script = r#"
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
w = numpy_helper.from_array(np.ones((3, 1, 1, 1), np.float32), "w")
b = numpy_helper.from_array(np.zeros(3, np.float32), "b")
node = helper.make_node("Conv", ["matte", "w", "b"], ["output"], kernel_shape=[1, 1])
graph = helper.make_graph(
    [node], "mask_alpha",
    [helper.make_tensor_value_info("matte", TensorProto.FLOAT, ["N", 1, "H", "W"])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, "H", "W"])],
    initializer=[w, b])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&onnx)
        .output()
        .expect("run python3 (needs onnx and numpy)");
    assert!(
        out.status.success(),
        "making the mask model failed (python3 -m pip install onnx numpy):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(std::fs::read(&onnx).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = std::fs::read_to_string(model("conv1x1").with_extension("json")).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["name"] = "mask_alpha".into();
    manifest["description"] = "the Mask clip's alpha as grey (test model)".into();
    manifest["model"] = "mask_alpha.onnx".into();
    manifest["sha256"] = sha.into();
    manifest["inputs"][0]["name"] = "matte".into();
    manifest["inputs"][0]["clip"] = "Mask".into();
    manifest["inputs"][0]["channels"] = "alpha".into();
    std::fs::write(
        onnx.with_extension("json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    onnx
}

#[test]
fn a_matte_without_alpha_is_read_by_its_luminance() {
    let dir = scratch("movies_luminance_matte");
    let model = format!("model={}", mask_alpha_model(&dir).display());
    let (w, h) = (64usize, 48usize);
    let source = dir.join("source").join("0001.png");
    write_png8(&source, w, h, 3, |x, y| {
        vec![(x * 3) as u8, (y * 5) as u8, 90]
    });
    let src = format!("{}/%04d.png", dir.join("source").display());
    // Patches of colour across the matte: what each reads as, Rec. 709 luma on the 8-bit values.
    let colours: [[u8; 3]; 8] = [
        [0, 0, 0],
        [255, 255, 255],
        [128, 128, 128],
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [200, 100, 50],
        [17, 230, 140],
    ];
    let patch = |x: usize| colours[x * colours.len() / w];
    let luma =
        |c: [u8; 3]| (0.2126 * c[0] as f64 + 0.7152 * c[1] as f64 + 0.0722 * c[2] as f64) / 255.0;
    let cases: [(&str, usize); 3] = [("rgb", 3), ("grey", 1), ("rgba", 4)];
    for (name, channels) in cases {
        let matte = dir.join(name).join("0001.png");
        write_png8(&matte, w, h, channels, |x, _| {
            let c = patch(x);
            match channels {
                1 => vec![c[0]],
                3 => c.to_vec(),
                // With alpha: white, and the alpha is what counts.
                _ => vec![255, 255, 255, c[0]],
            }
        });
        let mask = format!("Mask={}/%04d.png", dir.join(name).display());
        let out = dir.join(format!("out_{name}"));
        let o = format!("{}/%04d.png", out.display());
        render_ok(&[
            "-i", &src, "--clip", &mask, "-o", &o, "--frames", "1..1", "--set", &model,
        ]);
        let got = read_image(&frame_png(&out, 1));
        for x in 0..w {
            let c = patch(x);
            let want = match channels {
                1 => c[0] as f64 / 255.0,
                3 => luma(c),
                _ => c[0] as f64 / 255.0,
            };
            for y in [0, h / 2, h - 1] {
                let p = got.pixel(x, y);
                for (ch, v) in p[..3].iter().enumerate() {
                    assert!(
                        (*v as f64 - want).abs() <= 0.5 / 255.0 + 1e-6,
                        "{name} matte, pixel ({x}, {y}) channel {ch}: {v} but the matte reads as {want}"
                    );
                }
            }
        }
    }
}

#[test]
fn clean_plate_takes_a_black_and_white_matte() {
    let dir = scratch("movies_clean_plate_matte");
    let clip = h264_clip(&dir);
    let frames = decode_to_pngs(&clip, &dir.join("shot"), "rgb24");
    // White where the object is (a 40x30 box), black elsewhere: RGB, no alpha.
    let (x0, y0, bw, bh) = (100usize, 80usize, 40usize, 30usize);
    let inside = |x: usize, row: usize| (x0..x0 + bw).contains(&x) && (y0..y0 + bh).contains(&row);
    for k in 0..10 {
        write_png8(&frame_png(&dir.join("matte"), k), W, H, 3, |x, row| {
            if inside(x, row) {
                vec![255; 3]
            } else {
                vec![0; 3]
            }
        });
    }
    let mask = format!("Mask={}/%04d.png", dir.join("matte").display());
    let out = dir.join("out");
    let o = format!("{}/%04d.png", out.display());
    render_effect_ok(
        "org.pixelspace.CleanPlate",
        &[
            "-i",
            &frames,
            "--clip",
            &mask,
            "-o",
            &o,
            "--frames",
            "3..3",
            "--set",
            "method=inpaint",
            "--set",
            "dilate=0",
            "--set",
            "output=comp",
        ],
    );
    let got = read_image(&frame_png(&out, 3));
    let src = read_image(&frame_png(&dir.join("shot"), 3));
    let (mut changed_inside, mut changed_outside) = (0, 0);
    for row in 0..H {
        let y = H - 1 - row; // images are held bottom-up
        for x in 0..W {
            let differs = got.pixel(x, y)[..3] != src.pixel(x, y)[..3];
            if inside(x, row) {
                changed_inside += differs as usize;
            } else {
                changed_outside += differs as usize;
            }
        }
    }
    assert_eq!(changed_outside, 0, "pixels outside the matte changed");
    assert!(
        changed_inside > bw * bh * 9 / 10,
        "only {changed_inside} of {} pixels under the matte changed",
        bw * bh
    );
}
