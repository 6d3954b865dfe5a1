//! Finding and loading ONNX Runtime for the plugin: the library shipped next to the plugin
//! binary in the bundle, or the one named by `PIXELSPACE_ORT_LIB`.

use std::path::{Path, PathBuf};

use pixelspace_shared::error::{Error, Result};
use pixelspace_shared::runtime::{self, LIBRARY_FILE_NAME, RuntimeInfo};

use crate::ofx::path;

/// Environment variable overriding the runtime library path.
pub const ENV_LIBRARY: &str = "PIXELSPACE_ORT_LIB";

/// Where the runtime library is expected: `PIXELSPACE_ORT_LIB` when set (and not empty), else
/// `<folder of the plugin binary>/libonnxruntime.so.1.32.0`.
pub fn library_path() -> Result<PathBuf> {
    library_path_from(
        std::env::var_os(ENV_LIBRARY).map(PathBuf::from),
        path::binary_dir().as_deref(),
    )
}

fn library_path_from(env: Option<PathBuf>, plugin_dir: Option<&Path>) -> Result<PathBuf> {
    match (env, plugin_dir) {
        (Some(p), _) if !p.as_os_str().is_empty() => Ok(p),
        (_, Some(dir)) => Ok(dir.join(LIBRARY_FILE_NAME)),
        _ => Err(Error::new(format!(
            "cannot tell where the Pixelspace plugin is installed, so {LIBRARY_FILE_NAME} cannot be found; \
             set {ENV_LIBRARY} to its path or run `pixelspace doctor`"
        ))),
    }
}

/// Loads ONNX Runtime once per process (later calls return what is loaded).
pub fn ensure_loaded() -> Result<RuntimeInfo> {
    if let Some(info) = runtime::info() {
        return Ok(info);
    }
    runtime::init(&library_path()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_bundle_location() {
        let dir = Path::new("/opt/ofx/Pixelspace.ofx.bundle/Contents/Linux-x86-64");
        assert_eq!(
            library_path_from(Some(PathBuf::from("/x/libonnxruntime.so")), Some(dir)).unwrap(),
            PathBuf::from("/x/libonnxruntime.so")
        );
        assert_eq!(
            library_path_from(Some(PathBuf::new()), Some(dir)).unwrap(),
            dir.join(LIBRARY_FILE_NAME)
        );
        assert_eq!(
            library_path_from(None, Some(dir)).unwrap(),
            dir.join("libonnxruntime.so.1.32.0")
        );
        let e = library_path_from(None, None).unwrap_err();
        assert!(e.message().contains(ENV_LIBRARY), "{e}");
    }
}
