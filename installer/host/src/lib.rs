//! A headless OpenFX host.
