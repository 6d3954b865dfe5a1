//! The streaming sample store the temporal methods share: each frame of the window is read
//! once, aligned if need be, and only the part of it the hole can reach is kept (a crop of
//! RGB and matte as half floats, 8 bytes a pixel) before the next is read; then every hole pixel gathers its
//! candidates from the crops and keeps their reduction (median, or the agreeing group).
//!
//! Memory: the crops (the hole's bounding box, grown by how far the maps reach, once per
//! window frame) plus one frame being read; nothing else grows with the window.

use super::{PlateOptions, ShotFrame, ShotSource};
use crate::error::{Error, Result};

/// A rectangle of frame pixels, `x0..x1` by `y0..y1` (data rows, 0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

/// The pixels of a frame inside a span: RGB and the matte in the fourth value, as half floats
/// (11 significant bits: a 256th of a step of 8-bit values near 1, a relative 5e-4 for float
/// frames, as in half-float EXR plates; HDR values are held at 65504).
pub struct Crop {
    pub span: Span,
    pub px: Vec<[u16; 4]>,
}

impl Crop {
    /// Copies `span` (clipped to the frame) out of `frame`.
    pub fn of(frame: &ShotFrame, span: Span) -> Crop {
        let w = frame.image.width() as usize;
        let h = frame.image.height() as usize;
        // Clipped to the frame, and never inverted (a span from a degenerate map is empty).
        let (x0, y0) = (span.x0.min(w), span.y0.min(h));
        let span = Span {
            x0,
            y0,
            x1: span.x1.clamp(x0, w),
            y1: span.y1.clamp(y0, h),
        };
        let mut px = Vec::with_capacity((span.x1 - span.x0) * (span.y1 - span.y0));
        for y in span.y0..span.y1 {
            for x in span.x0..span.x1 {
                let i = y * w + x;
                let p = &frame.image.data[4 * i..4 * i + 3];
                px.push([half(p[0]), half(p[1]), half(p[2]), half(frame.matte[i])]);
            }
        }
        Crop { span, px }
    }

    /// RGB and matte of frame pixel `(x, y)`, `None` outside the crop.
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> Option<[f32; 4]> {
        let s = &self.span;
        (x >= s.x0 && x < s.x1 && y >= s.y0 && y < s.y1).then(|| {
            let p = self.px[(y - s.y0) * (s.x1 - s.x0) + (x - s.x0)];
            [full(p[0]), full(p[1]), full(p[2]), full(p[3])]
        })
    }
}

/// `v` as an IEEE half float (round to nearest even), held within the half range so that a
/// bright HDR value comes back as 65504 rather than infinity.
pub fn half(v: f32) -> u16 {
    half::f16::from_f32(v.clamp(-65504.0, 65504.0)).to_bits()
}

/// An IEEE half float as `f32`.
pub fn full(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

/// The bounding box of `pixels` (indices, `w` a row); empty for none.
pub fn bounding_box(pixels: &[usize], w: usize) -> Span {
    let mut s = Span {
        x0: usize::MAX,
        y0: usize::MAX,
        x1: 0,
        y1: 0,
    };
    for &i in pixels {
        let (x, y) = (i % w, i / w);
        s.x0 = s.x0.min(x);
        s.y0 = s.y0.min(y);
        s.x1 = s.x1.max(x + 1);
        s.y1 = s.y1.max(y + 1);
    }
    if s.x0 > s.x1 {
        s = Span {
            x0: 0,
            y0: 0,
            x1: 0,
            y1: 0,
        };
    }
    s
}

/// Reads `frames` once each, in order: `prepare(current, frame)` aligns a frame (its state),
/// `reach(state)` tells the span its candidates can come from, and that crop alone is kept.
/// Then, for every `open` pixel, `sample(state, crop, pixel, out)` writes each frame's
/// candidates into `out` (room for `per_frame`; RGB and a weight) and returns how many, and
/// `reduce` turns the pixel's candidates into its value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gather<P>(
    source: &dyn ShotSource,
    t: i32,
    current: &ShotFrame,
    frames: &[i32],
    open: &[usize],
    opts: &PlateOptions,
    per_frame: usize,
    mut prepare: impl FnMut(&ShotFrame, &ShotFrame) -> Result<P>,
    reach: impl Fn(&P) -> Span,
    sample: impl Fn(&P, &Crop, usize, &mut [[f32; 4]]) -> usize,
    reduce: impl Fn(&mut [[f32; 4]]) -> Option<[f32; 3]>,
) -> Result<Vec<Option<[f32; 3]>>> {
    if frames.is_empty() || open.is_empty() {
        return Ok(vec![None; open.len()]);
    }
    let mut kept: Vec<(P, Crop)> = Vec::with_capacity(frames.len());
    for &k in frames {
        if (opts.is_cancelled)() {
            return Err(Error::new(crate::pipeline::CANCELLED));
        }
        let loaded;
        let frame = if k == t {
            current
        } else {
            loaded = source.load(k)?;
            if loaded.image.bounds != current.image.bounds
                || loaded.matte.len() != current.matte.len()
            {
                return Err(Error::new(format!(
                    "frame {k} covers {:?} but frame {t} covers {:?}; all frames of the shot must have the same size",
                    loaded.image.bounds, current.image.bounds
                )));
            }
            &loaded
        };
        let state = prepare(current, frame)?;
        let crop = Crop::of(frame, reach(&state));
        kept.push((state, crop));
    }
    let per_frame = per_frame.max(1);
    let mut buf = vec![[0f32; 4]; per_frame * kept.len()];
    Ok(open
        .iter()
        .map(|&i| {
            let mut n = 0;
            for (state, crop) in &kept {
                n += sample(state, crop, i, &mut buf[n..n + per_frame]).min(per_frame);
            }
            reduce(&mut buf[..n])
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_box_of_pixels() {
        let s = bounding_box(&[12, 13, 25], 10);
        assert_eq!(
            s,
            Span {
                x0: 2,
                y0: 1,
                x1: 6,
                y1: 3
            }
        );
        assert_eq!(bounding_box(&[], 10).x1, 0);
    }

    #[test]
    fn half_floats_round_trip() {
        for v in [
            0.0f32, 1.0, -2.5, 0.5, 65504.0, 1e-5, 3.0e-7, 0.1, 0.9987, 17.3,
        ] {
            let back = full(half(v));
            assert!((back - v).abs() <= v.abs() / 2048.0 + 6e-8, "{v} -> {back}");
        }
        assert_eq!(full(half(1e6)), 65504.0);
        assert!(full(half(f32::NAN)).is_nan());
        // Every 8-bit value comes back within a 4000th.
        for b in 0..=255 {
            let v = b as f32 / 255.0;
            assert!((full(half(v)) - v).abs() < 2.5e-4);
        }
    }
}
