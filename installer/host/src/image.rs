//! Frames crossing the host boundary: full-resolution RGBA float, rows bottom-up.

/// An RGBA float image, rows bottom-up (row 0 is y = 0, the bottom row),
/// `data.len() == width * height * 4`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl HostImage {
    /// RGBA of pixel (x, y), y up.
    pub fn pixel(&self, x: u32, y: u32) -> [f32; 4] {
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }
}

/// A clip's frames, read lazily by the host (possibly from several threads at once).
pub trait FrameSource: Send + Sync {
    /// First and last frame, both included.
    fn frame_range(&self) -> (i32, i32);
    /// Full-resolution width and height in pixels.
    fn rod(&self) -> (u32, u32);
    /// Frame `frame` at full resolution, RGBA float, y up; must be `rod()` sized.
    fn read(&self, frame: i32) -> Result<HostImage, String>;
}
