//! How long the plugin's allocator keeps freed memory before giving it back to the system.
//!
//! mimalloc (the plugin's global allocator, see lib.rs) gives freed memory back after a delay,
//! one second by default. ExtendShot frees a frame's working buffers and asks for the same
//! sizes again about a second later, in the next frame: with the default, about half of its
//! 1080p frames found that memory already given back and faulted fresh pages in (the new
//! frame's blend took 100 ms instead of 30). Ten seconds covers a slow 4K frame; memory a
//! session no longer uses still goes back ten seconds after its last render.

use std::ffi::{c_int, c_long};
use std::sync::Once;

/// How long freed memory is kept, in milliseconds.
pub const PURGE_DELAY_MS: c_long = 10_000;

/// `mi_option_purge_delay` in the option list of mimalloc v3 (the version the `mimalloc`
/// crate builds by default); the test below checks it is the option with purge_delay's
/// default.
const MI_OPTION_PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_option_get(option: c_int) -> c_long;
}

/// Sets the delay, once per process (called from the entry points the host calls first).
pub fn configure_allocator() {
    static ONCE: Once = Once::new();
    // SAFETY: mimalloc's option setters take any option number and value; setting an option
    // while other threads allocate is allowed.
    ONCE.call_once(|| unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) });
}

/// The delay in force, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    // SAFETY: reading an option has no preconditions.
    unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc v3's purge_delay defaults to 1000 ms, which no other option of the list
        // near it has (a different mimalloc would fail here before we set the wrong one).
        assert_eq!(purge_delay_ms(), 1000);
        configure_allocator();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
