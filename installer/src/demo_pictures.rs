//! Pictures for the demo: 8-bit RGB frames read from and written to PNG (rows top-down, as
//! files and web pages have them), scaled, pasted side by side into contact sheets and preview
//! frames, and compared (PSNR, differences).

use std::fs;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use crate::error::{Context, Error, Result};

/// An 8-bit RGB picture, rows top-down.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// Background of sheets and previews.
pub const BACKGROUND: [u8; 3] = [24, 24, 27];
/// Marks a frame the effect made (extend, retime), under the frame in sheets and previews.
pub const MADE: [u8; 3] = [255, 140, 0];
/// Marks a frame of the camera (source or truth).
pub const REAL: [u8; 3] = [90, 90, 96];

/// A tile of a sheet: a picture and the colour of the strip under it (none: no strip).
pub type Tile = (Picture, Option<[u8; 3]>);

impl Picture {
    pub fn new(width: u32, height: u32, fill: [u8; 3]) -> Picture {
        Picture {
            width,
            height,
            rgb: fill.repeat((width * height) as usize),
        }
    }

    /// Reads a PNG of any colour type and depth as 8-bit RGB (alpha dropped).
    pub fn read(path: &Path) -> Result<Picture> {
        let file = fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
        let mut decoder = png::Decoder::new(BufReader::new(file));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .context(|| format!("{} is not a readable PNG", path.display()))?;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| Error::new(format!("{}: PNG too large", path.display())))?;
        let mut buf = vec![0u8; size];
        let info = reader
            .next_frame(&mut buf)
            .context(|| format!("{} is not a readable PNG", path.display()))?;
        let channels = info.color_type.samples();
        let mut rgb = Vec::with_capacity((info.width * info.height * 3) as usize);
        for row in 0..info.height as usize {
            let line = &buf[row * info.line_size..];
            for x in 0..info.width as usize {
                let p = &line[x * channels..x * channels + channels];
                match channels {
                    1 | 2 => rgb.extend_from_slice(&[p[0], p[0], p[0]]),
                    _ => rgb.extend_from_slice(&p[..3]),
                }
            }
        }
        Ok(Picture {
            width: info.width,
            height: info.height,
            rgb,
        })
    }

    /// Writes an 8-bit RGB PNG through a temporary file renamed into place.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
        }
        let tmp = path.with_extension("png.partial");
        let written = (|| -> Result<()> {
            let file =
                fs::File::create(&tmp).context(|| format!("cannot create {}", tmp.display()))?;
            let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder
                .write_header()
                .context(|| format!("cannot write {}", tmp.display()))?;
            writer
                .write_image_data(&self.rgb)
                .context(|| format!("cannot write {}", tmp.display()))?;
            writer
                .finish()
                .context(|| format!("cannot write {}", tmp.display()))
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, path).context(|| format!("cannot write {}", path.display()))
    }

    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// This picture at `width` x `height`: each output pixel averages the source pixels under it
    /// (at least the nearest one, so enlarging repeats pixels and shows them as they are).
    pub fn scaled(&self, width: u32, height: u32) -> Picture {
        let mut out = Picture::new(width, height, [0; 3]);
        for y in 0..height {
            let y0 = (y as u64 * self.height as u64 / height as u64) as u32;
            let y1 = (((y + 1) as u64 * self.height as u64 / height as u64) as u32).max(y0 + 1);
            for x in 0..width {
                let x0 = (x as u64 * self.width as u64 / width as u64) as u32;
                let x1 = (((x + 1) as u64 * self.width as u64 / width as u64) as u32).max(x0 + 1);
                let mut sum = [0u32; 3];
                for sy in y0..y1.min(self.height) {
                    for sx in x0..x1.min(self.width) {
                        for (acc, v) in sum.iter_mut().zip(self.get(sx, sy)) {
                            *acc += v as u32;
                        }
                    }
                }
                let n = (y1.min(self.height) - y0) * (x1.min(self.width) - x0);
                let o = ((y * width + x) * 3) as usize;
                for (dst, acc) in out.rgb[o..o + 3].iter_mut().zip(sum) {
                    *dst = ((acc + n / 2) / n) as u8;
                }
            }
        }
        out
    }

    /// Copies `tile` with its top-left corner at (`left`, `top`), clipped to this picture.
    pub fn paste(&mut self, tile: &Picture, left: u32, top: u32) {
        for ty in 0..tile.height.min(self.height.saturating_sub(top)) {
            let w = tile.width.min(self.width.saturating_sub(left)) as usize;
            let src = (ty * tile.width * 3) as usize;
            let dst = (((top + ty) * self.width + left) * 3) as usize;
            self.rgb[dst..dst + 3 * w].copy_from_slice(&tile.rgb[src..src + 3 * w]);
        }
    }

    /// Fills a rectangle, clipped to this picture.
    pub fn fill(&mut self, left: u32, top: u32, width: u32, height: u32, colour: [u8; 3]) {
        for y in top..(top + height).min(self.height) {
            for x in left..(left + width).min(self.width) {
                let o = ((y * self.width + x) * 3) as usize;
                self.rgb[o..o + 3].copy_from_slice(&colour);
            }
        }
    }
}

/// Peak signal-to-noise ratio of `a` against `b` over RGB, in dB (peak 255); infinite when equal.
pub fn psnr(a: &Picture, b: &Picture) -> Result<f64> {
    same_size(a, b)?;
    let sum: f64 = a
        .rgb
        .iter()
        .zip(&b.rgb)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    let mse = sum / a.rgb.len() as f64;
    Ok(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    })
}

/// The mean of `a` and `b`: what blending two frames 50/50 gives.
pub fn mix(a: &Picture, b: &Picture) -> Result<Picture> {
    same_size(a, b)?;
    Ok(Picture {
        width: a.width,
        height: a.height,
        rgb: a
            .rgb
            .iter()
            .zip(&b.rgb)
            .map(|(&x, &y)| (x as u16 + y as u16).div_ceil(2) as u8)
            .collect(),
    })
}

/// The largest channel difference of each pixel, times `gain`, as grey.
pub fn difference(a: &Picture, b: &Picture, gain: u32) -> Result<Picture> {
    same_size(a, b)?;
    let mut rgb = Vec::with_capacity(a.rgb.len());
    for (p, q) in a.rgb.chunks_exact(3).zip(b.rgb.chunks_exact(3)) {
        let d = (0..3).map(|c| p[c].abs_diff(q[c])).max().unwrap_or(0) as u32;
        let v = (d * gain).min(255) as u8;
        rgb.extend_from_slice(&[v, v, v]);
    }
    Ok(Picture {
        width: a.width,
        height: a.height,
        rgb,
    })
}

/// The fraction of pixels whose colour differs between `a` and `b` by more than `tolerance`
/// in some channel.
pub fn changed_fraction(a: &Picture, b: &Picture, tolerance: u8) -> Result<f64> {
    same_size(a, b)?;
    let changed = a
        .rgb
        .chunks_exact(3)
        .zip(b.rgb.chunks_exact(3))
        .filter(|(p, q)| (0..3).any(|c| p[c].abs_diff(q[c]) > tolerance))
        .count();
    Ok(changed as f64 / (a.width * a.height) as f64)
}

fn same_size(a: &Picture, b: &Picture) -> Result<()> {
    if a.width != b.width || a.height != b.height {
        return Err(Error::new(format!(
            "cannot compare a {}x{} frame with a {}x{} one",
            a.width, a.height, b.width, b.height
        )));
    }
    Ok(())
}

/// A grid of tiles: each row's tiles left to right, rows top to bottom, with a gap around each
/// tile; a tile with a mark colour gets a strip of that colour under it.
pub fn sheet(rows: &[Vec<Tile>]) -> Picture {
    const GAP: u32 = 8;
    const STRIP: u32 = 5;
    let row_height =
        |row: &Vec<Tile>| row.iter().map(|(t, _)| t.height).max().unwrap_or(0) + STRIP + GAP;
    let width = rows
        .iter()
        .map(|r| r.iter().map(|(t, _)| t.width + GAP).sum::<u32>() + GAP)
        .max()
        .unwrap_or(GAP);
    let height = rows.iter().map(row_height).sum::<u32>() + GAP;
    let mut out = Picture::new(width, height, BACKGROUND);
    let mut top = GAP;
    for row in rows {
        let mut left = GAP;
        for (tile, mark) in row {
            out.paste(tile, left, top);
            if let Some(colour) = mark {
                out.fill(left, top + tile.height, tile.width, STRIP, *colour);
            }
            left += tile.width + GAP;
        }
        top += row_height(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(v: u8) -> Picture {
        Picture::new(4, 2, [v; 3])
    }

    #[test]
    fn psnr_of_a_known_difference() {
        // Every value off by 1: MSE 1, PSNR 20 log10(255) = 48.13 dB.
        let p = psnr(&flat(10), &flat(11)).unwrap();
        assert!((p - 48.1308).abs() < 1e-3, "{p}");
        assert!(psnr(&flat(10), &flat(10)).unwrap().is_infinite());
        assert!(psnr(&flat(10), &Picture::new(2, 2, [0; 3])).is_err());
    }

    #[test]
    fn scaling_averages_down_and_repeats_up() {
        let mut p = Picture::new(2, 1, [0; 3]);
        p.rgb = vec![0, 0, 0, 200, 100, 50];
        assert_eq!(p.scaled(1, 1).rgb, vec![100, 50, 25]);
        assert_eq!(
            p.scaled(4, 1).rgb,
            vec![0, 0, 0, 0, 0, 0, 200, 100, 50, 200, 100, 50]
        );
    }

    #[test]
    fn png_round_trip() {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-demo-pictures-{}", std::process::id()));
        let mut p = Picture::new(3, 2, [1, 2, 3]);
        p.fill(1, 1, 1, 1, [250, 128, 0]);
        let path = dir.join("p.png");
        p.write(&path).unwrap();
        assert_eq!(Picture::read(&path).unwrap(), p);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn sheet_places_tiles_and_marks() {
        let s = sheet(&[vec![(flat(200), Some(MADE)), (flat(100), None)]]);
        assert_eq!((s.width, s.height), (8 + 4 + 8 + 4 + 8, 8 + 2 + 5 + 8));
        assert_eq!(s.get(8, 8), [200; 3]);
        assert_eq!(s.get(8, 10), MADE);
        assert_eq!(s.get(20, 8), [100; 3]);
        assert_eq!(s.get(20, 10), BACKGROUND);
    }
}
