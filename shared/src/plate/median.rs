//! Locked-off camera: each hole pixel is rebuilt from the window's frames in which it is not
//! matted, as the per-channel median of those samples (robust to grain and to a shadow or a
//! reflection passing through some of the frames).

use super::gather::{Crop, bounding_box, gather};
use super::{HOLE_THRESHOLD, PlateOptions, ShotFrame, ShotSource, median_rgb, window_frames};
use crate::error::Result;

/// Median fill of the `open` pixels (indices into the frame's pixels) of frame `t`: one entry
/// per open pixel, `None` where no frame of the window shows it.
pub fn fill(
    source: &dyn ShotSource,
    t: i32,
    current: &ShotFrame,
    open: &[usize],
    opts: &PlateOptions,
) -> Result<Vec<Option<[f32; 3]>>> {
    let frames: Vec<i32> = window_frames(t, opts.window, source.range())
        .into_iter()
        .filter(|&k| k != t)
        .collect();
    let w = current.image.width() as usize;
    gather(
        source,
        t,
        current,
        &frames,
        open,
        opts,
        1,
        |_, _| Ok(()),
        |_| bounding_box(open, w),
        |_, crop: &Crop, i, out| {
            let Some(p) = crop.at(i % w, i / w) else {
                return 0;
            };
            if p[3] > HOLE_THRESHOLD {
                return 0;
            }
            out[0] = [p[0], p[1], p[2], 1.0];
            1
        },
        median_rgb,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::colour::ColourSpace;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::{Method, build};

    /// A shot held in memory.
    pub(crate) struct MemShot(pub Vec<ShotFrame>);
    impl ShotSource for MemShot {
        fn range(&self) -> (i32, i32) {
            (0, self.0.len() as i32 - 1)
        }
        fn load(&self, t: i32) -> Result<ShotFrame> {
            let f = &self.0[t as usize];
            Ok(ShotFrame {
                image: f.image.clone(),
                matte: f.matte.clone(),
            })
        }
    }

    pub(crate) fn opts(method: Method, window: u32) -> PlateOptions<'static> {
        PlateOptions {
            method,
            window,
            flow: None,
            inpaint_model: None,
            frame_colour: ColourSpace::Srgb,
            is_cancelled: &|| false,
            motion_grow: None,
            mattes_mark_people: false,
        }
    }

    /// A textured background.
    pub(crate) fn background(x: f32, y: f32) -> [f32; 4] {
        [
            0.5 + 0.3 * (x * 0.21).sin() * (y * 0.13).cos(),
            0.5 + 0.3 * (x * 0.05 + y * 0.11).sin(),
            0.4 + 0.2 * ((x - y) * 0.07).cos(),
            1.0,
        ]
    }

    #[test]
    fn a_moving_square_is_removed_exactly() {
        let (w, h) = (48, 32);
        let bounds = Rect::from_size(w, h);
        let frames: Vec<ShotFrame> = (0..8)
            .map(|t| {
                let sq = |x: i32, y: i32| x >= 4 + 4 * t && x < 14 + 4 * t && (8..20).contains(&y);
                ShotFrame {
                    image: FloatImage::from_fn(bounds, |x, y| {
                        if sq(x, y) {
                            [1.0, 0.0, 0.0, 1.0]
                        } else {
                            background(x as f32, y as f32)
                        }
                    }),
                    matte: bounds
                        .pixels()
                        .map(|(x, y)| if sq(x, y) { 1.0 } else { 0.0 })
                        .collect(),
                }
            })
            .collect();
        let shot = MemShot(frames);
        let plate = build(&shot, 3, &opts(Method::Median, 8)).unwrap();
        let mut worst = 0f32;
        for (i, (x, y)) in bounds.pixels().enumerate() {
            let b = background(x as f32, y as f32);
            for c in 0..3 {
                worst = worst.max((plate.image.data[4 * i + c] - b[c]).abs());
            }
            assert_eq!(plate.confidence[i], 1.0);
        }
        // Neighbours are kept as half floats: within 2^-11 of values below 1.
        assert!(worst < 5e-4, "worst {worst}");
        assert_eq!(plate.hole.iter().filter(|&&b| b).count(), 120);
    }
}
