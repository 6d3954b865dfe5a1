//! `pixelspace install`: lays out the OFX bundle (plugin, ONNX Runtime library, resources) in a plugin folder.
//!
//! The bundle is built in a temporary folder beside the target and renamed into place, so a host
//! never sees a half-written bundle; an existing bundle is replaced only after the new one is complete.
//! The default models are converted into the user's model folder when they are not there yet
//! (`models_convert.rs`) and copied into `Contents/Resources/models/` (skipped with `--no-models`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::models_convert;
use crate::paths;
use crate::runtime;

/// What `install` was asked to do.
pub struct InstallArgs {
    pub prefix: Option<PathBuf>,
    pub gpu: bool,
    pub plugin_lib: Option<PathBuf>,
    pub wheel: Option<PathBuf>,
    pub models: Option<PathBuf>,
    /// Skip the default models.
    pub no_models: bool,
}

/// Runs the install and returns the bundle path.
pub fn run(args: &InstallArgs) -> Result<PathBuf> {
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let plugin_lib = match &args.plugin_lib {
        Some(p) => p.clone(),
        None => find_plugin_lib()?,
    };
    if !plugin_lib.is_file() {
        return Err(Error::new(format!(
            "plugin library not found at {}; build it with `cargo build --release -p pixelspace-plugin` \
             or pass --plugin-lib",
            plugin_lib.display()
        )));
    }
    let spec = if args.gpu {
        &runtime::GPU
    } else {
        &runtime::CPU
    };
    let runtime_files = runtime::ensure(spec, args.wheel.as_deref())?;
    // The default models, converted into the user's model folder first when not there yet.
    let default_models = if args.no_models {
        Vec::new()
    } else {
        let dir = pixelspace_shared::models_dir::models_dir();
        let all: Vec<&models_convert::DefaultModel> = models_convert::DEFAULTS.iter().collect();
        models_convert::ensure(&dir, &all, false)?;
        all.iter()
            .map(|d| pixelspace_shared::models_dir::model_folder(&dir, d.name))
            .collect()
    };

    fs::create_dir_all(&prefix).context(|| {
        format!("cannot create the plugin folder {} (run as a user who may write there, or pass --prefix)", prefix.display())
    })?;
    let final_dir = paths::bundle_dir(&prefix);
    let staging = prefix.join(format!(
        ".{}.{}.tmp",
        paths::BUNDLE_NAME,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&staging);
    let built = build_bundle(
        &staging,
        &plugin_lib,
        &runtime_files,
        args.models.as_deref(),
        &default_models,
    );
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    // Swap in: move any old bundle aside, rename the new one into place, then delete the old one.
    let old = prefix.join(format!(
        ".{}.{}.old",
        paths::BUNDLE_NAME,
        std::process::id()
    ));
    let had_old = final_dir.exists();
    if had_old {
        fs::rename(&final_dir, &old)
            .context(|| format!("cannot replace {}", final_dir.display()))?;
    }
    if let Err(e) = fs::rename(&staging, &final_dir) {
        if had_old {
            let _ = fs::rename(&old, &final_dir);
        }
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::new(format!(
            "cannot move the bundle into {}: {e}",
            final_dir.display()
        )));
    }
    if had_old {
        let _ = fs::remove_dir_all(&old);
    }
    println!("installed {}", final_dir.display());
    println!("  plugin   {}", plugin_lib.display());
    println!(
        "  runtime  {} {} ({})",
        spec.package,
        spec.version,
        spec.main_library().file_name
    );
    if default_models.is_empty() {
        println!("  models   none (--no-models)");
    } else {
        println!(
            "  models   {} default models in Contents/Resources/models",
            default_models.len()
        );
    }
    if args.gpu {
        println!("  note     the GPU runtime needs {}", spec.requires);
    }
    Ok(final_dir)
}

/// The plugin library built next to this executable (same cargo target folder).
fn find_plugin_lib() -> Result<PathBuf> {
    let dir = paths::exe_dir()
        .ok_or_else(|| Error::new("cannot tell where this executable is; pass --plugin-lib"))?;
    let candidate = dir.join(paths::PLUGIN_CARGO_LIB);
    if candidate.is_file() {
        return Ok(candidate);
    }
    Err(Error::new(format!(
        "{} is not next to this executable (looked in {}); build it with \
         `cargo build --release -p pixelspace-plugin` or pass --plugin-lib",
        paths::PLUGIN_CARGO_LIB,
        dir.display()
    )))
}

fn build_bundle(
    staging: &Path,
    plugin_lib: &Path,
    runtime_files: &[PathBuf],
    models: Option<&Path>,
    default_models: &[PathBuf],
) -> Result<()> {
    let contents = staging.join("Contents");
    let arch = contents.join(paths::ARCH_DIR);
    let resources = contents.join("Resources");
    fs::create_dir_all(&arch).context(|| format!("cannot create {}", arch.display()))?;
    fs::create_dir_all(&resources).context(|| format!("cannot create {}", resources.display()))?;
    fs::write(contents.join("Info.plist"), info_plist())
        .context(|| "cannot write Info.plist".to_string())?;
    copy(plugin_lib, &arch.join(paths::PLUGIN_BINARY))?;
    for file in runtime_files {
        let name = file.file_name().expect("runtime files have names");
        copy(file, &arch.join(name))?;
    }
    // The plugin loads `libonnxruntime.so.1.32.0` from its folder. The GPU wheel carries another
    // version (1.31.1, accepted by the plugin's ONNX Runtime API level): point that name at it,
    // so the CUDA/TensorRT provider libraries are found beside the library that loads them.
    let main = runtime_files
        .first()
        .and_then(|f| f.file_name())
        .expect("a runtime library");
    let expected = pixelspace_shared::runtime::LIBRARY_FILE_NAME;
    if main != expected {
        std::os::unix::fs::symlink(main, arch.join(expected))
            .context(|| format!("cannot link {expected} in {}", arch.display()))?;
    }
    if let Some(models) = models {
        copy_tree(models, &resources.join("models"))?;
    }
    for folder in default_models {
        let name = folder.file_name().expect("model folders have names");
        copy_tree(folder, &resources.join("models").join(name))?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::copy(from, to).context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).context(|| format!("cannot read {}", from.display()))? {
        let entry = entry.context(|| format!("cannot read {}", from.display()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            copy(&path, &target)?;
        }
    }
    Ok(())
}

/// The bundle's Info.plist, as OFX hosts expect it.
fn info_plist() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>CFBundleDevelopmentRegion</key>
	<string>English</string>
	<key>CFBundleExecutable</key>
	<string>{exe}</string>
	<key>CFBundleIdentifier</key>
	<string>org.pixelspace</string>
	<key>CFBundleInfoDictionaryVersion</key>
	<string>6.0</string>
	<key>CFBundleName</key>
	<string>Pixelspace</string>
	<key>CFBundlePackageType</key>
	<string>BNDL</string>
	<key>CFBundleShortVersionString</key>
	<string>{version}</string>
	<key>CFBundleVersion</key>
	<string>{version}</string>
</dict>
</plist>
"#,
        exe = paths::PLUGIN_BINARY,
        version = env!("CARGO_PKG_VERSION")
    )
}
