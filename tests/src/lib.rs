//! Helpers shared by the end-to-end tests: where the test data, bundle and `pixelspace` binary are,
//! running `pixelspace render`, reading and writing test images, and the reference arithmetic that
//! expected pixels are computed with (independently of the plugin and ONNX Runtime).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Generated models and photos: env `PIXELSPACE_TEST_DATA`, else `target/test-data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("PIXELSPACE_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("test-data"))
}

/// A generated test model (`NAME.onnx`).
pub fn model(name: &str) -> PathBuf {
    data_dir().join("models").join(format!("{name}.onnx"))
}

/// A generated photo sequence pattern (`NAME/%04d.png`).
pub fn photo_pattern(name: &str) -> String {
    format!(
        "{}/%04d.png",
        data_dir().join("photos").join(name).display()
    )
}

/// The installed bundle: env `PIXELSPACE_TEST_BUNDLE`, else `target/ofx-test/Pixelspace.ofx.bundle`.
pub fn bundle() -> PathBuf {
    std::env::var_os("PIXELSPACE_TEST_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root()
                .join("target")
                .join("ofx-test")
                .join("Pixelspace.ofx.bundle")
        })
}

/// The plugin folder holding the bundle (what `--plugin-path` takes).
pub fn plugin_dir() -> PathBuf {
    bundle()
        .parent()
        .expect("the bundle is in a folder")
        .to_path_buf()
}

/// The `pixelspace` binary of the same build as this test (target/<profile>/deps/test-… -> target/<profile>).
pub fn pixelspace() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let mut dir = exe.parent().expect("test executable folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("pixelspace");
    assert!(
        bin.is_file(),
        "{} not found: build the workspace first (tests/run does)",
        bin.display()
    );
    bin
}

/// A fresh, empty scratch folder for one test, in the cargo target folder of this build.
pub fn scratch(name: &str) -> PathBuf {
    let target = pixelspace()
        .parent()
        .and_then(|p| p.parent())
        .expect("target folder")
        .to_path_buf();
    let dir = target.join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch folder");
    dir
}

/// Runs `pixelspace render EFFECT ARGS… --plugin-path <test plugin folder>` (unless args name one).
pub fn render(effect: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(pixelspace());
    cmd.arg("render").arg(effect).args(args);
    if !args.contains(&"--plugin-path") {
        cmd.arg("--plugin-path").arg(plugin_dir());
    }
    cmd.env_remove("PIXELSPACE_ORT_LIB");
    cmd.output().expect("run pixelspace")
}

/// Runs `pixelspace render` for the Inference effect and asserts it succeeded.
pub fn render_ok(args: &[&str]) -> Output {
    let out = render(INFERENCE, args);
    assert!(
        out.status.success(),
        "pixelspace render {:?} failed ({}):\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The generic model effect.
pub const INFERENCE: &str = "org.pixelspace.Inference";

/// An RGBA float image, rows bottom-up (the host's order).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn pixel(&self, x: usize, y: usize) -> [f32; 4] {
        let i = (y * self.width + x) * 4;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }
}

/// Reads a PNG (8 or 16 bit, gray/RGB/RGBA) or an RGBA EXR.
pub fn read_image(path: &Path) -> Image {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => read_png(path).0,
        Some("exr") => read_exr(path),
        _ => panic!("unknown image type {}", path.display()),
    }
}

/// Reads a PNG and tells its bit depth (8 or 16).
pub fn read_png(path: &Path) -> (Image, u8) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0u8; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let (w, h) = (info.width as usize, info.height as usize);
    let ch = info.color_type.samples();
    let sixteen = info.bit_depth == png::BitDepth::Sixteen;
    let mut data = vec![0f32; w * h * 4];
    for row in 0..h {
        let src = &buf[row * info.line_size..];
        let y = h - 1 - row;
        for x in 0..w {
            let mut v = [0f32; 4];
            for (c, slot) in v.iter_mut().enumerate().take(ch) {
                let i = x * ch + c;
                *slot = if sixteen {
                    u16::from_be_bytes([src[2 * i], src[2 * i + 1]]) as f32 / 65535.0
                } else {
                    src[i] as f32 / 255.0
                };
            }
            let px = match ch {
                1 => [v[0], v[0], v[0], 1.0],
                2 => [v[0], v[0], v[0], v[1]],
                3 => [v[0], v[1], v[2], 1.0],
                _ => v,
            };
            data[(y * w + x) * 4..][..4].copy_from_slice(&px);
        }
    }
    (
        Image {
            width: w,
            height: h,
            data,
        },
        if sixteen { 16 } else { 8 },
    )
}

fn read_exr(path: &Path) -> Image {
    use exr::prelude::*;
    let image = read_first_rgba_layer_from_file(
        path,
        |res, _| {
            (
                res.width(),
                res.height(),
                vec![0f32; res.width() * res.height() * 4],
            )
        },
        |(w, h, d), pos, (r, g, b, a): (f32, f32, f32, f32)| {
            let o = ((*h - 1 - pos.y()) * *w + pos.x()) * 4;
            d[o..o + 4].copy_from_slice(&[r, g, b, a]);
        },
    )
    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let (width, height, data) = image.layer_data.channel_data.pixels;
    crate::Image {
        width,
        height,
        data,
    }
}

/// Writes an RGBA float EXR (rows bottom-up in `image`).
pub fn write_exr(path: &Path, image: &Image) {
    let (w, h) = (image.width, image.height);
    exr::prelude::write_rgba_file(path, w, h, |x, row| {
        let p = image.pixel(x, h - 1 - row);
        (p[0], p[1], p[2], p[3])
    })
    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Writes a 16-bit RGBA PNG, values rounded from [0,1].
pub fn write_png16(path: &Path, image: &Image) {
    let file = std::fs::File::create(path).expect("create png");
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(file),
        image.width as u32,
        image.height as u32,
    );
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Sixteen);
    let mut writer = enc.write_header().expect("png header");
    let mut bytes = Vec::with_capacity(image.data.len() * 2);
    for row in 0..image.height {
        let y = image.height - 1 - row;
        for &v in &image.data[y * image.width * 4..(y + 1) * image.width * 4] {
            bytes.extend_from_slice(&((v.clamp(0.0, 1.0) * 65535.0).round() as u16).to_be_bytes());
        }
    }
    writer.write_image_data(&bytes).expect("png data");
}

/// Exact IEC 61966-2-1 decode, extended (power segment above 1, mirrored below 0).
pub fn srgb_to_linear(v: f64) -> f64 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    l.copysign(v)
}

/// Exact IEC 61966-2-1 encode, extended (power segment above 1, mirrored below 0).
pub fn linear_to_srgb(v: f64) -> f64 {
    let a = v.abs();
    let s = if a <= 0.0031308 {
        a * 12.92
    } else {
        1.055 * a.powf(1.0 / 2.4) - 0.055
    };
    s.copysign(v)
}

/// A 1x1 convolution read from a generated `NAME.weights.json`: out = W · in + b.
#[derive(Clone, Debug)]
pub struct Conv1x1 {
    pub weight: Vec<Vec<f64>>,
    pub bias: Vec<f64>,
}

impl Conv1x1 {
    pub fn load(name: &str) -> Conv1x1 {
        let path = data_dir()
            .join("models")
            .join(format!("{name}.weights.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let v: serde_json::Value = serde_json::from_str(&text).expect("weights json");
        let weight = v["weight"]
            .as_array()
            .expect("weight rows")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("weight row")
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let bias = v["bias"]
            .as_array()
            .expect("bias")
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        Conv1x1 { weight, bias }
    }

    pub fn apply(&self, input: [f64; 3]) -> Vec<f64> {
        self.weight
            .iter()
            .zip(&self.bias)
            .map(|(row, b)| row.iter().zip(input).map(|(w, x)| w * x).sum::<f64>() + b)
            .collect()
    }
}

/// The host's box-filter downsample to a render scale, mirrored from its definition: output pixel X
/// covers source [X/s, (X+1)/s) clipped to the image, rows counted from the bottom.
pub fn box_downsample(src: &Image, scale: f64) -> Image {
    let ow = (src.width as f64 * scale - 1e-9).ceil() as usize;
    let oh = (src.height as f64 * scale - 1e-9).ceil() as usize;
    let taps = |len: usize, out: usize| -> Vec<Vec<(usize, f64)>> {
        (0..out)
            .map(|x| {
                let a = x as f64 / scale;
                let b = ((x + 1) as f64 / scale).min(len as f64);
                let (i0, i1) = (a.floor() as usize, (b.ceil() as usize).min(len));
                let ws: Vec<(usize, f64)> = (i0..i1)
                    .map(|i| (i, (b.min(i as f64 + 1.0) - a.max(i as f64)).max(0.0)))
                    .collect();
                let total: f64 = ws.iter().map(|w| w.1).sum();
                ws.into_iter().map(|(i, w)| (i, w / total)).collect()
            })
            .collect()
    };
    let (tx, ty) = (taps(src.width, ow), taps(src.height, oh));
    let mut data = vec![0f32; ow * oh * 4];
    for (y, wy) in ty.iter().enumerate() {
        for (x, wx) in tx.iter().enumerate() {
            let mut acc = [0f64; 4];
            for &(sy, a) in wy {
                for &(sx, b) in wx {
                    let p = src.pixel(sx, sy);
                    for c in 0..4 {
                        acc[c] += a * b * p[c] as f64;
                    }
                }
            }
            for c in 0..4 {
                data[(y * ow + x) * 4 + c] = acc[c] as f32;
            }
        }
    }
    Image {
        width: ow,
        height: oh,
        data,
    }
}

/// Largest absolute difference between expected and actual RGBA data, with where it is.
pub fn max_abs_diff(expected: &[f64], actual: &[f32]) -> (f64, usize) {
    assert_eq!(expected.len(), actual.len(), "image sizes differ");
    expected
        .iter()
        .zip(actual)
        .enumerate()
        .map(|(i, (e, a))| ((e - *a as f64).abs(), i))
        .fold((0.0, 0), |m, d| if d.0 > m.0 { d } else { m })
}

/// Files in a folder (none when it does not exist), sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The folder of real models, `$PIXELSPACE_MODELS_DIR` (a subfolder per model holding its `.onnx`
/// and `.json` manifest, as `pixelspace models fetch --defaults` writes them). Fails the test
/// with instructions when it is not set or missing.
pub fn real_models_dir() -> PathBuf {
    let how = "set PIXELSPACE_MODELS_DIR to a folder with a subfolder per model (NAME.onnx and NAME.json), \
               made by `pixelspace models fetch --defaults` or the converters in models/convert \
               (see models/convert/README.md)";
    let dir = std::env::var_os("PIXELSPACE_MODELS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("the real models are needed: {how}"));
    assert!(
        dir.is_dir(),
        "PIXELSPACE_MODELS_DIR {} is not a folder: {how}",
        dir.display()
    );
    dir
}

/// A real model by its file name without `.onnx` (`rife`, `selfie_segmentation`, …): the file
/// `STEM.onnx` with its manifest `STEM.json` in a subfolder of `$PIXELSPACE_MODELS_DIR` (the
/// model library names subfolders after the manifest's `name`, e.g.
/// `face-detector-short-range/face_detector.onnx`; `STEM/STEM.onnx` works too). Fails the test
/// when it is missing.
pub fn real_model(stem: &str) -> PathBuf {
    let dir = real_models_dir();
    let file = format!("{stem}.onnx");
    let mut candidates = vec![dir.join(stem).join(&file)];
    candidates.extend(files_in(&dir).into_iter().map(|sub| sub.join(&file)));
    candidates
        .into_iter()
        .find(|p| p.is_file() && p.with_extension("json").is_file())
        .unwrap_or_else(|| {
            panic!(
                "real model {file} (and its .json manifest) not found in any subfolder of {}: run \
                 `pixelspace models fetch --defaults` with PIXELSPACE_MODELS_DIR set to it, or the \
                 converter in models/convert",
                dir.display()
            )
        })
}

/// Peak signal-to-noise ratio in dB over the RGB channels of two images with values in 0..1.
pub fn psnr_rgb(a: &Image, b: &Image) -> f64 {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "image sizes differ"
    );
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (p, q) in a.data.chunks_exact(4).zip(b.data.chunks_exact(4)) {
        for c in 0..3 {
            let d = p[c] as f64 - q[c] as f64;
            sum += d * d;
            n += 1;
        }
    }
    let mse = sum / n.max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (1.0 / mse).log10()
    }
}

/// The face test shots of tests/data/make_face_shots.py (`astronaut_move/%04d.png` and
/// `motion.json`), in `face-shots` of the test data folder; made on first use (into a temporary
/// folder renamed into place, so concurrent tests never see half a shot).
pub fn face_shots() -> PathBuf {
    let dir = data_dir().join("face-shots");
    if dir.join("astronaut_move").join("motion.json").is_file() {
        return dir;
    }
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = data_dir().join(format!("face-shots.tmp{}-{serial}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let script = workspace_root().join("tests/data/make_face_shots.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&tmp)
        .output()
        .expect("run python3 (the face shots need python3 with scikit-image)");
    assert!(
        out.status.success(),
        "{} failed (python3 -m pip install scikit-image):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test made them first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(dir.join("astronaut_move").join("motion.json").is_file());
    dir
}

/// Runs `pixelspace render EFFECT ARGS…` and asserts it succeeded.
pub fn render_effect_ok(effect: &str, args: &[&str]) -> Output {
    let out = render(effect, args);
    assert!(
        out.status.success(),
        "pixelspace render {effect} {:?} failed ({}):\n{}",
        args,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The tiny contract models of tests/data/tiny_face_models.py (`NAME.onnx` with `NAME.json`,
/// and `tiny_face_models.json`), in `tiny-face-models-HASH` of the test data folder (HASH from
/// the script, so a changed script makes new models); made on first use like [`face_shots`].
pub fn tiny_face_models() -> PathBuf {
    use sha2::Digest;
    let script = workspace_root().join("tests/data/tiny_face_models.py");
    let text = std::fs::read(&script).expect("read tests/data/tiny_face_models.py");
    let hash: String = sha2::Sha256::digest(&text)[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = data_dir().join(format!("tiny-face-models-{hash}"));
    if dir.join("tiny_face_models.json").is_file() {
        return dir;
    }
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = data_dir().join(format!(
        "tiny-face-models.tmp{}-{serial}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = Command::new("python3")
        .arg(&script)
        .arg(&tmp)
        .output()
        .expect("run python3 (the tiny face models need python3 with onnx and numpy)");
    assert!(
        out.status.success(),
        "{} failed (python3 -m pip install onnx numpy):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(dir.join("tiny_face_models.json").is_file());
    dir
}

/// `n` deterministic pseudo-random bytes (xorshift64 from `seed`): garbage files for bad-input tests.
pub fn pseudo_random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// The folder of real camera footage, `$PIXELSPACE_TEST_FOOTAGE` (made by
/// `../shared/footage/get.sh DIR`, which `tests/setup` runs): `video/<clip>/%05d.png`,
/// `photos/<name>.png` and `MANIFEST.tsv`. None, with a note, where it is not set (the test then
/// does not run); under CI a missing folder fails the test, since CI always has the footage.
pub fn footage_dir() -> Option<PathBuf> {
    match std::env::var_os("PIXELSPACE_TEST_FOOTAGE").filter(|v| !v.is_empty()) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("MANIFEST.tsv").is_file(),
                "PIXELSPACE_TEST_FOOTAGE {} has no MANIFEST.tsv: run ../shared/footage/get.sh on it",
                dir.display()
            );
            Some(dir)
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the real-footage tests: tests/setup fetches the footage with \
                 ../shared/footage/get.sh and sets PIXELSPACE_TEST_FOOTAGE"
            );
            eprintln!(
                "no real footage here (set PIXELSPACE_TEST_FOOTAGE to a folder made by \
                 ../shared/footage/get.sh): this test did not run"
            );
            None
        }
    }
}

/// The frames folder of a real clip (`video/NAME`, frames `%05d.png` from 0), or None where
/// there is no footage (see [`footage_dir`]). Fails the test when the clip is missing.
pub fn footage_clip(name: &str) -> Option<PathBuf> {
    let dir = footage_dir()?.join("video").join(name);
    assert!(
        dir.join("00000.png").is_file(),
        "clip {name} missing from the footage at {}: rerun ../shared/footage/get.sh",
        dir.display()
    );
    Some(dir)
}
