//! How the host presents images to the plugin during a render.

/// Pixel depth the host offers on its clips (the plugin's clip preferences may change it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Byte,
    Short,
    Float,
}

/// Row order of image buffers handed to the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrder {
    /// Bottom row first in memory, positive rowBytes.
    BottomUp,
    /// Top row first in memory, negative rowBytes (the data pointer is the bottom row).
    TopDown,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    pub depth: Depth,
    /// Render scale in (0, 1]; sources are box-filtered down to it.
    pub scale: f64,
    /// Frames rendered at once for fully thread-safe effects, and the CPU count
    /// reported by the multithread suite.
    pub threads: usize,
    pub row_order: RowOrder,
    /// Extra bytes at the end of every image row.
    pub row_padding: usize,
    /// Split each frame's render window into tiles of this size (effects that support tiles).
    pub tile: Option<(u32, u32)>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            depth: Depth::Float,
            scale: 1.0,
            threads: 1,
            row_order: RowOrder::BottomUp,
            row_padding: 0,
            tile: None,
        }
    }
}
