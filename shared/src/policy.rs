//! Studio licence policy: a setting that refuses models whose weights may not be used
//! commercially.
//!
//! Sources, first that applies wins:
//! 1. the environment variable `PIXELSPACE_COMMERCIAL_ONLY` set to `1`, `true` or `yes`
//!    (`0`, `false`, `no` or empty leave the decision to the config file: the environment can
//!    tighten a studio's setting, not loosen it);
//! 2. a studio config file, the first that exists of `$PIXELSPACE_CONFIG`,
//!    `/etc/pixelspace/studio.json`, `$XDG_CONFIG_HOME/pixelspace/studio.json` (or
//!    `~/.config/pixelspace/studio.json`), holding `{ "commercial_only": true }`.
//!
//! A malformed file or value is an error, never a silent "allowed". This guards against
//! accidents on a workstation; it is not a security boundary against a user who controls
//! their own environment.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Environment variable that turns the policy on.
pub const ENV_COMMERCIAL_ONLY: &str = "PIXELSPACE_COMMERCIAL_ONLY";
/// Environment variable naming the studio config file.
pub const ENV_CONFIG: &str = "PIXELSPACE_CONFIG";
/// The machine-wide studio config file.
pub const SYSTEM_CONFIG: &str = "/etc/pixelspace/studio.json";

/// Where the policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// Nothing set: every model is allowed.
    Default,
    /// `PIXELSPACE_COMMERCIAL_ONLY` in the environment (its value).
    Environment(String),
    /// A studio config file.
    File(PathBuf),
}

/// The licence policy in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicencePolicy {
    /// Refuse models whose licence does not allow commercial use.
    pub commercial_only: bool,
    /// Where the setting was read.
    pub source: PolicySource,
}

/// Looks up an environment variable.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The studio config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudioConfig {
    commercial_only: bool,
}

impl Default for LicencePolicy {
    fn default() -> Self {
        LicencePolicy::allow_all()
    }
}

impl LicencePolicy {
    /// No restriction.
    pub fn allow_all() -> LicencePolicy {
        LicencePolicy {
            commercial_only: false,
            source: PolicySource::Default,
        }
    }

    /// Commercial-use models only, set by the caller (tests, tools).
    pub fn commercial_only() -> LicencePolicy {
        LicencePolicy {
            commercial_only: true,
            source: PolicySource::Default,
        }
    }

    /// The policy of this process: environment and config files (read each time; they are
    /// small).
    pub fn from_environment() -> Result<LicencePolicy> {
        LicencePolicy::resolve(&|name| std::env::var_os(name), &default_config_files)
    }

    /// The policy from an environment lookup and a list of candidate config files (in order);
    /// the first file that exists is read.
    pub fn resolve(
        env: EnvLookup,
        config_files: &dyn Fn(EnvLookup) -> Vec<PathBuf>,
    ) -> Result<LicencePolicy> {
        if let Some(value) = env(ENV_COMMERCIAL_ONLY) {
            let text = value.to_string_lossy().trim().to_ascii_lowercase();
            match text.as_str() {
                "1" | "true" | "yes" => {
                    return Ok(LicencePolicy {
                        commercial_only: true,
                        source: PolicySource::Environment(text),
                    });
                }
                "" | "0" | "false" | "no" => {}
                _ => {
                    return Err(Error::new(format!(
                        "{ENV_COMMERCIAL_ONLY}='{}' is not understood; set it to 1, true or yes to allow only \
                         models licensed for commercial use (0, false or no leave it to the studio config file)",
                        value.to_string_lossy()
                    )));
                }
            }
        }
        let explicit = env(ENV_CONFIG).filter(|p| !p.is_empty()).map(PathBuf::from);
        if let Some(path) = &explicit
            && !path.is_file()
        {
            return Err(Error::new(format!(
                "{ENV_CONFIG} names {}, which does not exist; point it at the studio config file \
                 (JSON: {{ \"commercial_only\": true }}) or unset it",
                path.display()
            )));
        }
        for path in config_files(env) {
            if path.is_file() {
                return LicencePolicy::read_file(&path);
            }
        }
        Ok(LicencePolicy::allow_all())
    }

    /// Reads a studio config file.
    pub fn read_file(path: &Path) -> Result<LicencePolicy> {
        let bytes = std::fs::read(path).map_err(|e| {
            Error::new(format!(
                "studio config {} cannot be read: {e}",
                path.display()
            ))
        })?;
        let config: StudioConfig = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(format!(
                "studio config {} is not valid: {e}; it must be JSON like {{ \"commercial_only\": true }}",
                path.display()
            ))
        })?;
        Ok(LicencePolicy {
            commercial_only: config.commercial_only,
            source: PolicySource::File(path.to_path_buf()),
        })
    }

    /// Where to change the setting, in words.
    pub fn setting(&self) -> String {
        match &self.source {
            PolicySource::Default => "the licence policy".to_string(),
            PolicySource::Environment(v) => format!("{ENV_COMMERCIAL_ONLY}={v} in the environment"),
            PolicySource::File(p) => format!("\"commercial_only\": true in {}", p.display()),
        }
    }

    /// Refuses a model whose licence does not allow commercial use while the policy is on.
    pub fn check(&self, manifest: &Manifest) -> Result<()> {
        if !self.commercial_only || manifest.licence.commercial_use {
            return Ok(());
        }
        Err(Error::new(format!(
            "model '{}' is under the licence '{}', which does not allow commercial use, and this machine \
             allows only models licensed for commercial use ({}). Choose a model licensed for commercial use, \
             or change that setting if this work is not commercial",
            manifest.name,
            manifest.licence.name,
            self.setting()
        )))
    }
}

/// The manifest beside `model`, once the studio's licence policy (from the environment) allows
/// it and the model file matches the manifest's digest: how a model that is not run through an
/// [`crate::pipeline::InferencePipeline`] is opened.
pub fn allowed_manifest(model: &std::path::Path) -> Result<Manifest> {
    let manifest = Manifest::for_model(model)?;
    LicencePolicy::from_environment()?.check(&manifest)?;
    manifest.verify_model(model)?;
    Ok(manifest)
}

/// `$PIXELSPACE_CONFIG`, else `/etc/pixelspace/studio.json` then the user's
/// `$XDG_CONFIG_HOME/pixelspace/studio.json` (or `~/.config/pixelspace/studio.json`).
pub fn default_config_files(env: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    if let Some(p) = env(ENV_CONFIG).filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut files = vec![PathBuf::from(SYSTEM_CONFIG)];
    let user = env("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|p| !p.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        });
    if let Some(dir) = user {
        files.push(dir.join("pixelspace").join("studio.json"));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).map(OsString::from)
    }

    fn temp(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-policy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn manifest(commercial: bool) -> Manifest {
        let text = format!(
            r#"{{ "schema": 1, "name": "swapper", "model": "m.onnx", "sha256": "{}",
              "licence": {{ "name": "non-commercial research", "commercial_use": {commercial}, "source": "x" }},
              "inputs": [{{ "name": "i", "clip": "Source", "layout": "nchw", "channels": "rgb", "colour_space": "srgb" }}],
              "size": {{ "mode": "dynamic" }},
              "outputs": [{{ "name": "o", "layout": "nchw", "channels": "rgb", "colour_space": "srgb" }}] }}"#,
            "a".repeat(64)
        );
        Manifest::parse(text.as_bytes(), Path::new("m.json")).unwrap()
    }

    fn no_files(_: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
        Vec::new()
    }

    #[test]
    fn environment_turns_it_on() {
        for v in ["1", "true", "YES", " yes "] {
            let p =
                LicencePolicy::resolve(&env_of(&[(ENV_COMMERCIAL_ONLY, v)]), &no_files).unwrap();
            assert!(p.commercial_only, "{v}");
            assert!(matches!(p.source, PolicySource::Environment(_)));
        }
        for v in ["0", "false", "no", ""] {
            let p =
                LicencePolicy::resolve(&env_of(&[(ENV_COMMERCIAL_ONLY, v)]), &no_files).unwrap();
            assert!(!p.commercial_only, "{v}");
            assert_eq!(p.source, PolicySource::Default);
        }
        let e = LicencePolicy::resolve(&env_of(&[(ENV_COMMERCIAL_ONLY, "maybe")]), &no_files)
            .unwrap_err();
        assert!(
            e.message()
                .contains("PIXELSPACE_COMMERCIAL_ONLY='maybe' is not understood"),
            "{e}"
        );
        let p = LicencePolicy::resolve(&env_of(&[]), &no_files).unwrap();
        assert_eq!(p, LicencePolicy::allow_all());
    }

    #[test]
    fn config_files_in_order() {
        let dir = temp("files");
        let on = dir.join("on.json");
        let off = dir.join("off.json");
        std::fs::write(&on, r#"{ "commercial_only": true }"#).unwrap();
        std::fs::write(&off, r#"{ "commercial_only": false }"#).unwrap();
        let missing = dir.join("missing.json");
        let (a, b, c) = (missing.clone(), on.clone(), off.clone());
        let files =
            move |_: &dyn Fn(&str) -> Option<OsString>| vec![a.clone(), b.clone(), c.clone()];
        let p = LicencePolicy::resolve(&env_of(&[]), &files).unwrap();
        assert!(p.commercial_only);
        assert_eq!(p.source, PolicySource::File(on.clone()));
        // A false environment value does not loosen the file's setting.
        let p = LicencePolicy::resolve(&env_of(&[(ENV_COMMERCIAL_ONLY, "0")]), &files).unwrap();
        assert!(p.commercial_only);
        // The environment wins when it says on.
        let only_off = {
            let off = off.clone();
            move |_: &dyn Fn(&str) -> Option<OsString>| vec![off.clone()]
        };
        let p = LicencePolicy::resolve(&env_of(&[(ENV_COMMERCIAL_ONLY, "1")]), &only_off).unwrap();
        assert!(p.commercial_only);
        let p = LicencePolicy::resolve(&env_of(&[]), &only_off).unwrap();
        assert!(!p.commercial_only);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn default_file_list() {
        let env = env_of(&[("HOME", "/home/a")]);
        assert_eq!(
            default_config_files(&env),
            vec![
                PathBuf::from("/etc/pixelspace/studio.json"),
                PathBuf::from("/home/a/.config/pixelspace/studio.json")
            ]
        );
        let env = env_of(&[("HOME", "/home/a"), ("XDG_CONFIG_HOME", "/cfg")]);
        assert_eq!(
            default_config_files(&env)[1],
            PathBuf::from("/cfg/pixelspace/studio.json")
        );
        let env = env_of(&[("HOME", "/home/a"), (ENV_CONFIG, "/studio/ps.json")]);
        assert_eq!(
            default_config_files(&env),
            vec![PathBuf::from("/studio/ps.json")]
        );
    }

    #[test]
    fn malformed_config_is_a_clear_error() {
        let dir = temp("bad");
        for (text, needle) in [
            (
                "{ \"commercial_only\": true, \"extra\": 1 }",
                "unknown field `extra`",
            ),
            ("{ \"commercial_only\": \"yes\" }", "invalid type"),
            ("{}", "missing field `commercial_only`"),
            ("not json", "expected"),
        ] {
            let path = dir.join("studio.json");
            std::fs::write(&path, text).unwrap();
            let p = path.clone();
            let files = move |_: &dyn Fn(&str) -> Option<OsString>| vec![p.clone()];
            let e = LicencePolicy::resolve(&env_of(&[]), &files).unwrap_err();
            assert!(
                e.message()
                    .starts_with(&format!("studio config {} is not valid: ", path.display())),
                "{e}"
            );
            assert!(e.message().contains(needle), "{needle}: {e}");
            assert!(e.message().contains("{ \"commercial_only\": true }"), "{e}");
        }
        let missing = dir.join("nope.json");
        let e = LicencePolicy::resolve(
            &env_of(&[(ENV_CONFIG, missing.to_str().unwrap())]),
            &default_config_files,
        )
        .unwrap_err();
        assert!(
            e.message().contains("PIXELSPACE_CONFIG names")
                && e.message().contains("does not exist"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn check_refuses_non_commercial_models_only_when_on() {
        let nc = manifest(false);
        let ok = manifest(true);
        LicencePolicy::allow_all().check(&nc).unwrap();
        let on = LicencePolicy {
            commercial_only: true,
            source: PolicySource::Environment("1".into()),
        };
        on.check(&ok).unwrap();
        let e = on.check(&nc).unwrap_err();
        let m = e.message();
        assert!(m.contains("model 'swapper'"), "{m}");
        assert!(m.contains("licence 'non-commercial research'"), "{m}");
        assert!(
            m.contains("PIXELSPACE_COMMERCIAL_ONLY=1 in the environment"),
            "{m}"
        );
        let file = LicencePolicy {
            commercial_only: true,
            source: PolicySource::File(PathBuf::from("/etc/pixelspace/studio.json")),
        };
        let m = file.check(&nc).unwrap_err().message().to_string();
        assert!(
            m.contains("\"commercial_only\": true in /etc/pixelspace/studio.json"),
            "{m}"
        );
    }
}
