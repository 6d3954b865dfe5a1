//! A headless OpenFX host.
mod ffi;
