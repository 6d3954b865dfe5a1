//! The Pixelspace OpenFX plugin.
