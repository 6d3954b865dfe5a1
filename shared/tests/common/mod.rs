//! Test support: where the ONNX Runtime library and the generated test models are.
//!
//! Tests that need them fail (never skip) with a message saying how to provide them.
#![allow(dead_code)]

use std::path::PathBuf;

use pixelspace_shared::runtime::{self, RuntimeInfo};

/// `PIXELSPACE_ORT_LIB`, else the user cache path the installer uses.
pub fn ort_library() -> PathBuf {
    if let Some(p) = std::env::var_os("PIXELSPACE_ORT_LIB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = match std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache"),
    };
    cache.join("pixelspace/runtime/1.32.0/libonnxruntime.so.1.32.0")
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
