//! Fetches the ONNX Runtime library from its PyPI wheel into the user cache, checking pinned hashes.
//!
//! The wheel is downloaded with pip (`pip download --no-deps --only-binary=:all: ...`), its sha256 is
//! checked against the value pinned here, and the libraries are unzipped from `onnxruntime/capi/`
//! and checked again. Everything is kept in the cache, so later installs do not download again.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};

/// One library inside a wheel: path in the zip, file name in the bundle, pinned sha256.
pub struct RuntimeFile {
    pub zip_path: &'static str,
    pub file_name: &'static str,
    pub sha256: &'static str,
}

/// A pinned ONNX Runtime wheel and the libraries the bundle takes from it.
pub struct RuntimeSpec {
    pub package: &'static str,
    pub version: &'static str,
    pub wheel_file: &'static str,
    pub wheel_sha256: &'static str,
    pub files: &'static [RuntimeFile],
    /// What the user's machine must provide for this runtime to work.
    pub requires: &'static str,
}

impl RuntimeSpec {
    /// The main runtime library (what `ort::init_from` loads).
    pub fn main_library(&self) -> &'static RuntimeFile {
        &self.files[0]
    }
}

/// CPU runtime: onnxruntime 1.32.0 (glibc 2.28, nothing else).
pub const CPU: RuntimeSpec = RuntimeSpec {
    package: "onnxruntime",
    version: "1.32.0",
    wheel_file: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    wheel_sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
    files: &[RuntimeFile {
        zip_path: "onnxruntime/capi/libonnxruntime.so.1.32.0",
        file_name: "libonnxruntime.so.1.32.0",
        sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    }],
    requires: "x86-64 Linux with glibc 2.28 or newer",
};

/// GPU runtime: onnxruntime-gpu 1.31.1 with its CUDA and TensorRT execution providers.
pub const GPU: RuntimeSpec = RuntimeSpec {
    package: "onnxruntime-gpu",
    version: "1.31.1",
    wheel_file: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    wheel_sha256: "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
    files: &[
        RuntimeFile {
            zip_path: "onnxruntime/capi/libonnxruntime.so.1.31.1",
            file_name: "libonnxruntime.so.1.31.1",
            sha256: "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
        },
        RuntimeFile {
            zip_path: "onnxruntime/capi/libonnxruntime_providers_shared.so",
            file_name: "libonnxruntime_providers_shared.so",
            sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
        },
        RuntimeFile {
            zip_path: "onnxruntime/capi/libonnxruntime_providers_cuda.so",
            file_name: "libonnxruntime_providers_cuda.so",
            sha256: "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
        },
        RuntimeFile {
            zip_path: "onnxruntime/capi/libonnxruntime_providers_tensorrt.so",
            file_name: "libonnxruntime_providers_tensorrt.so",
            sha256: "1882ee49fdb0e6fc2d272b00cfaf9a3310bf8580a34385c0eec4d82014ea172e",
        },
    ],
    requires: "an NVIDIA driver with CUDA 13 and cuDNN 9 libraries on the library path \
               (TensorRT 10 for the TensorRT provider); without them the plugin runs on the CPU",
};

/// The cache folder of one runtime spec.
pub fn cache_folder(spec: &RuntimeSpec) -> PathBuf {
    crate::paths::cache_dir()
        .join("runtime")
        .join(format!("{}-{}", spec.package, spec.version))
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn file_matches(path: &Path, sha256: &str) -> bool {
    path.is_file() && sha256_file(path).map(|h| h == sha256).unwrap_or(false)
}

/// Makes sure every library of `spec` is in the cache with its pinned hash and returns their paths
/// (main library first). `wheel` uses an already downloaded wheel instead of asking pip.
pub fn ensure(spec: &RuntimeSpec, wheel: Option<&Path>) -> Result<Vec<PathBuf>> {
    let dir = cache_folder(spec);
    fs::create_dir_all(&dir)
        .context(|| format!("cannot create the cache folder {}", dir.display()))?;
    let targets: Vec<PathBuf> = spec.files.iter().map(|f| dir.join(f.file_name)).collect();
    if spec
        .files
        .iter()
        .zip(&targets)
        .all(|(f, t)| file_matches(t, f.sha256))
    {
        return Ok(targets);
    }
    let wheel_path = match wheel {
        Some(w) => {
            let got = sha256_file(w)?;
            if got != spec.wheel_sha256 {
                return Err(Error::new(format!(
                    "{} is not the pinned {}=={} wheel (sha256 {got}, expected {})",
                    w.display(),
                    spec.package,
                    spec.version,
                    spec.wheel_sha256
                )));
            }
            w.to_path_buf()
        }
        None => download_wheel(spec, &dir)?,
    };
    extract(spec, &wheel_path, &dir)?;
    Ok(targets)
}

/// Downloads the pinned wheel into `dir` with pip (unless it is already there) and checks its hash.
fn download_wheel(spec: &RuntimeSpec, dir: &Path) -> Result<PathBuf> {
    let wheel = dir.join(spec.wheel_file);
    if file_matches(&wheel, spec.wheel_sha256) {
        return Ok(wheel);
    }
    let staging = dir.join(format!("download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).context(|| format!("cannot create {}", staging.display()))?;
    eprintln!(
        "downloading {}=={} with pip ...",
        spec.package, spec.version
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
    let requirement = format!("{}=={}", spec.package, spec.version);
    let status = Command::new(&python)
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
        .args(["--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"])
        .arg(&requirement)
        .arg("-d")
        .arg(&staging)
        .status()
        .map_err(|e| {
            Error::new(format!(
                "cannot run `{python} -m pip` to download {requirement} ({e}); install python3 with pip, \
                 or download the wheel {} yourself and pass it with --wheel",
                spec.wheel_file
            ))
        })?;
    if !status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "pip could not download {requirement} ({status}); check the network, or download the wheel {} \
             yourself and pass it with --wheel",
            spec.wheel_file
        )));
    }
    let downloaded = staging.join(spec.wheel_file);
    if !downloaded.is_file() {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "pip did not produce {}",
            spec.wheel_file
        )));
    }
    let got = sha256_file(&downloaded)?;
    if got != spec.wheel_sha256 {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "the downloaded {} has sha256 {got}, but {} is pinned; refusing to install it",
            spec.wheel_file, spec.wheel_sha256
        )));
    }
    fs::rename(&downloaded, &wheel)
        .context(|| format!("cannot move the wheel into {}", dir.display()))?;
    let _ = fs::remove_dir_all(&staging);
    Ok(wheel)
}

/// Unzips the spec's libraries from the wheel into `dir`, each through a temporary file, checking hashes.
fn extract(spec: &RuntimeSpec, wheel: &Path, dir: &Path) -> Result<()> {
    let file = fs::File::open(wheel).context(|| format!("cannot open {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(file)
        .context(|| format!("{} is not a readable wheel", wheel.display()))?;
    for f in spec.files {
        let target = dir.join(f.file_name);
        if file_matches(&target, f.sha256) {
            continue;
        }
        let tmp = dir.join(format!(".{}.{}.tmp", f.file_name, std::process::id()));
        {
            let mut entry = archive
                .by_name(f.zip_path)
                .context(|| format!("{} has no {}", wheel.display(), f.zip_path))?;
            let mut out =
                fs::File::create(&tmp).context(|| format!("cannot write {}", tmp.display()))?;
            std::io::copy(&mut entry, &mut out)
                .context(|| format!("cannot unzip {}", f.zip_path))?;
        }
        let got = sha256_file(&tmp)?;
        if got != f.sha256 {
            let _ = fs::remove_file(&tmp);
            return Err(Error::new(format!(
                "{} from the wheel has sha256 {got}, expected {}",
                f.file_name, f.sha256
            )));
        }
        fs::rename(&tmp, &target).context(|| format!("cannot write {}", target.display()))?;
    }
    Ok(())
}
