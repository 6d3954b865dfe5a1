//! What several effects declare the same way: the pixel depths they take, and the Output and
//! Source clips of an effect that works on whole frames from several times.

use pixelspace_shared::image::{Components, PixelDepth};

use crate::ofx::{ImageEffect, Result};

/// Every depth a host may offer; each effect takes all of them.
pub const ALL_DEPTHS: &[PixelDepth] = &[
    PixelDepth::Byte,
    PixelDepth::Short,
    PixelDepth::Half,
    PixelDepth::Float,
];

/// Declares the `output` clip and a temporal `source` clip, both RGBA and without tiles.
pub fn define_whole_frame_clips(effect: &ImageEffect, output: &str, source: &str) -> Result<()> {
    effect
        .define_clip(output)?
        .supported_components(&[Components::Rgba])?
        .supports_tiles(false)?;
    effect
        .define_clip(source)?
        .supported_components(&[Components::Rgba])?
        .temporal_access(true)?
        .supports_tiles(false)?;
    Ok(())
}
