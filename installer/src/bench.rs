//! `pixelspace bench`: time per frame of the Inference effect through the reference host and the
//! plugin, against a bare ONNX Runtime `run` of the same model on the same tensors, interleaved in
//! one run; prints medians and ratios. A measurement, not a test.
//!
//! Frames come from memory. Per way of running, from the host's own timings
//! ([`Instance::last_render_timings`]): the plugin's time (its render action less the time the
//! host spent in `clipGetImage` handing it the source frame) — the plugin's overhead over the
//! bare run; the render action as a whole; the host's whole frame (adding the output buffer and
//! reading it back as RGBA float, which a real host does not do); and the wall time of the
//! `render_frames` call. When `PIXELSPACE_MODELS_DIR` holds a converted RIFE (`rife/rife.onnx`
//! with its manifest), it is measured too.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use pixelspace_host::{Depth, FrameSource, Host, HostImage, Instance, RenderOptions};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::FitMapping;
use pixelspace_shared::runtime::{self, InputTensor, Provider, SessionCache, SharedSession};
use pixelspace_shared::tensor::{ChannelOrder, Layout};

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
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Other benchmarks (without one: the Inference effect against a bare run).
    #[command(subcommand)]
    pub command: Option<BenchCommand>,
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

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
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

/// A model tensor of the frame: `layout`, `order`, `mw` x `mh` (padding repeats the frame's
/// right column and bottom row), rows top-down (the tensor convention).
fn model_tensor(
    image: &HostImage,
    layout: Layout,
    order: ChannelOrder,
    mw: u32,
    mh: u32,
) -> Vec<f32> {
    let (w, h) = (image.width as usize, image.height as usize);
    let (mw, mh) = (mw as usize, mh as usize);
    let src = order.sources();
    let chans = src.len();
    let mut out = vec![0f32; chans * mw * mh];
    for r in 0..mh {
        // Model row r is frame row h-1-r (rows past the frame repeat its bottom row); frame
        // columns likewise; the frame is stored y-up, so its top row is the last one.
        let y = h - 1 - r.min(h - 1);
        for x in 0..mw {
            let px = &image.data[(y * w + x.min(w - 1)) * 4..][..4];
            for (c, &s) in src.iter().enumerate() {
                let i = match layout {
                    Layout::Nchw => (c * mh + r) * mw + x,
                    Layout::Nhwc => (r * mw + x) * chans + c,
                };
                out[i] = px[s];
            }
        }
    }
    out
}

/// The shape to feed a constant of `len` values into an input declared as `declared`
/// (free dimensions become 1, or take the rest of the values when the counts then disagree).
fn constant_shape(declared: &[i64], len: usize) -> Vec<i64> {
    let ones: Vec<i64> = declared.iter().map(|d| (*d).max(1)).collect();
    if ones.iter().product::<i64>() == len as i64 {
        ones
    } else {
        vec![len as i64]
    }
}

/// A bare `session.run` of a model on the tensors the pipeline would feed it for the frame:
/// every image input at the model size the manifest makes of the frame, the constants.
struct BareRun {
    session: Arc<SharedSession>,
    output: usize,
    feeds: Vec<(String, Vec<i64>, Vec<f32>)>,
    out: Vec<f32>,
}

impl BareRun {
    fn new(model: &Path, frame: &HostImage) -> Result<BareRun> {
        let manifest = Manifest::for_model(model)?;
        let session = SessionCache::global().get(model, Provider::Auto, None)?;
        let region = Rect::new(0, 0, frame.width as i32, frame.height as i32);
        let fit = FitMapping::new(manifest.size, region);
        let (mw, mh) = (fit.model_width, fit.model_height);
        let mut feeds = Vec::new();
        for input in manifest.image_inputs() {
            let shape = match input.layout {
                Layout::Nchw => vec![1, input.channels.count() as i64, mh as i64, mw as i64],
                Layout::Nhwc => vec![1, mh as i64, mw as i64, input.channels.count() as i64],
            };
            let data = model_tensor(frame, input.layout, input.channels, mw, mh);
            feeds.push((input.name.clone(), shape, data));
        }
        for c in manifest.constant_inputs() {
            let declared = session
                .inputs()
                .iter()
                .find(|i| i.name == c.name)
                .map(|i| i.shape.clone())
                .unwrap_or_default();
            feeds.push((
                c.name.clone(),
                constant_shape(&declared, c.value.len()),
                c.value.clone(),
            ));
        }
        let first = manifest.outputs[0].name();
        let output = session
            .outputs()
            .iter()
            .position(|o| o.name == first)
            .ok_or_else(|| Error::new(format!("the model has no output '{first}'")))?;
        Ok(BareRun {
            session,
            output,
            feeds,
            out: Vec::new(),
        })
    }

    /// Seconds one run takes.
    fn time(&mut self) -> Result<f64> {
        let feeds: Vec<InputTensor> = self
            .feeds
            .iter()
            .map(|(name, shape, data)| InputTensor { name, shape, data })
            .collect();
        let t = Instant::now();
        self.session.run(&feeds, self.output, &mut self.out)?;
        Ok(t.elapsed().as_secs_f64())
    }
}

/// One frame through the host and the plugin: seconds of wall time of the whole
/// `render_frames` call, of the host's frame, and of the plugin's render action in it.
#[derive(Clone, Copy, Debug, Default)]
struct Hosted {
    wall: f64,
    host_frame: f64,
    action: f64,
    plugin: f64,
}

/// A way of running the model through the host, measured against the bare run.
struct Variant {
    label: String,
    instance: Instance,
    samples: Vec<Hosted>,
}

/// Further benchmarks.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BenchCommand {
    /// ExtendShot retime x2 at 1920x1080: frames per second, and against the RIFE package's own
    /// Python inference with --python.
    Extend(crate::bench_extend::ExtendBenchArgs),
    /// Face at 1920x1080 (detection + landmarks, and retouch): frames per second, and against
    /// the same models run the usual Python way (onnxruntime, numpy, OpenCV) with --python.
    Face(crate::bench_face::FaceBenchArgs),
    /// Each effect in MLT's OpenFX host against the reference host's restricted profile: seconds
    /// per frame on the same frames, and their ratio.
    Hosts(crate::bench_hosts::HostsBenchArgs),
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(BenchCommand::Extend(extend)) = &args.command {
        return crate::bench_extend::run(extend);
    }
    if let Some(BenchCommand::Face(face)) = &args.command {
        return crate::bench_face::run(face);
    }
    if let Some(BenchCommand::Hosts(hosts)) = &args.command {
        return crate::bench_hosts::run(hosts);
    }
    if args.reps == 0 {
        return Err(Error::new("--reps must be at least 1"));
    }
    let model = match &args.model {
        Some(m) => m.clone(),
        None => default_model()?,
    };
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let lib = bundle_runtime_library(&plugin_dir).ok_or_else(|| {
        Error::new(format!(
            "no ONNX Runtime library in the bundle at {}; run `pixelspace install`",
            plugin_dir.display()
        ))
    })?;
    let info = runtime::init(&lib)?;
    let host = Host::new(std::slice::from_ref(&plugin_dir))?;
    let frame = test_frame(args.width, args.height);
    println!(
        "{}x{} float frame held in memory, ONNX Runtime {}, {} reps interleaved with the bare run \
         (first run of each discarded); medians, ratios are to the bare run of the same rep",
        args.width, args.height, info.version, args.reps
    );
    bench_model(&host, &model, &frame, args.reps, true)?;
    // The real interpolation model, when a converted one is at hand.
    if let Some(dir) = std::env::var_os("PIXELSPACE_MODELS_DIR").filter(|d| !d.is_empty()) {
        let rife = PathBuf::from(dir).join("rife/rife.onnx");
        if rife.is_file() && rife.with_extension("json").is_file() {
            println!();
            bench_model(&host, &rife, &frame, args.reps.min(3), false)?;
        }
    }
    Ok(())
}

/// Measures one model: the bare run, then through host and plugin with the manifest as it is,
/// untiled (when the manifest tiles) and, when `all`, without colour conversion.
fn bench_model(host: &Host, model: &Path, frame: &HostImage, reps: usize, all: bool) -> Result<()> {
    let model = model
        .canonicalize()
        .map_err(|e| Error::new(format!("model {}: {e}", model.display())))?;
    let mut bare = BareRun::new(&model, frame)?;

    // With the model's manifest as it is and, when that asks for tiles, with an untiled copy,
    // so tiling's cost and the host/plugin overhead are told apart.
    let untiled_dir = std::env::temp_dir().join(format!("pixelspace-bench-{}", std::process::id()));
    let untiled = untiled_copy(&model, &untiled_dir)?;
    // (label, model, colourSpace): `srgb` declares the float frame sRGB-encoded, so the plugin
    // skips the linear <-> sRGB conversion the model's manifest otherwise asks for.
    let mut plan: Vec<(String, PathBuf, &str)> =
        vec![("host + plugin".to_string(), model.clone(), "auto")];
    let plain = untiled.clone().unwrap_or_else(|| model.clone());
    if untiled.is_some() {
        plan[0].0 = "host + plugin, manifest tiles".to_string();
        plan.push(("host + plugin, untiled".to_string(), plain.clone(), "auto"));
    }
    if all {
        plan.push(("same, no colour conversion".to_string(), plain, "srgb"));
    }
    let mut variants = Vec::new();
    for (label, m, colour) in plan {
        let mut instance = host.instance(INFERENCE)?;
        instance.set_param(MODEL_PARAM, &m.display().to_string())?;
        instance.set_param(COLOUR_PARAM, colour)?;
        instance.connect(
            "Source",
            Arc::new(MemorySource {
                image: frame.clone(),
            }),
        )?;
        variants.push(Variant {
            label,
            instance,
            samples: Vec::new(),
        });
    }
    let opts = RenderOptions {
        depth: Depth::Float,
        scale: 1.0,
        threads: 1,
        ..RenderOptions::default()
    };
    let sink = |_: i32, _: HostImage| -> std::result::Result<(), String> { Ok(()) };
    let mut frame_no = 0;
    let mut hosted = |instance: &mut Instance| -> Result<Hosted> {
        frame_no += 1;
        let t = Instant::now();
        instance.render_frames(&[frame_no], &opts, &sink)?;
        let wall = t.elapsed().as_secs_f64();
        let timing = instance
            .last_render_timings()
            .into_iter()
            .next()
            .ok_or_else(|| Error::new("the host recorded no timing for the rendered frame"))?;
        Ok(Hosted {
            wall,
            host_frame: timing.total.as_secs_f64(),
            action: timing.render_action.as_secs_f64(),
            plugin: timing
                .render_action
                .saturating_sub(timing.image_fetch)
                .as_secs_f64(),
        })
    };

    println!("model {}", model.display());
    let measured = (|| -> Result<Vec<f64>> {
        bare.time()?;
        for v in variants.iter_mut() {
            hosted(&mut v.instance)?;
        }
        let mut b = Vec::with_capacity(reps);
        for _ in 0..reps {
            b.push(bare.time()?);
            for v in variants.iter_mut() {
                let s = hosted(&mut v.instance)?;
                v.samples.push(s);
            }
        }
        Ok(b)
    })();
    let _ = std::fs::remove_dir_all(&untiled_dir);
    let b = measured?;
    println!(
        "  {:<46} {:>9.1} ms/frame",
        "bare session.run",
        median(&b) * 1e3
    );
    let line = |label: &str, times: Vec<f64>| {
        let ratios: Vec<f64> = times.iter().zip(&b).map(|(t, b)| t / b).collect();
        println!(
            "  {label:<46} {:>9.1} ms/frame   {:.3}x",
            median(&times) * 1e3,
            median(&ratios)
        );
    };
    for v in variants {
        println!("  {}", v.label);
        line(
            "    plugin (render action less image fetches)",
            v.samples.iter().map(|s| s.plugin).collect(),
        );
        line(
            "    render action (+ host fetching the frame)",
            v.samples.iter().map(|s| s.action).collect(),
        );
        line(
            "    host frame (+ output buffer, readback)",
            v.samples.iter().map(|s| s.host_frame).collect(),
        );
        line(
            "    render_frames call (+ begin/end, sink)",
            v.samples.iter().map(|s| s.wall).collect(),
        );
    }
    Ok(())
}
