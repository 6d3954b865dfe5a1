//! Reading and writing frames: PNG (8 and 16 bit) and OpenEXR (RGBA float), as RGBA f32 with rows y-up.
//!
//! Files store rows top-down; everything past this module uses the OFX convention (row 0 at the bottom),
//! so rows are flipped here and nowhere else. Outputs go through a temporary file renamed into place.
//! Files without alpha read as opaque; a matte clip reads them by their luminance instead.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};

/// An RGBA float image, rows bottom-up (OFX order).
#[derive(Clone, Debug, PartialEq)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Rgba {
    pub fn pixel(&self, x: u32, y: u32) -> [f32; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }
}

/// How many bits per channel a PNG output gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PngBits {
    Eight,
    Sixteen,
}

/// Reads a PNG or EXR file, chosen by extension (opaque where the file has no alpha).
pub fn read(path: &Path) -> Result<Rgba> {
    read_with_alpha(path).map(|(image, _)| image)
}

/// Reads a PNG or EXR file, chosen by extension, and tells whether it has an alpha channel.
pub fn read_with_alpha(path: &Path) -> Result<(Rgba, bool)> {
    match extension(path).as_str() {
        "png" => read_png(path),
        "exr" => read_exr(path),
        other => Err(Error::new(format!(
            "{}: unsupported file type {other:?} (use .png or .exr)",
            path.display()
        ))),
    }
}

/// Rec. 709 luma weights of R, G, B.
pub const LUMA_709: [f32; 3] = [0.2126, 0.7152, 0.0722];

/// Sets every pixel's alpha to the Rec. 709 luma of its (decoded, unlinearised) RGB: how a matte
/// without alpha (a black-and-white or grey image) is read.
pub fn luminance_into_alpha(rgba: &mut [f32]) {
    for px in rgba.chunks_exact_mut(4) {
        px[3] = LUMA_709[0] * px[0] + LUMA_709[1] * px[1] + LUMA_709[2] * px[2];
    }
}

/// Writes a PNG or EXR file, chosen by extension, via a temporary file renamed into place.
pub fn write(path: &Path, image: &Rgba, png_bits: PngBits) -> Result<()> {
    let ext = extension(path);
    if ext != "png" && ext != "exr" {
        return Err(Error::new(format!(
            "{}: unsupported file type {ext:?} (use .png or .exr)",
            path.display()
        )));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = temp_path(path);
    let written = if ext == "png" {
        write_png(&tmp, image, png_bits)
    } else {
        write_exr(&tmp, image)
    };
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).context(|| format!("cannot write {}", path.display()))
}

/// Bits per channel a file stores: 8 or 16 for PNG (fewer than 8 counts as 8), 32 for EXR.
pub fn stored_bits(path: &Path) -> Result<u8> {
    match extension(path).as_str() {
        "exr" => Ok(32),
        "png" => {
            let file =
                fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
            let reader = png::Decoder::new(std::io::BufReader::new(file))
                .read_info()
                .context(|| format!("{} is not a readable PNG", path.display()))?;
            Ok(if reader.info().bit_depth == png::BitDepth::Sixteen {
                16
            } else {
                8
            })
        }
        other => Err(Error::new(format!(
            "{}: unsupported file type {other:?} (use .png or .exr)",
            path.display()
        ))),
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A hidden file beside `path`, kept with the same extension so the writers pick the same format.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}.partial.{}",
        std::process::id(),
        extension(path)
    ))
}

fn read_png(path: &Path) -> Result<(Rgba, bool)> {
    let file = fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .context(|| format!("{} is not a readable PNG", path.display()))?;
    let mut buf =
        vec![
            0u8;
            reader
                .output_buffer_size()
                .ok_or_else(|| Error::new(format!("{}: PNG too large", path.display())))?
        ];
    let info = reader
        .next_frame(&mut buf)
        .context(|| format!("{} is not a readable PNG", path.display()))?;
    let (w, h) = (info.width, info.height);
    let channels = info.color_type.samples();
    let sixteen = info.bit_depth == png::BitDepth::Sixteen;
    let line = info.line_size;
    let mut data = vec![0f32; (w * h * 4) as usize];
    for row in 0..h {
        let src = &buf[row as usize * line..];
        let y = h - 1 - row; // file rows are top-down
        for x in 0..w {
            let mut v = [0f32; 4];
            for (c, slot) in v.iter_mut().enumerate().take(channels) {
                let i = x as usize * channels + c;
                *slot = if sixteen {
                    u16::from_be_bytes([src[2 * i], src[2 * i + 1]]) as f32 / 65535.0
                } else {
                    src[i] as f32 / 255.0
                };
            }
            let rgba = match channels {
                1 => [v[0], v[0], v[0], 1.0],
                2 => [v[0], v[0], v[0], v[1]],
                3 => [v[0], v[1], v[2], 1.0],
                _ => v,
            };
            let o = ((y * w + x) * 4) as usize;
            data[o..o + 4].copy_from_slice(&rgba);
        }
    }
    // After EXPAND, grey+alpha and RGBA (tRNS included) have an alpha sample.
    let has_alpha = channels == 2 || channels == 4;
    Ok((
        Rgba {
            width: w,
            height: h,
            data,
        },
        has_alpha,
    ))
}

fn write_png(path: &Path, image: &Rgba, bits: PngBits) -> Result<()> {
    let file = fs::File::create(path).context(|| format!("cannot create {}", path.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), image.width, image.height);
    encoder.set_color(png::ColorType::Rgba);
    // The default (balanced) deflate took about 70% of a 1080p Inference render's time; fast
    // deflate writes somewhat larger files in a fraction of it.
    encoder.set_compression(png::Compression::Fast);
    encoder.set_depth(if bits == PngBits::Eight {
        png::BitDepth::Eight
    } else {
        png::BitDepth::Sixteen
    });
    let mut writer = encoder
        .write_header()
        .context(|| format!("cannot write {}", path.display()))?;
    let (w, h) = (image.width as usize, image.height as usize);
    let mut out = Vec::with_capacity(w * h * 4 * if bits == PngBits::Eight { 1 } else { 2 });
    for row in 0..h {
        let y = h - 1 - row;
        for &v in &image.data[y * w * 4..(y + 1) * w * 4] {
            let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
            match bits {
                PngBits::Eight => out.push((v * 255.0).round() as u8),
                PngBits::Sixteen => {
                    out.extend_from_slice(&((v * 65535.0).round() as u16).to_be_bytes())
                }
            }
        }
    }
    writer
        .write_image_data(&out)
        .context(|| format!("cannot write {}", path.display()))?;
    writer
        .finish()
        .context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn read_exr(path: &Path) -> Result<(Rgba, bool)> {
    use exr::prelude::*;
    let meta = exr::meta::MetaData::read_from_file(path, false)
        .context(|| format!("{} is not a readable OpenEXR image", path.display()))?;
    let has_alpha = meta.headers.first().is_some_and(|h| {
        h.channels
            .list
            .iter()
            .any(|c| c.name.to_string().eq_ignore_ascii_case("A"))
    });
    let image = read_first_rgba_layer_from_file(
        path,
        |resolution, _channels| {
            let (w, h) = (resolution.width(), resolution.height());
            (w, h, vec![0f32; w * h * 4])
        },
        |(w, h, data), pos, (r, g, b, a): (f32, f32, f32, f32)| {
            let y = *h - 1 - pos.y(); // file rows are top-down
            let o = (y * *w + pos.x()) * 4;
            data[o..o + 4].copy_from_slice(&[r, g, b, a]);
        },
    )
    .context(|| format!("{} is not a readable OpenEXR RGBA image", path.display()))?;
    let (w, h, data) = image.layer_data.channel_data.pixels;
    Ok((
        Rgba {
            width: w as u32,
            height: h as u32,
            data,
        },
        has_alpha,
    ))
}

fn write_exr(path: &Path, image: &Rgba) -> Result<()> {
    let (w, h) = (image.width as usize, image.height as usize);
    exr::prelude::write_rgba_file(path, w, h, |x, row| {
        let o = ((h - 1 - row) * w + x) * 4;
        let d = &image.data;
        (d[o], d[o + 1], d[o + 2], d[o + 3])
    })
    .context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Rgba {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[
                    x as f32 / 255.0,
                    y as f32 / 255.0,
                    ((x + y) % 256) as f32 / 255.0,
                    1.0,
                ]);
            }
        }
        Rgba {
            width: w,
            height: h,
            data,
        }
    }

    #[test]
    fn png_and_exr_round_trip() {
        let dir = std::env::temp_dir().join(format!("pixelspace-io-{}", std::process::id()));
        let img = gradient(7, 5);
        for (name, bits) in [
            ("a.png", PngBits::Eight),
            ("b.png", PngBits::Sixteen),
            ("c.exr", PngBits::Eight),
        ] {
            let p = dir.join(name);
            write(&p, &img, bits).unwrap();
            let back = read(&p).unwrap();
            assert_eq!((back.width, back.height), (7, 5));
            for (a, b) in img.data.iter().zip(&back.data) {
                assert!((a - b).abs() < 1e-6, "{name}: {a} vs {b}");
            }
        }
        // Row order: the first file row is the top of the image (highest y).
        let raw = png::Decoder::new(std::io::BufReader::new(
            fs::File::open(dir.join("a.png")).unwrap(),
        ));
        let mut r = raw.read_info().unwrap();
        let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
        r.next_frame(&mut buf).unwrap();
        assert_eq!(buf[1], 4); // green of file row 0 = y 4
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn alpha_is_known_and_luminance_fills_it() {
        let dir = std::env::temp_dir().join(format!("pixelspace-alpha-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let rgb = dir.join("rgb.png");
        let file = fs::File::create(&rgb).unwrap();
        let mut encoder = png::Encoder::new(BufWriter::new(file), 2, 1);
        encoder.set_color(png::ColorType::Rgb);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&[255, 0, 0, 0, 255, 0]).unwrap();
        writer.finish().unwrap();
        let (mut image, has_alpha) = read_with_alpha(&rgb).unwrap();
        assert!(!has_alpha);
        assert_eq!(image.pixel(0, 0)[3], 1.0);
        luminance_into_alpha(&mut image.data);
        assert!((image.pixel(0, 0)[3] - 0.2126).abs() < 1e-6);
        assert!((image.pixel(1, 0)[3] - 0.7152).abs() < 1e-6);
        for name in ["rgba.png", "rgba.exr"] {
            write(&dir.join(name), &gradient(3, 2), PngBits::Eight).unwrap();
            assert!(read_with_alpha(&dir.join(name)).unwrap().1, "{name}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
