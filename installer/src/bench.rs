//! `pixelspace bench`: time per frame of the Inference effect through the reference host and the
//! plugin, against a bare ONNX Runtime `run` of the same model on the same tensor, interleaved in one
//! run; prints medians and the overhead ratio. A measurement, not a test.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use pixelspace_host::{Depth, FrameSource, Host, HostImage, RenderOptions};
use pixelspace_shared::runtime::{self, InputTensor, Provider, SessionCache};

use crate::doctor::bundle_runtime_library;
use crate::error::{Error, Result};
use crate::paths;

/// The effect that runs any manifest-described model.
pub const INFERENCE: &str = "org.pixelspace.Inference";
/// Its parameter holding the model file.
pub const MODEL_PARAM: &str = "model";
/// Its parameter saying how the host's frames are encoded (auto, linear, srgb).
pub const COLOUR_PARAM: &str = "colourSpace";

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Model to run (default: the generated bench_convnet test model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Interleaved repetitions of each measurement.
    #[arg(long, default_value_t = 7)]
    pub reps: usize,
    /// Frame width.
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    /// Frame height.
    #[arg(long, default_value_t = 1080)]
    pub height: u32,
    /// OFX plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
}

/// One frame held in memory, the same for every time.
pub struct MemorySource {
    pub image: HostImage,
}

impl FrameSource for MemorySource {
    fn frame_range(&self) -> (i32, i32) {
        (0, 1_000_000)
    }
    fn rod(&self) -> (u32, u32) {
        (self.image.width, self.image.height)
    }
    fn read(&self, _frame: i32) -> std::result::Result<HostImage, String> {
        Ok(self.image.clone())
    }
}

/// A deterministic, textured test frame (smooth ramps plus hash noise), RGBA in [0, 1].
pub fn test_frame(width: u32, height: u32) -> HostImage {
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let h = (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 1000;
            let noise = h as f32 / 1000.0 * 0.1;
            data.push((x as f32 / width as f32) * 0.9 + noise);
            data.push((y as f32 / height as f32) * 0.9 + noise);
            data.push(0.5 + 0.4 * ((x + y) as f32 * 0.01).sin() * 0.9 + noise * 0.5);
            data.push(1.0);
        }
    }
    HostImage {
        width,
        height,
        data,
    }
}

/// The generated bench model next to this build: `<target>/test-data/models/bench_convnet.onnx`.
fn default_model() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("PIXELSPACE_TEST_DATA")
        .map(|d| PathBuf::from(d).join("models/bench_convnet.onnx"))
        .into_iter()
        .chain(paths::exe_dir().map(|d| d.join("../test-data/models/bench_convnet.onnx")))
        .collect();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        Error::new(
            "bench model not found; generate it with `python3 tests/data/make_models.py target/test-data/models` \
             (or run tests/run), or pass --model FILE",
        )
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A copy of the model whose manifest has no `tiling` entry, or `None` when it has none anyway.
fn untiled_copy(model: &std::path::Path, dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let manifest_path = model.with_extension("json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        Error::new(format!(
            "cannot read the manifest {}: {e}",
            manifest_path.display()
        ))
    })?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::new(format!(
            "manifest {} is not valid JSON: {e}",
            manifest_path.display()
        ))
    })?;
    let Some(obj) = manifest.as_object_mut() else {
        return Ok(None);
    };
    if obj.remove("tiling").is_none() {
        return Ok(None);
    }
    let name = model
        .file_name()
        .ok_or_else(|| Error::new("the model path has no file name"))?;
    obj.insert(
        "model".to_string(),
        name.to_string_lossy().into_owned().into(),
    );
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    let copy = dir.join(name);
    std::fs::copy(model, &copy)
        .map_err(|e| Error::new(format!("cannot copy {}: {e}", model.display())))?;
    let json = serde_json::to_string_pretty(&manifest).expect("a JSON value serialises");
    std::fs::write(copy.with_extension("json"), json)
        .map_err(|e| Error::new(format!("cannot write into {}: {e}", dir.display())))?;
    Ok(Some(copy))
}

/// NCHW planes of the frame's RGB, rows top-down (the tensor convention).
fn nchw(image: &HostImage) -> Vec<f32> {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut out = vec![0f32; 3 * w * h];
    for r in 0..h {
        let y = h - 1 - r;
        for x in 0..w {
            for c in 0..3 {
                out[c * w * h + r * w + x] = image.data[(y * w + x) * 4 + c];
            }
        }
    }
    out
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        return Err(Error::new("--reps must be at least 1"));
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => default_model()?,
    };
    let model = model
        .canonicalize()
        .map_err(|e| Error::new(format!("model {}: {e}", model.display())))?;
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let frame = test_frame(args.width, args.height);

    // Bare ONNX Runtime, with the library the bundle ships.
    let lib = bundle_runtime_library(&plugin_dir).ok_or_else(|| {
        Error::new(format!(
            "no ONNX Runtime library in the bundle at {}; run `pixelspace install`",
            plugin_dir.display()
        ))
    })?;
    let info = runtime::init(&lib)?;
    let session = SessionCache::global().get(&model, Provider::Auto, None)?;
    let input_name = session
        .inputs()
        .first()
        .map(|i| i.name.clone())
        .ok_or_else(|| Error::new("the model has no inputs"))?;
    let tensor = nchw(&frame);
    let shape = [1i64, 3, args.height as i64, args.width as i64];
    let mut out = Vec::new();
    let mut bare = || -> Result<f64> {
        let t = Instant::now();
        session.run(
            &[InputTensor {
                name: &input_name,
                shape: &shape,
                data: &tensor,
            }],
            0,
            &mut out,
        )?;
        Ok(t.elapsed().as_secs_f64())
    };

    // Host + plugin, with the model's manifest as it is and, when that asks for tiles, with an
    // untiled copy, so tiling's cost and the host/plugin overhead are told apart.
    let host = Host::new(std::slice::from_ref(&plugin_dir))?;
    let untiled_dir = std::env::temp_dir().join(format!("pixelspace-bench-{}", std::process::id()));
    let untiled = untiled_copy(&model, &untiled_dir)?;
    // (label, model, colourSpace): `srgb` declares the float frame sRGB-encoded, so the plugin skips
    // the linear <-> sRGB conversion the model's manifest otherwise asks for.
    let mut variants: Vec<(String, PathBuf, &str)> = vec![(
        "host + plugin (Inference)".to_string(),
        model.clone(),
        "auto",
    )];
    let plain = untiled.clone().unwrap_or_else(|| model.clone());
    if untiled.is_some() {
        variants[0].0 = "host + plugin, manifest tiles".to_string();
        variants.push(("host + plugin, untiled".to_string(), plain.clone(), "auto"));
    }
    variants.push(("  same, no colour conversion".to_string(), plain, "srgb"));
    let mut instances = Vec::new();
    for (_, m, colour) in &variants {
        let mut instance = host.instance(INFERENCE)?;
        instance.set_param(MODEL_PARAM, &m.display().to_string())?;
        instance.set_param(COLOUR_PARAM, colour)?;
        instance.connect(
            "Source",
            Arc::new(MemorySource {
                image: frame.clone(),
            }),
        )?;
        instances.push(instance);
    }
    let opts = RenderOptions {
        depth: Depth::Float,
        scale: 1.0,
        threads: 1,
        ..RenderOptions::default()
    };
    let sink = |_: i32, _: HostImage| -> std::result::Result<(), String> { Ok(()) };
    let mut frame_no = 0;
    let mut hosted = |instance: &mut pixelspace_host::Instance| -> Result<f64> {
        frame_no += 1;
        let t = Instant::now();
        instance.render_frames(&[frame_no], &opts, &sink)?;
        Ok(t.elapsed().as_secs_f64())
    };

    println!(
        "model {} on a {}x{} float frame, ONNX Runtime {} ({} reps, interleaved; first run of each discarded)",
        model.display(),
        args.width,
        args.height,
        info.version,
        args.reps
    );
    let measured = (|| -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
        bare()?;
        for instance in instances.iter_mut() {
            hosted(instance)?;
        }
        let (mut b, mut h) = (Vec::new(), vec![Vec::new(); instances.len()]);
        for _ in 0..args.reps {
            b.push(bare()?);
            for (i, instance) in instances.iter_mut().enumerate() {
                h[i].push(hosted(instance)?);
            }
        }
        Ok((b, h))
    })();
    let _ = std::fs::remove_dir_all(&untiled_dir);
    let (mut b, h) = measured?;
    let mb = median(&mut b);
    println!(
        "{:<32} median {:8.1} ms/frame",
        "bare session.run",
        mb * 1e3
    );
    for ((label, _, _), mut times) in variants.iter().zip(h) {
        let mh = median(&mut times);
        println!(
            "{label:<32} median {:8.1} ms/frame   ratio {:.3}x",
            mh * 1e3,
            mh / mb
        );
    }
    Ok(())
}
