//! `pixelspace demo`: renders the demo shots (real photos through the generated test models) with the
//! Inference effect in the reference host, and writes the renders plus a contact sheet PNG.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use pixelspace_host::{Depth, Host, HostImage, RenderOptions};

use crate::bench::{INFERENCE, MODEL_PARAM};
use crate::error::{Error, Result};
use crate::imageio::{self, PngBits, Rgba};
use crate::paths;
use crate::render::PatternSource;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the renders and contact_sheet.png go.
    #[arg(long, default_value = "pixelspace-demo")]
    pub out: PathBuf,
    /// Generated test data (models/ and photos/; default: PIXELSPACE_TEST_DATA, else <target>/test-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// OFX plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
}

const PHOTOS: [&str; 3] = ["astronaut", "coffee", "chelsea"];
/// (model, what it shows)
const MODELS: [(&str, &str); 4] = [
    ("conv1x1", "colour matrix"),
    ("residual", "residual grade"),
    ("alpha_out", "luma to alpha"),
    ("fixed256", "fixed 256x256 model, resized in and out"),
];
const THUMB_HEIGHT: u32 = 160;
const GAP: u32 = 8;

fn data_dir(args: &DemoArgs) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = args
        .data
        .clone()
        .into_iter()
        .chain(std::env::var_os("PIXELSPACE_TEST_DATA").map(PathBuf::from))
        .chain(paths::exe_dir().map(|d| d.join("../test-data")))
        .collect();
    candidates.into_iter().find(|d| d.join("models").is_dir() && d.join("photos").is_dir()).ok_or_else(|| {
        Error::new(
            "demo data not found; generate it with `python3 tests/data/make_models.py target/test-data/models` and \
             `python3 tests/data/make_photos.py target/test-data/photos`, or pass --data",
        )
    })
}

/// Area-averaged thumbnail of `height` rows; alpha shown over a mid-grey background.
fn thumbnail(img: &Rgba, height: u32) -> Rgba {
    let width = ((img.width as f64 * height as f64 / img.height as f64).round() as u32).max(1);
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        let (y0, y1) = (
            y * img.height / height,
            ((y + 1) * img.height / height).max(y * img.height / height + 1),
        );
        for x in 0..width {
            let (x0, x1) = (
                x * img.width / width,
                ((x + 1) * img.width / width).max(x * img.width / width + 1),
            );
            let mut acc = [0f32; 4];
            for sy in y0..y1.min(img.height) {
                for sx in x0..x1.min(img.width) {
                    let p = img.pixel(sx, sy);
                    for c in 0..3 {
                        acc[c] += p[c].clamp(0.0, 1.0) * p[3].clamp(0.0, 1.0)
                            + 0.5 * (1.0 - p[3].clamp(0.0, 1.0));
                    }
                    acc[3] += 1.0;
                }
            }
            data.extend_from_slice(&[acc[0] / acc[3], acc[1] / acc[3], acc[2] / acc[3], 1.0]);
        }
    }
    Rgba {
        width,
        height,
        data,
    }
}

/// Alpha shown as grey, for the luma-to-alpha model.
fn alpha_as_grey(img: &Rgba) -> Rgba {
    let data = img
        .data
        .chunks_exact(4)
        .flat_map(|p| [p[3], p[3], p[3], 1.0])
        .collect();
    Rgba {
        data,
        ..img.clone()
    }
}

fn paste(sheet: &mut Rgba, tile: &Rgba, left: u32, top: u32) {
    // `top` counts from the top of the sheet; rows are stored bottom-up.
    for ty in 0..tile.height {
        let sy = sheet.height - 1 - (top + (tile.height - 1 - ty));
        for tx in 0..tile.width {
            let o = ((sy * sheet.width + left + tx) * 4) as usize;
            sheet.data[o..o + 4].copy_from_slice(&tile.pixel(tx, ty));
        }
    }
}

fn render_one(host: &Host, model: &Path, photo_pattern: &str) -> Result<Rgba> {
    let mut instance = host.instance(INFERENCE)?;
    instance.set_param(MODEL_PARAM, &model.display().to_string())?;
    instance.connect(
        "Source",
        Arc::new(PatternSource::open(photo_pattern, (1, 1))?),
    )?;
    let opts = RenderOptions {
        depth: Depth::Byte,
        scale: 1.0,
        threads: 1,
        ..RenderOptions::default()
    };
    let result = std::sync::Mutex::new(None);
    let sink = |_: i32, image: HostImage| -> std::result::Result<(), String> {
        *result.lock().unwrap() = Some(Rgba {
            width: image.width,
            height: image.height,
            data: image.data,
        });
        Ok(())
    };
    instance.render_frames(&[1], &opts, &sink).map_err(|e| {
        let messages = instance.messages().join("; ");
        Error::new(format!(
            "{} on {photo_pattern}: {e} {messages}",
            model.display()
        ))
    })?;
    result
        .into_inner()
        .unwrap()
        .ok_or_else(|| Error::new("the host returned no frame"))
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let data = data_dir(args)?;
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let host = Host::new(&[plugin_dir])?;
    let mut rows: Vec<Vec<Rgba>> = Vec::new();
    for photo in PHOTOS {
        let pattern = format!("{}/%04d.png", data.join("photos").join(photo).display());
        let original = imageio::read(&data.join("photos").join(photo).join("0001.png"))?;
        let mut row = vec![thumbnail(&original, THUMB_HEIGHT)];
        for (model, label) in MODELS {
            let model_path = data.join("models").join(format!("{model}.onnx"));
            let rendered = render_one(&host, &model_path, &pattern)?;
            let path = args.out.join(format!("{photo}_{model}.png"));
            imageio::write(&path, &rendered, PngBits::Eight)?;
            println!("{photo:>10} x {model:<14} ({label}) -> {}", path.display());
            let shown = if model == "alpha_out" {
                alpha_as_grey(&rendered)
            } else {
                rendered
            };
            row.push(thumbnail(&shown, THUMB_HEIGHT));
        }
        rows.push(row);
    }
    let width = rows
        .iter()
        .map(|r| r.iter().map(|t| t.width + GAP).sum::<u32>() + GAP)
        .max()
        .unwrap_or(GAP);
    let height = rows.len() as u32 * (THUMB_HEIGHT + GAP) + GAP;
    let mut sheet = Rgba {
        width,
        height,
        data: [0.12f32, 0.12, 0.12, 1.0].repeat((width * height) as usize),
    };
    for (r, row) in rows.iter().enumerate() {
        let mut left = GAP;
        for tile in row {
            paste(
                &mut sheet,
                tile,
                left,
                GAP + r as u32 * (THUMB_HEIGHT + GAP),
            );
            left += tile.width + GAP;
        }
    }
    let sheet_path = args.out.join("contact_sheet.png");
    imageio::write(&sheet_path, &sheet, PngBits::Eight)?;
    println!(
        "contact sheet (columns: original, {}) -> {}",
        MODELS.map(|m| m.1).join(", "),
        sheet_path.display()
    );
    Ok(())
}
