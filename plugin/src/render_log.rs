//! For benchmarks across hosts: when `PIXELSPACE_RENDER_LOG` names a file, every render action
//! appends one line to it, `EFFECT_ID<TAB>TIME<TAB>SECONDS<TAB>PLUGIN_BINARY`: the action's wall
//! time inside the plugin (model loading on first use included) and which plugin binary ran it
//! (a host that finds two Pixelspace bundles, such as MLT, which always scans /usr/OFX/Plugins,
//! loads both). `pixelspace bench hosts` reads it to compare the
//! plugin's own time in two hosts, whatever each host spends reading and writing files. Unset
//! (the normal case), nothing is measured or written.

use std::io::Write;
use std::time::Duration;

/// The environment variable naming the log file.
pub const ENV: &str = "PIXELSPACE_RENDER_LOG";

/// Whether render actions are being logged.
pub fn enabled() -> bool {
    std::env::var_os(ENV).is_some_and(|p| !p.is_empty())
}

/// Appends one render action's line (errors are ignored: a benchmark aid never fails a render).
pub fn record(effect_id: &str, time: f64, took: Duration) {
    let Some(path) = std::env::var_os(ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let binary = crate::ofx::path::binary_path().unwrap_or_default();
    let line = format!(
        "{effect_id}\t{time}\t{:.6}\t{}\n",
        took.as_secs_f64(),
        binary.display()
    );
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
