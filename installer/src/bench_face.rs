//! `pixelspace bench face`: frames per second of the Face effect on a 1920x1080 face shot through
//! the reference host (detection + landmarks alone: output `debug`, which only draws the points;
//! and output `comp` in mode `retouch`), and, with `--python`, the
//! Python baseline (`installer/bench/face_pipeline.py`: the same ONNX models with onnxruntime,
//! numpy and OpenCV) on the same frames in the same run, with the ratios. A measurement, not a
//! test.
//!
//! The shot: a face photo (default: the test data's astronaut) enlarged `--face-scale` times
//! over a textured background, moving 6 px right and 2 px down per frame, quantised to 8 bits
//! so both sides see the same pixels; the host hands the effect 8-bit frames. Each rep renders
//! the whole shot in order on one thread with a fresh effect instance (so no frame's faces are
//! cached from an earlier rep; the model sessions are shared and already loaded), then asks the
//! Python side for the same frames. Before timing, the faces both sides find are compared (box
//! IoU per frame). Medians over the reps.
//!
//! Two figures for our side: the wall time of the render through the host (which also reads
//! the source frames from memory and converts them to 8 bits, and reads the output back as
//! float), and the effect's own time (its render action less the host's source fetch), which
//! compares with the Python side's frames already decoded in memory. The Python baseline runs
//! twice: with the usual tiling of the frame for small faces, and with the Face effect's own
//! windows, so the effect's search and its implementation are measured apart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use pixelspace_host::{Depth, FrameSource, Host, HostImage, Instance, RenderOptions};
use pixelspace_shared::models_dir;

use crate::bench::{median, test_frame};
use crate::error::{Error, Result};
use crate::python_child::PythonChild;
use crate::{imageio, paths};

const FACE: &str = "org.pixelspace.Face";
/// The Python baseline, run with `python -c`.
const PYTHON: &str = include_str!("../bench/face_pipeline.py");
const DEFAULT_DETECTOR: &str = "face-detector-short-range";
const DEFAULT_LANDMARKER: &str = "face-landmarks-468";
/// The baseline's searches (its `--search`) and how they are printed.
const PYTHON_SEARCHES: [(&str, &str); 2] = [
    (
        "tiles",
        "usual tiling (windows of half the short side overlapping by half: 21 + the whole frame at 1080p)",
    ),
    (
        "same",
        "the Face effect's windows (8 + the whole frame at 1080p)",
    ),
];

#[derive(Args, Debug, Clone)]
pub struct FaceBenchArgs {
    /// Frames of the shot (each rep renders all of them).
    #[arg(long, default_value_t = 8)]
    pub frames: u32,
    /// Repetitions (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    #[arg(long, default_value_t = 1920)]
    pub width: u32,
    #[arg(long, default_value_t = 1080)]
    pub height: u32,
    /// Picture with a face (PNG or EXR); default: the test data's astronaut photo.
    #[arg(long)]
    pub photo: Option<PathBuf>,
    /// How many times the photo is enlarged in the frame.
    #[arg(long, default_value_t = 2.0)]
    pub face_scale: f64,
    /// Python with onnxruntime, numpy and opencv-python-headless: also time the baseline.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Face detector model (default: the installed face-detector-short-range).
    #[arg(long)]
    pub detector: Option<PathBuf>,
    /// Landmark model (default: the installed face-landmarks-468).
    #[arg(long)]
    pub landmarker: Option<PathBuf>,
    /// OFX plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
}

/// The face shot, every frame made up front (8-bit values held as floats).
struct FaceShot {
    frames: Vec<HostImage>,
}

impl FrameSource for FaceShot {
    fn frame_range(&self) -> (i32, i32) {
        (0, self.frames.len() as i32 - 1)
    }
    fn rod(&self) -> (u32, u32) {
        (self.frames[0].width, self.frames[0].height)
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        let k = frame.clamp(0, self.frames.len() as i32 - 1) as usize;
        Ok(self.frames[k].clone())
    }
}

/// The test data's astronaut photo, next to this build or in `PIXELSPACE_TEST_DATA`.
fn default_photo() -> Result<PathBuf> {
    let rel = "photos/astronaut/0001.png";
    let candidates: Vec<PathBuf> = std::env::var_os("PIXELSPACE_TEST_DATA")
        .map(|d| PathBuf::from(d).join(rel))
        .into_iter()
        .chain(paths::exe_dir().map(|d| d.join("../test-data").join(rel)))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::new(
                "no face photo: pass --photo FILE (a PNG with a face), or generate the test data \
             (tests/setup) for the astronaut photo",
            )
        })
}

/// Frame `k`: the photo enlarged `scale` times (bilinear), its top-left corner at
/// (width/3 + 6k, height/10 + 2k) from the frame's top-left, over the textured background;
/// values quantised to 8 bits.
fn make_frame(photo: &imageio::Rgba, background: &HostImage, scale: f64, k: u32) -> HostImage {
    let (w, h) = (background.width as i64, background.height as i64);
    let (ox, oy) = (w / 3 + 6 * k as i64, h / 10 + 2 * k as i64);
    let (pw, ph) = (photo.width as f64, photo.height as f64);
    let mut data = background.data.clone();
    for y in 0..h {
        let row_down = h - 1 - y;
        for x in 0..w {
            // Photo coordinates (y down) of this pixel's centre.
            let u = ((x - ox) as f64 + 0.5) / scale - 0.5;
            let v = ((row_down - oy) as f64 + 0.5) / scale - 0.5;
            if u < 0.0 || v < 0.0 || u > pw - 1.0 || v > ph - 1.0 {
                continue;
            }
            let (u0, v0) = (u.floor(), v.floor());
            let (fu, fv) = ((u - u0) as f32, (v - v0) as f32);
            let at = |uu: f64, vv: f64| {
                let (px, py) = (uu.min(pw - 1.0) as u32, vv.min(ph - 1.0) as u32);
                photo.pixel(px, photo.height - 1 - py)
            };
            let (a, b, c, d) = (
                at(u0, v0),
                at(u0 + 1.0, v0),
                at(u0, v0 + 1.0),
                at(u0 + 1.0, v0 + 1.0),
            );
            let i = 4 * (y * w + x) as usize;
            for ch in 0..3 {
                let top = a[ch] + fu * (b[ch] - a[ch]);
                let bottom = c[ch] + fu * (d[ch] - c[ch]);
                data[i + ch] = top + fv * (bottom - top);
            }
        }
    }
    for (i, v) in data.iter_mut().enumerate() {
        *v = if i % 4 == 3 {
            1.0
        } else {
            (v.clamp(0.0, 1.0) * 255.0).round() / 255.0
        };
    }
    HostImage {
        width: background.width,
        height: background.height,
        data,
    }
}

/// A model file: the argument, or the installed default (bundle's models, then the user's).
fn model_file(arg: &Option<PathBuf>, name: &str, plugin_dir: &Path) -> Result<PathBuf> {
    if let Some(p) = arg {
        return Ok(p.clone());
    }
    let dirs = vec![
        paths::bundle_dir(plugin_dir).join("Contents/Resources/models"),
        models_dir::models_dir(),
    ];
    models_dir::find_model(&dirs, name)
        .map(|m| m.model_path())
        .ok_or_else(|| {
            Error::new(format!(
                "model '{name}' not found in the bundle or the model folder; run `pixelspace \
                 models fetch --defaults` or set PIXELSPACE_MODELS_DIR"
            ))
        })
}

/// The Python baseline as a child process, started once, asked for one thing at a time.
struct PythonBench(PythonChild);

impl PythonBench {
    fn start(
        python: &Path,
        raw: &Path,
        n: usize,
        args: &FaceBenchArgs,
        models: &[PathBuf; 2],
        search: &str,
    ) -> Result<Self> {
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(PYTHON)
            .arg("--detector")
            .arg(&models[0])
            .arg("--landmarks")
            .arg(&models[1])
            .arg("--raw")
            .arg(raw)
            .args(["--count", &n.to_string()])
            .args(["--width", &args.width.to_string()])
            .args(["--height", &args.height.to_string()])
            .args(["--search", search])
            .arg("--serve");
        PythonChild::start(
            command,
            "the Python baseline",
            "onnxruntime, numpy and opencv-python-headless",
        )
        .map(PythonBench)
    }

    /// Mean seconds per frame of one pass over the frames.
    fn time(&mut self, mode: &str) -> Result<f64> {
        let l = self.0.ask(mode)?;
        l.parse().map_err(|_| self.0.unexpected(&l))
    }

    /// The face boxes per frame, (x1, y1, x2, y2) y down.
    fn boxes(&mut self) -> Result<Vec<Vec<[f64; 4]>>> {
        let l = self.0.ask("boxes")?;
        serde_json::from_str(&l)
            .map_err(|e| Error::new(format!("the Python baseline's boxes {l:?}: {e}")))
    }
}

/// The frames as 8-bit RGB, top row first, for the Python side.
fn write_raw(shot: &FaceShot, raw: &Path) -> Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(raw)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", raw.display())))?,
    );
    for img in &shot.frames {
        let (w, h) = (img.width as usize, img.height as usize);
        let mut bytes = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            let y = h - 1 - row;
            for x in 0..w {
                for c in 0..3 {
                    bytes.push((img.data[4 * (y * w + x) + c] * 255.0).round() as u8);
                }
            }
        }
        f.write_all(&bytes)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", raw.display())))?;
    }
    f.flush()
        .map_err(|e| Error::new(format!("cannot write {}: {e}", raw.display())))
}

fn box_iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - w * h;
    if union > 0.0 { w * h / union } else { 0.0 }
}

/// A fresh Face instance on the shot with `output` and `mode`, models given explicitly.
fn face_instance(
    host: &Host,
    shot: &Arc<FaceShot>,
    models: &[PathBuf; 2],
    output: &str,
) -> Result<Instance> {
    let mut fx = host.instance(FACE)?;
    fx.set_param("mode", "retouch")?;
    fx.set_param("output", output)?;
    fx.set_param("detector", &models[0].display().to_string())?;
    fx.set_param("landmarker", &models[1].display().to_string())?;
    fx.connect("Source", shot.clone())?;
    Ok(fx)
}

/// Our raw detector boxes per frame (y down), read from the `landmarks` output.
fn our_boxes(
    host: &Host,
    shot: &Arc<FaceShot>,
    models: &[PathBuf; 2],
) -> Result<Vec<Vec<[f64; 4]>>> {
    let mut fx = face_instance(host, shot, models, "landmarks")?;
    fx.set_param("face", "all")?;
    let n = shot.frames.len();
    let h = shot.frames[0].height as f64;
    let found: Mutex<Vec<Vec<[f64; 4]>>> = Mutex::new(vec![Vec::new(); n]);
    let sink = |frame: i32, img: HostImage| -> std::result::Result<(), String> {
        let mut faces = Vec::new();
        let mut f = 0;
        while 2 * f + 1 < img.height {
            let info = img.pixel(2, 2 * f + 1);
            if info[1] <= 0.0 {
                break;
            }
            let b = img.pixel(1, 2 * f + 1).map(|v| v as f64);
            faces.push([b[0], h - b[3], b[2], h - b[1]]);
            f += 1;
        }
        found.lock().unwrap()[frame as usize] = faces;
        Ok(())
    };
    let frames: Vec<i32> = (0..n as i32).collect();
    let opts = RenderOptions {
        depth: Depth::Float,
        ..Default::default()
    };
    fx.render_frames(&frames, &opts, &sink)?;
    Ok(found.into_inner().unwrap())
}

/// Seconds per frame of one in-order render of the whole shot by a fresh instance: the wall
/// time of the render through the host, and the effect's own time (its render action less the
/// host's fetching and converting of the source frames).
fn time_ours(
    host: &Host,
    shot: &Arc<FaceShot>,
    models: &[PathBuf; 2],
    output: &str,
) -> Result<(f64, f64)> {
    let mut fx = face_instance(host, shot, models, output)?;
    let frames: Vec<i32> = (0..shot.frames.len() as i32).collect();
    let opts = RenderOptions {
        depth: Depth::Byte,
        threads: 1,
        ..Default::default()
    };
    let sink = |_: i32, _: HostImage| -> std::result::Result<(), String> { Ok(()) };
    let t = Instant::now();
    fx.render_frames(&frames, &opts, &sink)?;
    let wall = t.elapsed().as_secs_f64() / frames.len() as f64;
    let action: f64 = fx
        .last_render_timings()
        .iter()
        .map(|t| t.render_action.saturating_sub(t.image_fetch).as_secs_f64())
        .sum::<f64>()
        / frames.len() as f64;
    Ok((wall, action))
}

/// Runs `pixelspace bench face`.
pub fn run(args: &FaceBenchArgs) -> Result<()> {
    if args.reps == 0 || args.frames == 0 {
        return Err(Error::new("--reps and --frames must be at least 1"));
    }
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let models = [
        model_file(&args.detector, DEFAULT_DETECTOR, &plugin_dir)?,
        model_file(&args.landmarker, DEFAULT_LANDMARKER, &plugin_dir)?,
    ];
    let photo_path = match &args.photo {
        Some(p) => p.clone(),
        None => default_photo()?,
    };
    let photo = imageio::read(&photo_path)?;
    let background = test_frame(args.width, args.height);
    let shot = Arc::new(FaceShot {
        frames: (0..args.frames)
            .map(|k| make_frame(&photo, &background, args.face_scale, k))
            .collect(),
    });
    let host = Host::new(std::slice::from_ref(&plugin_dir))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Face on a {}x{} 8-bit shot of {} frames ({} enlarged {}x, moving), reference host, one \
         render thread, {cores} cores, {} reps{}; medians",
        args.width,
        args.height,
        args.frames,
        photo_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        args.face_scale,
        args.reps,
        if args.python.is_some() {
            " interleaved with the Python baseline"
        } else {
            ""
        }
    );
    // Warm-up: loads ONNX Runtime and the sessions, and reads the faces we find.
    let ours = our_boxes(&host, &shot, &models)?;

    let raw =
        std::env::temp_dir().join(format!("pixelspace-bench-face-{}.rgb", std::process::id()));
    // The Python baseline twice: with the usual tiling, and with the Face effect's windows.
    let mut pythons: Vec<(&str, PythonBench)> = Vec::new();
    if let Some(p) = &args.python {
        write_raw(&shot, &raw)?;
        let started: Result<Vec<_>> = PYTHON_SEARCHES
            .iter()
            .map(|(search, label)| {
                PythonBench::start(p, &raw, shot.frames.len(), args, &models, search)
                    .map(|b| (*label, b))
            })
            .collect();
        let _ = std::fs::remove_file(&raw);
        pythons = started?;
    }
    let found: usize = ours.iter().map(|f| f.len()).sum();
    println!(
        "  faces found by the Face effect: {found} over {} frames",
        ours.len()
    );
    for (label, p) in &mut pythons {
        let theirs = p.boxes()?;
        let mut min_iou = f64::INFINITY;
        let mut unmatched = 0;
        for (a, b) in ours.iter().zip(&theirs) {
            unmatched += a.len().abs_diff(b.len());
            for fa in a {
                let best = b.iter().map(|fb| box_iou(fa, fb)).fold(0.0, f64::max);
                min_iou = min_iou.min(best);
            }
        }
        let theirs_n: usize = theirs.iter().map(|f| f.len()).sum();
        println!(
            "  faces found by Python, {label}: {theirs_n}; detector box IoU with ours at least \
             {:.3} on every frame; faces found by one side only: {unmatched}",
            if min_iou.is_finite() { min_iou } else { 0.0 }
        );
    }

    let modes = [
        ("detection + landmarks", "debug", "detect"),
        ("retouch", "comp", "retouch"),
    ];
    for (label, output, py_mode) in modes {
        let (mut wall, mut own) = (vec![], vec![]);
        let mut py = vec![Vec::new(); pythons.len()];
        let mut ratio = vec![(Vec::new(), Vec::new()); pythons.len()];
        for _ in 0..args.reps {
            let (w, o) = time_ours(&host, &shot, &models, output)?;
            wall.push(w);
            own.push(o);
            for (i, (_, p)) in pythons.iter_mut().enumerate() {
                let s = p.time(py_mode)?;
                py[i].push(s);
                ratio[i].0.push(s / w);
                ratio[i].1.push(s / o);
            }
        }
        let (w, o) = (median(&wall), median(&own));
        println!(
            "  {label}: pixelspace {:.2} frames/s through the host ({:.1} ms per frame; the \
             effect's own time {:.1} ms, {:.2} frames/s)",
            1.0 / w,
            w * 1000.0,
            o * 1000.0,
            1.0 / o
        );
        for (i, (name, _)) in pythons.iter().enumerate() {
            let p = median(&py[i]);
            println!(
                "    Python, {name}: {:.2} frames/s ({:.1} ms per frame); pixelspace is {:.2}x \
                 its speed through the host, {:.2}x on the effect's own time",
                1.0 / p,
                p * 1000.0,
                median(&ratio[i].0),
                median(&ratio[i].1)
            );
        }
    }
    if pythons.is_empty() {
        println!(
            "  (give --python PATH, a Python with onnxruntime, numpy and opencv-python-headless, \
             to compare)"
        );
    }
    Ok(())
}
