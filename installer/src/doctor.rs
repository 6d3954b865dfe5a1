//! `pixelspace doctor`: checks the runtime library, execution providers, the installed bundle (loaded
//! the way a host loads it) and the model folders, and says what to do about anything broken.

use std::path::{Path, PathBuf};

use pixelspace_host::Host;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::policy::{LicencePolicy, PolicySource};
use pixelspace_shared::runtime::{self, Provider};

use crate::error::{Error, Result};
use crate::paths;

/// The runtime library a bundle would load: `PIXELSPACE_ORT_LIB`, else the library inside the bundle.
pub fn bundle_runtime_library(plugin_dir: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PIXELSPACE_ORT_LIB").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let arch = paths::bundle_arch_dir(plugin_dir);
    let shipped = arch.join(runtime::LIBRARY_FILE_NAME);
    if shipped.is_file() {
        return Some(shipped);
    }
    // A GPU install carries another version of the library.
    std::fs::read_dir(&arch)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().starts_with("libonnxruntime.so."))
                .unwrap_or(false)
        })
}

/// Runs every check, printing one line per finding; fails if anything is broken.
pub fn run(plugin_path: Option<PathBuf>, extra_model_dirs: &[PathBuf]) -> Result<()> {
    let plugin_dir = plugin_path.unwrap_or_else(paths::default_plugin_dir);
    let mut problems: Vec<String> = Vec::new();
    let bundle = paths::bundle_dir(&plugin_dir);
    println!("plugin folder   {}", plugin_dir.display());
    let binary = paths::bundle_arch_dir(&plugin_dir).join(paths::PLUGIN_BINARY);
    if binary.is_file() {
        println!("bundle          {}", bundle.display());
    } else {
        println!("bundle          MISSING ({} not found)", binary.display());
        problems.push(format!(
            "no Pixelspace bundle in {}: run `pixelspace install --prefix {}`",
            plugin_dir.display(),
            plugin_dir.display()
        ));
    }

    match bundle_runtime_library(&plugin_dir) {
        None => {
            println!("runtime         MISSING");
            problems.push(format!(
                "ONNX Runtime library not found in {}: run `pixelspace install` again (or set PIXELSPACE_ORT_LIB)",
                paths::bundle_arch_dir(&plugin_dir).display()
            ));
        }
        Some(lib) => match runtime::init(&lib) {
            Ok(info) => {
                println!(
                    "runtime         ONNX Runtime {} from {}",
                    info.version,
                    info.library.display()
                );
                let compiled: Vec<&str> = Provider::ALL
                    .iter()
                    .filter(|p| **p != Provider::Auto && p.compiled_in())
                    .map(|p| p.name())
                    .collect();
                println!(
                    "providers       built into this command: {}",
                    compiled.join(", ")
                );
                match runtime::library_providers() {
                    Ok(list) => {
                        let names: Vec<&str> = list.iter().map(|p| p.name()).collect();
                        println!(
                            "                usable with this library: {}",
                            names.join(", ")
                        );
                    }
                    Err(e) => problems.push(format!("cannot list execution providers: {e}")),
                }
            }
            Err(e) => {
                println!("runtime         BROKEN");
                problems.push(e.to_string());
            }
        },
    }

    if binary.is_file() {
        match Host::new(std::slice::from_ref(&plugin_dir)) {
            Ok(host) => {
                let effects = host.effects();
                if effects.is_empty() {
                    problems.push(format!(
                        "the host found no effects in {}: the plugin did not load; reinstall with `pixelspace install`",
                        bundle.display()
                    ));
                }
                for e in effects {
                    println!(
                        "effect          {} \"{}\" v{} ({})",
                        e.id,
                        e.label,
                        e.version,
                        e.contexts.join(", ")
                    );
                }
            }
            Err(e) => problems.push(format!(
                "the reference host could not load {}: {e}",
                bundle.display()
            )),
        }
    }

    let policy = match LicencePolicy::from_environment() {
        Ok(p) => {
            let rule = if p.commercial_only {
                "only models licensed for commercial use"
            } else {
                "any model"
            };
            let from = match p.source {
                PolicySource::Default => "default".to_string(),
                _ => p.setting(),
            };
            println!("licence policy  {rule} ({from})");
            Some(p)
        }
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    for dir in model_dirs(&plugin_dir, extra_model_dirs) {
        let manifests = list_manifests(&dir);
        println!(
            "models          {} ({} manifests)",
            dir.display(),
            manifests.len()
        );
        for m in manifests {
            match Manifest::load(&m) {
                Ok(manifest) => {
                    let licence = &manifest.licence;
                    let use_ = if licence.commercial_use {
                        "commercial use allowed"
                    } else {
                        "NON-COMMERCIAL"
                    };
                    let refused = policy.as_ref().and_then(|p| p.check(&manifest).err());
                    let model_present = manifest.model_path().is_file();
                    println!(
                        "                {} ({}, {use_}){}{}",
                        manifest.name,
                        licence.name,
                        if refused.is_some() {
                            ", refused by the licence policy"
                        } else {
                            ""
                        },
                        if model_present {
                            ""
                        } else {
                            ", model file not downloaded"
                        }
                    );
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
    }

    if problems.is_empty() {
        println!("all checks passed");
        Ok(())
    } else {
        for p in &problems {
            eprintln!("problem: {p}");
        }
        Err(Error::new(format!("{} problem(s) found", problems.len())))
    }
}

/// Model folders: the bundle's Resources/models, the user's model folder and the folders given
/// with --models.
fn model_dirs(plugin_dir: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![
        paths::bundle_dir(plugin_dir)
            .join("Contents")
            .join("Resources")
            .join("models"),
    ];
    dirs.push(pixelspace_shared::models_dir::models_dir());
    dirs.extend(extra.iter().cloned());
    dirs.into_iter().filter(|d| d.is_dir()).collect()
}

fn list_manifests(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "json"));
    // Installed models live one level down (`<dir>/<name>/<name>.json`).
    v.extend(pixelspace_shared::models_dir::manifest_files(dir));
    v.retain(|p| !p.to_string_lossy().ends_with(".weights.json"));
    v.sort();
    v
}
