//! `pixelspace models list | fetch | verify`: the model library on this machine.
//!
//! Two kinds of models are known by name:
//! * the **default** models, converted on this machine by the project's own converters
//!   (`models_convert.rs`) from pinned registry packages, and
//! * **external** models that users fetch from their publishers (`models/external/*.json`,
//!   embedded in this binary; the download itself is `download.rs`).
//!
//! Fetched and converted models live in the user's model folder
//! (`pixelspace_shared::models_dir`), one subfolder per model; an installed bundle holds the
//! defaults in `Contents/Resources/models/`. `list` shows both places, `verify` re-hashes every
//! installed file against its manifest (or the digest recorded when it was fetched).

use std::fs;
use std::path::{Path, PathBuf};

use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::models_dir;

use crate::download;
use crate::error::{Context, Error, Result};
use crate::models_convert::{self, DEFAULTS};
use crate::paths;

/// Test and studio override: read the external manifests from this folder instead of the ones
/// built into the binary.
pub const ENV_EXTERNAL_MANIFESTS: &str = "PIXELSPACE_EXTERNAL_MANIFESTS";

/// The external manifests built into the binary (file name, text).
const EMBEDDED: &[(&str, &str)] = &[
    (
        "arcface_w600k_r50.json",
        include_str!("../../models/external/arcface_w600k_r50.json"),
    ),
    (
        "codeformer.json",
        include_str!("../../models/external/codeformer.json"),
    ),
    ("fran.json", include_str!("../../models/external/fran.json")),
    (
        "gfpgan_1.4.json",
        include_str!("../../models/external/gfpgan_1.4.json"),
    ),
    (
        "inswapper_128.json",
        include_str!("../../models/external/inswapper_128.json"),
    ),
    ("lama.json", include_str!("../../models/external/lama.json")),
    (
        "rife_v4.9_onnx.json",
        include_str!("../../models/external/rife_v4.9_onnx.json"),
    ),
    (
        "styleganex_age.json",
        include_str!("../../models/external/styleganex_age.json"),
    ),
];

/// One external manifest: where it came from, its text, and whether it parsed.
pub struct External {
    pub origin: PathBuf,
    pub text: String,
    pub manifest: Result<Manifest>,
}

impl External {
    /// The model's name: the manifest's, else the file's stem.
    fn name(&self) -> String {
        match &self.manifest {
            Ok(m) => m.name.clone(),
            Err(_) => self
                .origin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// The external manifests: from `PIXELSPACE_EXTERNAL_MANIFESTS` if set, else the embedded ones.
pub fn externals() -> Result<Vec<External>> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::var_os(ENV_EXTERNAL_MANIFESTS).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .context(|| format!("cannot read {ENV_EXTERNAL_MANIFESTS}={}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for path in files {
            let text =
                fs::read_to_string(&path).context(|| format!("cannot read {}", path.display()))?;
            let manifest = Manifest::parse(text.as_bytes(), &path).map_err(Error::from);
            out.push(External {
                origin: path,
                text,
                manifest,
            });
        }
    } else {
        for (file, text) in EMBEDDED {
            let origin = Path::new("models/external").join(file);
            let manifest = Manifest::parse(text.as_bytes(), &origin).map_err(Error::from);
            out.push(External {
                origin,
                text: text.to_string(),
                manifest,
            });
        }
    }
    Ok(out)
}

/// Where installed models are looked for: the bundle's models (if installed) and the user's folder.
pub fn places(plugin_path: Option<&Path>) -> Vec<(&'static str, PathBuf)> {
    let plugin_dir = plugin_path.map_or_else(paths::default_plugin_dir, Path::to_path_buf);
    vec![
        ("bundle", bundle_models_dir(&plugin_dir)),
        ("user", models_dir::models_dir()),
    ]
}

/// The models folder inside an installed bundle.
pub fn bundle_models_dir(plugin_dir: &Path) -> PathBuf {
    paths::bundle_dir(plugin_dir)
        .join("Contents")
        .join("Resources")
        .join("models")
}

/// The state of one installed model.
pub struct Installed {
    pub name: String,
    pub place: &'static str,
    pub manifest_path: PathBuf,
    pub manifest: Option<Manifest>,
    pub status: Status,
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The file matches the manifest's sha256.
    Ok,
    /// The file matches the digest recorded when it was fetched (no published sha256).
    OkRecorded,
    /// The model file is not there.
    Missing,
    /// The file does not match (the message says how).
    Modified(String),
    /// The manifest does not load (the message says why).
    InvalidManifest(String),
    /// No published sha256 and no digest recorded.
    NoDigest(String),
}

impl Status {
    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok | Status::OkRecorded)
    }
    fn short(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::OkRecorded => "ok (trust on first use)",
            Status::Missing => "missing",
            Status::Modified(_) => "MODIFIED",
            Status::InvalidManifest(_) => "INVALID MANIFEST",
            Status::NoDigest(_) => "no digest",
        }
    }
    fn detail(&self) -> Option<&str> {
        match self {
            Status::Modified(m) | Status::InvalidManifest(m) | Status::NoDigest(m) => Some(m),
            _ => None,
        }
    }
}

/// Loads and checks every model in `dir` (`hash`: re-hash the files).
pub fn scan(place: &'static str, dir: &Path, hash: bool) -> Vec<Installed> {
    let mut found = Vec::new();
    for path in models_dir::manifest_files(dir) {
        let folder = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Manifest::load(&path) {
            Err(e) => found.push(Installed {
                name: folder,
                place,
                manifest_path: path,
                manifest: None,
                status: Status::InvalidManifest(e.to_string()),
            }),
            Ok(m) => {
                let model = m.model_path();
                let status = if !model.is_file() {
                    Status::Missing
                } else if !hash {
                    Status::Ok
                } else {
                    match m.verify_model(&model) {
                        Ok(()) if m.sha256.is_some() => Status::Ok,
                        Ok(()) => Status::OkRecorded,
                        Err(e) if e.message().contains("no digest was recorded") => {
                            Status::NoDigest(e.to_string())
                        }
                        Err(e) => Status::Modified(e.to_string()),
                    }
                };
                found.push(Installed {
                    name: m.name.clone(),
                    place,
                    manifest_path: path,
                    manifest: Some(m),
                    status,
                });
            }
        }
    }
    found
}

fn licence_cols(m: Option<&Manifest>) -> (String, String) {
    match m {
        Some(m) => (
            m.licence.name.clone(),
            if m.licence.commercial_use {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        ),
        None => ("?".into(), "?".into()),
    }
}

fn row(cols: &[String]) {
    println!(
        "{:<26} {:<7} {:<28} {:<10} {:>9}  {}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]
    );
}

/// `pixelspace models list`.
pub fn list(plugin_path: Option<&Path>) -> Result<()> {
    let places = places(plugin_path);
    for (place, dir) in &places {
        println!("{place:<6} models: {}", dir.display());
    }
    println!();
    row(&["NAME", "WHERE", "LICENCE", "COMMERCIAL", "SIZE", "STATUS"].map(String::from));
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (place, dir) in &places {
        for m in scan(place, dir, true) {
            seen.insert(m.name.clone());
            let (lic, com) = licence_cols(m.manifest.as_ref());
            let size = m
                .manifest
                .as_ref()
                .and_then(|x| fs::metadata(x.model_path()).ok())
                .map_or("-".to_string(), |md| download::human_size(md.len()));
            row(&[
                m.name.clone(),
                m.place.to_string(),
                lic,
                com,
                size,
                m.status.short().to_string(),
            ]);
            if let Some(d) = m.status.detail() {
                problems.push(format!("{}: {d}", m.name));
            }
        }
    }
    for d in DEFAULTS {
        if !seen.contains(d.name) {
            row(&[
                d.name.into(),
                "-".into(),
                d.licence.into(),
                "yes".into(),
                "-".into(),
                "not converted (pixelspace models fetch --defaults)".into(),
            ]);
        }
    }
    for e in externals()? {
        let name = e.name();
        if seen.contains(&name) {
            continue;
        }
        match &e.manifest {
            Ok(m) => {
                let (lic, com) = licence_cols(Some(m));
                let size = m
                    .download
                    .as_ref()
                    .and_then(|d| d.size)
                    .map_or("-".to_string(), download::human_size);
                let tofu = if m.sha256.is_none() {
                    ", no published sha256: trust on first use"
                } else {
                    ""
                };
                row(&[
                    name,
                    "-".into(),
                    lic,
                    com,
                    size,
                    format!("not fetched{tofu}"),
                ]);
            }
            Err(err) => {
                row(&[
                    name.clone(),
                    "-".into(),
                    "?".into(),
                    "?".into(),
                    "-".into(),
                    "INVALID MANIFEST".into(),
                ]);
                problems.push(format!("{name}: {err}"));
            }
        }
    }
    if !problems.is_empty() {
        println!();
        for p in &problems {
            println!("{p}");
        }
    }
    Ok(())
}

/// `pixelspace models verify`: non-zero exit when any installed model does not match.
pub fn verify(plugin_path: Option<&Path>) -> Result<()> {
    let mut bad = 0;
    let mut count = 0;
    for (place, dir) in places(plugin_path) {
        for m in scan(place, &dir, true) {
            count += 1;
            let path = m
                .manifest
                .as_ref()
                .map_or(m.manifest_path.clone(), |x| x.model_path());
            println!(
                "{:<26} {:<7} {:<24} {}",
                m.name,
                place,
                m.status.short(),
                path.display()
            );
            if let Some(d) = m.status.detail() {
                println!("    {d}");
            }
            if !m.status.is_ok() {
                bad += 1;
            }
        }
    }
    if bad > 0 {
        return Err(Error::new(format!(
            "{bad} of {count} installed models failed the check; fetch them again with `pixelspace models fetch NAME`"
        )));
    }
    println!("{count} installed models checked, all match their manifests");
    Ok(())
}

/// What `fetch` was asked to do.
pub struct FetchArgs {
    pub names: Vec<String>,
    pub defaults: bool,
    pub force: bool,
    pub from: Option<PathBuf>,
}

/// `pixelspace models fetch`.
pub fn fetch(args: &FetchArgs) -> Result<()> {
    let dir = models_dir::models_dir();
    let mut names = args.names.clone();
    if args.defaults {
        names.extend(DEFAULTS.iter().map(|d| d.name.to_string()));
    }
    if names.is_empty() {
        return Err(Error::new(
            "name the models to fetch (see `pixelspace models list`), or give --defaults",
        ));
    }
    if args.from.is_some() && names.len() != 1 {
        return Err(Error::new("--from FILE takes exactly one model name"));
    }
    let externals = externals()?;
    let mut defaults = Vec::new();
    let mut wanted_externals = Vec::new();
    for name in &names {
        if let Some(d) = DEFAULTS.iter().find(|d| d.name == name) {
            defaults.push(d);
        } else if let Some(e) = externals.iter().find(|e| &e.name() == name) {
            wanted_externals.push(e);
        } else {
            let mut known: Vec<String> = DEFAULTS.iter().map(|d| d.name.to_string()).collect();
            known.extend(externals.iter().map(|e| e.name()));
            return Err(Error::new(format!(
                "no model called '{name}'; known models: {}",
                known.join(", ")
            )));
        }
    }
    if !defaults.is_empty() {
        if args.from.is_some() {
            return Err(Error::new(
                "--from is for external models; default models are converted from their registry packages",
            ));
        }
        models_convert::ensure(&dir, &defaults, args.force)?;
    }
    let mut failures = Vec::new();
    for e in wanted_externals {
        if let Err(err) = fetch_external(&dir, e, args.force, args.from.as_deref()) {
            eprintln!("pixelspace: {}: {err}", e.name());
            failures.push(e.name());
        }
    }
    if !failures.is_empty() {
        return Err(Error::new(format!(
            "could not fetch {}; any model fetched before is left as it was",
            failures.join(", ")
        )));
    }
    Ok(())
}

/// Fetches one external model into `<dir>/<name>/`.
fn fetch_external(dir: &Path, e: &External, force: bool, from: Option<&Path>) -> Result<()> {
    let m = e.manifest.as_ref().map_err(|err| {
        Error::new(format!(
            "its manifest cannot be used, nothing was fetched: {err}"
        ))
    })?;
    let Some(dl) = &m.download else {
        return Err(Error::new(format!(
            "manifest {} has no `download` block: it says nowhere to fetch the model from",
            e.origin.display()
        )));
    };
    if m.model.contains('/') || m.model.contains('\\') || m.model.starts_with('.') {
        return Err(Error::new(format!(
            "manifest {}: `model` must be a plain file name, got '{}'",
            e.origin.display(),
            m.model
        )));
    }
    let folder = models_dir::model_folder(dir, &m.name);
    let dest = folder.join(&m.model);
    let stem = Path::new(&m.model)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| m.name.clone());
    let manifest_dest = folder.join(format!("{stem}.json"));
    let installed = Manifest::parse(e.text.as_bytes(), &manifest_dest)?;
    if !force
        && from.is_none()
        && dest.is_file()
        && manifest_dest.is_file()
        && installed.verify_model(&dest).is_ok()
    {
        println!(
            "{}: already fetched and intact ({})",
            m.name,
            dest.display()
        );
        return Ok(());
    }
    let req = download::Request {
        url: &dl.url,
        dest: &dest,
        sha256: m.sha256.as_deref(),
        size: dl.size,
    };
    match from {
        Some(file) => {
            println!("{}: taking {}", m.name, file.display());
            download::from_file(file, &req)?;
        }
        None => {
            eprintln!("{}: fetching {}", m.name, download::effective_url(&dl.url));
            download::fetch(&req)?;
        }
    }
    write_atomic(&manifest_dest, e.text.as_bytes())?;
    let note = if m.sha256.is_none() {
        let digest = installed.record_fetched_digest(&dest)?;
        format!(
            "; the publisher gives no sha256, so the digest of this file ({digest}) was recorded and is checked from now on (trust on first use)"
        )
    } else {
        "; sha256 matches the manifest".to_string()
    };
    println!(
        "{}: {} ({}, licence {}, commercial use {}){note}",
        m.name,
        dest.display(),
        download::human_size(fs::metadata(&dest).map(|x| x.len()).unwrap_or(0)),
        m.licence.name,
        if m.licence.commercial_use {
            "yes"
        } else {
            "no"
        }
    );
    Ok(())
}

/// Writes a file through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, bytes).context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).context(|| format!("cannot write {}", path.display()))
}
