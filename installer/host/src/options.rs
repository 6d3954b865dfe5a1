//! What the host offers plugins (its profile) and how it presents images to
//! the plugin during a render.

/// What the host offers plugins. A process uses one profile: the first [`crate::Host`] made
/// fixes it (plugins keep the host they were loaded by), and a host of the other profile in the
/// same process fails to open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HostProfile {
    /// Everything this host can do: general and filter contexts, temporal clip access, clip
    /// frame ranges, the time-domain and frames-needed actions, tiles and render scales.
    #[default]
    Full,
    /// What MLT's host (Shotcut, Kdenlive) offers: temporal clip access, tiles and
    /// multi-resolution reported as 0; the filter context only (instances are made in it, and
    /// effects without it fail); a clip's image fetch returns the frame being rendered whatever
    /// time is asked for; reading a clip's frame range fails (`kOfxStatErrUnknown`);
    /// [`crate::Instance::time_domain`] and [`crate::Instance::frames_needed`] fail without
    /// asking the effect; renders are whole frames at scale 1.
    Restricted,
}

impl HostProfile {
    /// `full` or `restricted`.
    pub fn name(self) -> &'static str {
        match self {
            HostProfile::Full => "full",
            HostProfile::Restricted => "restricted",
        }
    }
}

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
