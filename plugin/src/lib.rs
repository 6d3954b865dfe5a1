//! The Pixelspace OpenFX plugin: the binary's entry points and the list of effects.
//!
//! The host calls `OfxGetNumberOfPlugins` and `OfxGetPlugin`; each effect's record carries its
//! own `mainEntry` (see [`ofx::dispatch`]). All effects appear under the menu group
//! "Pixelspace".

/// The plugin's own Rust allocations (not the host's) go through mimalloc, which keeps freed
/// memory for reuse before giving it back (for ten seconds, see [`memory`]): a render's large
/// working buffers (frames, flows) are then reused by the next frame instead of coming fresh
/// from the kernel, page faults and zeroing included.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod clean_plate;
pub mod common;
pub mod extend_shot;
pub mod face;
pub mod host_offers;
pub mod inference;
pub mod memory;
pub mod ofx;
pub mod render_log;
pub mod runtime;

use std::ffi::c_int;

use ofx::PluginEntry;

/// Menu group of every Pixelspace effect.
pub const GROUP: &str = "Pixelspace";

static CLEAN_PLATE: PluginEntry = PluginEntry::new::<clean_plate::CleanPlate>();
static INFERENCE: PluginEntry = PluginEntry::new::<inference::Inference>();
static EXTEND_SHOT: PluginEntry = PluginEntry::new::<extend_shot::ExtendShot>();
static FACE: PluginEntry = PluginEntry::new::<face::Face>();

/// The effects in this binary.
pub static PLUGINS: &[&PluginEntry] = &[&INFERENCE, &EXTEND_SHOT, &FACE, &CLEAN_PLATE];

/// Number of effects in this binary (OFX entry point).
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetNumberOfPlugins() -> c_int {
    memory::configure_allocator();
    ofx::dispatch::number_of_plugins(PLUGINS)
}

/// The `nth` effect's `OfxPlugin` record, or null (OFX entry point).
#[unsafe(no_mangle)]
pub extern "C" fn OfxGetPlugin(nth: c_int) -> *const PluginEntry {
    memory::configure_allocator();
    ofx::dispatch::get_plugin(PLUGINS, nth)
}
