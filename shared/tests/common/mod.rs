//! Test support: where the ONNX Runtime library and the generated test models are.
//!
//! Tests that need them fail (never skip) with a message saying how to provide them.
#![allow(dead_code)]

use std::path::PathBuf;

use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::FloatImage;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::policy::LicencePolicy;
use pixelspace_shared::runtime::{self, Provider, RuntimeInfo};

/// `PIXELSPACE_ORT_LIB`, else the user cache path the installer uses.
pub fn ort_library() -> PathBuf {
    if let Some(p) = std::env::var_os("PIXELSPACE_ORT_LIB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache"),
    };
    cache.join("pixelspace/runtime/onnxruntime-1.32.0/libonnxruntime.so.1.32.0")
}

/// Loads ONNX Runtime for the test process, or fails the test with instructions.
pub fn init_runtime() -> RuntimeInfo {
    let lib = ort_library();
    assert!(
        lib.is_file(),
        "ONNX Runtime library not found at {} (set PIXELSPACE_ORT_LIB). Get it with: \
         python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
         --platform manylinux_2_28_x86_64 onnxruntime==1.32.0 -d DIR, then unzip \
         onnxruntime/capi/libonnxruntime.so.1.32.0 from the wheel",
        lib.display()
    );
    runtime::init(&lib).unwrap_or_else(|e| panic!("{e}"))
}

/// The generated test models: `$PIXELSPACE_TEST_DATA/models`, else
/// `<workspace>/target/test-data/models` (as `tests/setup` writes them).
pub fn test_data() -> PathBuf {
    let root = match std::env::var_os("PIXELSPACE_TEST_DATA").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-data"),
    };
    let dir = root.join("models");
    assert!(
        dir.join("conv1x1.onnx").is_file(),
        "test models not found in {} (set PIXELSPACE_TEST_DATA to the folder holding models/). \
         Generate them with: python3 -m pip install onnx numpy && python3 tests/data/make_models.py {}",
        dir.display(),
        dir.display()
    );
    dir
}

/// A model file in the test data folder.
pub fn model(name: &str) -> PathBuf {
    test_data().join(format!("{name}.onnx"))
}

/// Weights side file: (3x3 or 1x3 matrix rows, bias).
pub fn weights(name: &str) -> (Vec<Vec<f32>>, Vec<f32>) {
    let path = test_data().join(format!("{name}.weights.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let w = v["weight"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let b = v["bias"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    (w, b)
}

/// A fresh empty folder under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pixelspace-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic pseudo-random numbers in [0, 1) (xorshift), no extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a python script of the repository (needs `onnx` and `numpy`), failing the test with
/// its output when it does not succeed.
pub fn run_python(args: &[&str]) {
    let out = std::process::Command::new("python3")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install python3 with onnx and numpy")
        });
    assert!(
        out.status.success(),
        "python3 {} failed (needs: python3 -m pip install onnx numpy):\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The tiny stand-ins for the converted models (tests/data/tiny_rife.py and tiny_faces.py),
/// generated once per test process into a temporary folder.
pub fn tiny_models() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("tiny-models");
        let d = dir.to_str().unwrap();
        run_python(&["tests/data/tiny_rife.py", d]);
        run_python(&["tests/data/tiny_faces.py", d]);
        dir
    })
    .clone()
}

/// The manifests the real converters in models/convert write, produced by their own manifest
/// code (no weights needed; the sha256 is a placeholder), generated once per test process.
/// Returns (folder, manifest file names).
pub fn converter_manifests() -> (PathBuf, Vec<String>) {
    static DIR: std::sync::OnceLock<(PathBuf, Vec<String>)> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("converter-manifests");
        let script = r#"
import json, os, sys
sys.path.insert(0, "models/convert")
import centerface, mediapipe, rife
out = sys.argv[1]
sha = "0" * 64
manifests = {"rife": rife.manifest(sha, rife.PARITY), "centerface": centerface.manifest(sha, None)}
for key in mediapipe.MODELS:
    manifests[key] = mediapipe.build_manifest(key, sha)
    manifests[key + "_with_parity"] = mediapipe.build_manifest(key, mediapipe.PARITY[key]["sha256"])
for name, m in manifests.items():
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(m, f, indent=2)
print("\n".join(sorted(manifests)))
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", script, dir.to_str().unwrap()])
            .current_dir(repo_root())
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "writing the converters' manifests failed (needs onnx and numpy):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let names = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| format!("{}.json", l.trim()))
            .collect();
        (dir, names)
    })
    .clone()
}

/// The folder of real models, `$PIXELSPACE_MODELS_DIR` (a subfolder per model holding its
/// `.onnx` and `.json` manifest). Fails the test with instructions when it is not set.
pub fn real_models_dir() -> PathBuf {
    let how = "Make them with `pixelspace models fetch --defaults`, or with the converters in \
               models/convert (see models/convert/README.md)";
    let dir = std::env::var_os("PIXELSPACE_MODELS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("PIXELSPACE_MODELS_DIR is not set: set it to the folder with the real models (a subfolder per model with NAME.onnx and NAME.json). {how}")
        });
    assert!(
        dir.is_dir(),
        "PIXELSPACE_MODELS_DIR {} is not a folder. {how}",
        dir.display()
    );
    dir
}

/// A real model by file stem (`face_detector`, `rife_motion`, …) in a subfolder of the models
/// folder: the model library names subfolders after the manifest's `name`
/// (`face-detector-short-range/face_detector.onnx`); `STEM/STEM.onnx` works too.
pub fn real_model_path(stem: &str) -> PathBuf {
    let dir = real_models_dir();
    let file = format!("{stem}.onnx");
    let mut candidates = vec![dir.join(stem).join(&file)];
    let mut subs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    subs.sort();
    candidates.extend(subs.into_iter().map(|s| s.join(&file)));
    candidates
        .into_iter()
        .find(|p| p.is_file() && p.with_extension("json").is_file())
        .unwrap_or_else(|| {
            panic!(
                "real model {file} (with its .json manifest) not found in any subfolder of {}. Make it \
                 with `pixelspace models fetch --defaults` or models/convert (see models/convert/README.md)",
                dir.display()
            )
        })
}

/// Runs a python3 `script` that prints "HEIGHT WIDTH\n" and then the RGB bytes of a picture
/// (rows from the top), with `arg` as its argument: (width, height, bytes). `what` names the
/// picture and `needs` the packages, for the messages.
fn python_rgb(script: &str, arg: &str, what: &str, needs: &str) -> (usize, usize, Vec<u8>) {
    let out = std::process::Command::new("python3")
        .args(["-c", script, arg])
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {what} needs python3 with {needs}"));
    assert!(
        out.status.success(),
        "reading {what} failed (python3 -m pip install {needs}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nl = out.stdout.iter().position(|&b| b == b'\n').unwrap();
    let head = String::from_utf8_lossy(&out.stdout[..nl]).to_string();
    let mut it = head.split_whitespace().map(|v| v.parse::<usize>().unwrap());
    let (h, w) = (it.next().unwrap(), it.next().unwrap());
    let bytes = out.stdout[nl + 1..].to_vec();
    assert_eq!(bytes.len(), w * h * 3);
    (w, h, bytes)
}

/// A scikit-image photo as (width, height, RGB bytes, rows from the top).
pub fn skimage_photo(name: &str) -> (usize, usize, Vec<u8>) {
    let script = "import sys\nfrom skimage import data\na = getattr(data, sys.argv[1])()[:, :, :3]\n\
                  sys.stdout.write('%d %d\\n' % a.shape[:2]); sys.stdout.flush()\n\
                  sys.stdout.buffer.write(a.astype('uint8').tobytes())";
    python_rgb(
        script,
        name,
        &format!("scikit-image's '{name}' photo"),
        "scikit-image",
    )
}

/// A PNG read by python3 (Pillow) as RGB bytes, rows top-down: (width, height, bytes).
pub fn png_rgb(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let script = "import sys\nfrom PIL import Image\nimport numpy as np\n\
                  a = np.asarray(Image.open(sys.argv[1]).convert('RGB'))\n\
                  sys.stdout.write('%d %d\\n' % a.shape[:2]); sys.stdout.flush()\n\
                  sys.stdout.buffer.write(a.astype('uint8').tobytes())";
    let path = path.to_string_lossy();
    python_rgb(script, &path, &path, "pillow numpy")
}

/// RGB bytes (rows from the top) as an opaque image with rows from the bottom, as a host
/// hands frames over.
fn rgb_image(w: usize, h: usize, bytes: &[u8]) -> FloatImage {
    let (w, h) = (w as i32, h as i32);
    FloatImage::from_fn(Rect::new(0, 0, w, h), |x, y| {
        let i = (((h - 1 - y) * w + x) * 3) as usize;
        [
            bytes[i] as f32 / 255.0,
            bytes[i + 1] as f32 / 255.0,
            bytes[i + 2] as f32 / 255.0,
            1.0,
        ]
    })
}

/// Frame `t` of a real footage clip (`$PIXELSPACE_TEST_FOOTAGE/video/CLIP/NNNNN.png`, fetched
/// by `../shared/footage/get.sh`), rows bottom-up like a host's; `None` without the footage
/// outside CI (under CI its absence fails the test).
pub fn footage_frame(clip: &str, t: i32) -> Option<FloatImage> {
    let Some(dir) = std::env::var_os("PIXELSPACE_TEST_FOOTAGE") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PIXELSPACE_TEST_FOOTAGE is not set under CI: tests/setup fetches the footage"
        );
        eprintln!("PIXELSPACE_TEST_FOOTAGE is not set: no real footage, nothing tested");
        return None;
    };
    let path = PathBuf::from(dir)
        .join("video")
        .join(clip)
        .join(format!("{t:05}.png"));
    assert!(path.is_file(), "{} is missing", path.display());
    let (w, h, bytes) = png_rgb(&path);
    Some(rgb_image(w, h, &bytes))
}

/// A real model from `$PIXELSPACE_MODELS_DIR` as a pipeline, every licence allowed.
pub fn real(stem: &str) -> InferencePipeline {
    init_runtime();
    let path = real_model_path(stem);
    let m = Manifest::for_model(&path).unwrap_or_else(|e| panic!("{e}"));
    InferencePipeline::new_with_policy(m, path, Provider::Cpu, &LicencePolicy::allow_all())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A scikit-image photo as a frame (RGBA, sRGB-encoded, y up, bounds from the origin).
pub fn photo(name: &str) -> FloatImage {
    let (w, h, bytes) = skimage_photo(name);
    rgb_image(w, h, &bytes)
}
