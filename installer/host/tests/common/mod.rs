//! Test support: compiles OpenFX plugins into bundles in a temp plugin
//! directory, and a synthetic frame source with known pixels.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use pixelspace_host::{FrameSource, HostImage};

/// Compile `sources` into `<dir>/<name>.ofx.bundle/Contents/Linux-x86-64/<name>.ofx`
/// (once per process) and return the plugin directory holding only that bundle.
pub fn bundle(name: &str, sources: &[PathBuf]) -> PathBuf {
    bundle_with(name, sources, &[])
}

/// As [`bundle`], passing `flags` (such as `-DNAME`) to the compiler.
pub fn bundle_with(name: &str, sources: &[PathBuf], flags: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dir)) = built.iter().find(|(n, _)| n == name) {
        return dir.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ofx-{}-{}", std::process::id(), name))
        .join("plugins");
    let bin_dir = dir
        .join(format!("{name}.ofx.bundle"))
        .join("Contents")
        .join("Linux-x86-64");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let out = bin_dir.join(format!("{name}.ofx"));
    let include = pixelspace_host::openfx_source_dir().join("include");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let status = Command::new(&cxx)
        .args(["-shared", "-fPIC", "-std=gnu++11", "-O2", "-w", "-pthread"])
        .args(flags)
        .arg("-I")
        .arg(&include)
        .args(sources)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("could not run {cxx}: {e}"));
    assert!(status.success(), "compiling {name} failed");
    built.push((name.to_string(), dir.clone()));
    dir
}

/// The OpenFX example plugin `Examples/Invert` (byte only, filter context).
pub fn invert_plugin_dir() -> PathBuf {
    let src = pixelspace_host::openfx_source_dir().join("Examples/Invert/invert.cpp");
    bundle("invert", &[src])
}

/// Our own test effect `org.pixelspace.test.Gain` (tests/fixtures/testfx.cpp).
pub fn test_plugin_dir() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/testfx.cpp");
    bundle("testfx", &[src])
}

/// The test effect built without its filter context (general only), same id.
pub fn general_only_plugin_dir() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/testfx.cpp");
    bundle_with("testfx-general", &[src], &["-DTESTFX_GENERAL_ONLY"])
}

/// Frames whose pixels depend on x, y and the frame number (no symmetry,
/// so flipped rows or shifted frames show up).
pub struct Gradient {
    pub width: u32,
    pub height: u32,
    pub first: i32,
    pub last: i32,
}

impl Gradient {
    pub fn value(&self, x: u32, y: u32, frame: i32) -> [f32; 4] {
        [
            (x as f32 + 0.5) / self.width as f32,
            (y as f32 + 0.5) / self.height as f32,
            ((x + 2 * y) % 7) as f32 / 7.0 * 0.5 + frame as f32 * 0.05,
            1.0 - (x as f32) / (2.0 * self.width as f32),
        ]
    }
}

impl FrameSource for Gradient {
    fn frame_range(&self) -> (i32, i32) {
        (self.first, self.last)
    }
    fn rod(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    fn read(&self, frame: i32) -> Result<HostImage, String> {
        if frame < self.first || frame > self.last {
            return Err(format!("frame {frame} out of range"));
        }
        let mut data = Vec::with_capacity((self.width * self.height * 4) as usize);
        for y in 0..self.height {
            for x in 0..self.width {
                data.extend_from_slice(&self.value(x, y, frame));
            }
        }
        Ok(HostImage {
            width: self.width,
            height: self.height,
            data,
        })
    }
}

pub fn gradient() -> Arc<Gradient> {
    Arc::new(Gradient {
        width: 37,
        height: 23,
        first: 0,
        last: 5,
    })
}

/// Render `frames` and collect the results sorted by frame.
pub fn render(
    inst: &mut pixelspace_host::Instance,
    frames: &[i32],
    opts: &pixelspace_host::RenderOptions,
) -> Result<Vec<(i32, HostImage)>, pixelspace_host::HostError> {
    let out = Mutex::new(Vec::new());
    inst.render_frames(frames, opts, &|f, img| {
        out.lock().unwrap().push((f, img));
        Ok(())
    })?;
    let mut v = out.into_inner().unwrap();
    v.sort_by_key(|(f, _)| *f);
    Ok(v)
}

pub fn quantize(v: f32, levels: f32) -> f32 {
    (v.clamp(0.0, 1.0) * levels).round() / levels
}
