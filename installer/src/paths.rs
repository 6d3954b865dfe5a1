//! Where things live: the OFX plugin folder, the user cache, the files next to this executable.

use std::path::PathBuf;

/// Name of the bundle the installer lays out and the host loads.
pub const BUNDLE_NAME: &str = "Pixelspace.ofx.bundle";
/// Architecture folder inside `Contents/` for 64-bit Linux.
pub const ARCH_DIR: &str = "Linux-x86-64";
/// The plugin binary inside the architecture folder.
pub const PLUGIN_BINARY: &str = "Pixelspace.ofx";
/// File name cargo gives the plugin library.
pub const PLUGIN_CARGO_LIB: &str = "libpixelspace_ofx.so";

/// The OFX plugin folder used when none is given: the first `OFX_PLUGIN_PATH` entry, else `/usr/OFX/Plugins`.
pub fn default_plugin_dir() -> PathBuf {
    if let Some(path) = std::env::var_os("OFX_PLUGIN_PATH")
        && let Some(first) = std::env::split_paths(&path).find(|p| !p.as_os_str().is_empty())
    {
        return first;
    }
    PathBuf::from("/usr/OFX/Plugins")
}

/// The user cache folder for Pixelspace: `$XDG_CACHE_HOME/pixelspace` or `~/.cache/pixelspace`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("pixelspace");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("pixelspace");
    }
    std::env::temp_dir().join("pixelspace-cache")
}

/// The folder holding the running executable (a cargo target dir such as `target/release`).
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()
        .map(|p| p.to_path_buf())
}

/// The bundle folder inside a plugin folder.
pub fn bundle_dir(plugin_dir: &std::path::Path) -> PathBuf {
    plugin_dir.join(BUNDLE_NAME)
}

/// The architecture folder (plugin binary and runtime library) inside an installed bundle.
pub fn bundle_arch_dir(plugin_dir: &std::path::Path) -> PathBuf {
    bundle_dir(plugin_dir).join("Contents").join(ARCH_DIR)
}
