//! Where models live on a machine: the user's model folder and the layout inside it.
//!
//! The folder is `$PIXELSPACE_MODELS_DIR`, else `$XDG_DATA_HOME/pixelspace/models`, else
//! `~/.local/share/pixelspace/models`. Each model has its own subfolder named after the
//! manifest's `name`, holding the ONNX file and its manifest beside it:
//! `<dir>/<name>/<file>.onnx` + `<dir>/<name>/<file>.json`. An installed bundle holds the default
//! models the same way in `Contents/Resources/models/`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::manifest::Manifest;

/// Environment variable that overrides the user's model folder.
pub const ENV_MODELS_DIR: &str = "PIXELSPACE_MODELS_DIR";

/// The user's model folder, read from the process environment.
pub fn models_dir() -> PathBuf {
    models_dir_from(&|key| std::env::var_os(key))
}

/// The user's model folder, with the environment given by `env` (for tests).
pub fn models_dir_from(env: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    let set = |key: &str| env(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(ENV_MODELS_DIR) {
        return dir;
    }
    if let Some(data) = set("XDG_DATA_HOME") {
        return data.join("pixelspace").join("models");
    }
    if let Some(home) = set("HOME") {
        return home
            .join(".local")
            .join("share")
            .join("pixelspace")
            .join("models");
    }
    std::env::temp_dir().join("pixelspace-models")
}

/// The folder of one model inside a model folder.
pub fn model_folder(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The manifests found in a model folder: every `*.json` one level down (`<dir>/<name>/*.json`),
/// sorted by path. A missing folder has none. Files such as `foo.onnx.sha256` are not manifests.
pub fn manifest_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let sub = entry.path();
        if !sub.is_dir() || entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if let Ok(files) = std::fs::read_dir(&sub) {
            for f in files.flatten() {
                let p = f.path();
                if p.is_file() && p.extension().is_some_and(|e| e == "json") {
                    found.push(p);
                }
            }
        }
    }
    found.sort();
    found
}

/// Finds the model called `name` (its manifest's `name`, or its folder's name) in the given
/// folders, first folder first. Manifests that do not load are skipped.
pub fn find_model(dirs: &[PathBuf], name: &str) -> Option<Manifest> {
    for dir in dirs {
        for path in manifest_files(dir) {
            if let Ok(m) = Manifest::load(&path) {
                let folder = path
                    .parent()
                    .and_then(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned());
                if m.name == name || folder.as_deref() == Some(name) {
                    return Some(m);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn folder_order() {
        let all = [
            (ENV_MODELS_DIR, "/m"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(models_dir_from(&env(&all)), PathBuf::from("/m"));
        assert_eq!(
            models_dir_from(&env(&all[1..])),
            PathBuf::from("/x/pixelspace/models")
        );
        assert_eq!(
            models_dir_from(&env(&all[2..])),
            PathBuf::from("/h/.local/share/pixelspace/models")
        );
        let empty = [(ENV_MODELS_DIR, ""), ("HOME", "/h")];
        assert_eq!(
            models_dir_from(&env(&empty)),
            PathBuf::from("/h/.local/share/pixelspace/models")
        );
    }

    #[test]
    fn manifests_one_level_down() {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-models-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join(".a.tmp")).unwrap();
        std::fs::write(dir.join("a/a.json"), "{}").unwrap();
        std::fs::write(dir.join("a/a.onnx.sha256"), "x").unwrap();
        std::fs::write(dir.join(".a.tmp/a.json"), "{}").unwrap();
        std::fs::write(dir.join("top.json"), "{}").unwrap();
        assert_eq!(manifest_files(&dir), vec![dir.join("a/a.json")]);
        assert!(manifest_files(&dir.join("missing")).is_empty());
        assert!(
            find_model(std::slice::from_ref(&dir), "a").is_none(),
            "invalid manifests are skipped"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
