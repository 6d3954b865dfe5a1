//! `pixelspace bench hosts`: seconds per frame of each effect in MLT's OpenFX host (melt, the
//! host of Shotcut and Kdenlive) against the reference host in its restricted profile (which
//! offers the same: the filter context, no other frames), on the same 8-bit frames, in one run.
//! A measurement, not a test.
//!
//! The shot is the input's first frame repeated `--frames` times, so that every frame costs the
//! same. Each host renders it twice per rep, once whole and once its first frame alone, each a
//! fresh process; the time per frame is the difference over the frames added, so both hosts'
//! start-up (loading the plugin, ONNX Runtime and the models) falls out, and so do the extra
//! renders of the last frame that melt makes (it renders it three times). Reps interleave the hosts; medians are printed, with their ratio (MLT over ours). Each
//! host also reads and writes its PNG files its own way, so the plugin's own time is printed
//! too: the median render action, from the plugin's render log (`PIXELSPACE_RENDER_LOG`), which
//! shows whether a host that makes a new instance per frame (MLT) costs the plugin anything.
//! MLT is driven by the `render.sh` that builds beside its `build.sh` (`--mlt-render`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap::Args;

use crate::bench::median;
use crate::error::{Error, Result};
use crate::frames::FramePattern;
use crate::paths;

#[derive(Args, Debug, Clone)]
pub struct HostsBenchArgs {
    /// MLT's render script (render.sh beside MLT's build.sh), which runs melt.
    #[arg(long)]
    pub mlt_render: PathBuf,
    /// The shot: an 8-bit PNG sequence pattern such as `shot/%05d.png` (its first frame is used).
    #[arg(long, short = 'i')]
    pub input: String,
    /// Frames rendered per rep (at least 2).
    #[arg(long, default_value_t = 6)]
    pub frames: u32,
    /// Repetitions (medians are printed).
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Effects to measure, by OFX id (default: Inference with --model, Face and CleanPlate).
    #[arg(long = "effect")]
    pub effects: Vec<String>,
    /// Model for the Inference effect (without one, Inference is left out).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Folder holding Pixelspace.ofx.bundle.
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
}

/// One render's wall seconds and the plugin's render actions (seconds each, in the order logged).
struct Timed {
    wall: f64,
    actions: Vec<f64>,
}

/// Renders frames `0..=last` through `host`.
fn render_seconds(
    host: &str,
    args: &HostsBenchArgs,
    input: &str,
    effect: &str,
    sets: &[String],
    out_dir: &Path,
    last: u32,
) -> Result<Timed> {
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let _ = std::fs::remove_dir_all(out_dir);
    let output = out_dir.join("%05d.png").display().to_string();
    let frames = format!("0..{last}");
    let mut cmd = if host == "mlt" {
        let mut c = Command::new("bash");
        c.arg(&args.mlt_render).arg(effect);
        c
    } else {
        let exe = std::env::current_exe()
            .map_err(|e| Error::new(format!("cannot find the pixelspace binary: {e}")))?;
        let mut c = Command::new(exe);
        c.args(["render", effect, "--host", "restricted"]);
        c
    };
    cmd.args(["-i", input, "-o", &output, "--frames", &frames])
        .args(["--depth", "byte", "--threads", "1", "--plugin-path"])
        .arg(&plugin_dir);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let log = out_dir.with_extension("render-log");
    let _ = std::fs::remove_file(&log);
    cmd.env("PIXELSPACE_RENDER_LOG", &log);
    let start = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| Error::new(format!("cannot run the {host} render: {e}")))?;
    let seconds = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(Error::new(format!(
            "the {host} render of {effect} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    // MLT loads every Pixelspace bundle it finds (it always scans /usr/OFX/Plugins too) and may
    // render with another one than the bundle measured: refuse to report such a run.
    let bundle = paths::bundle_dir(&plugin_dir);
    let bundle = bundle.canonicalize().unwrap_or(bundle);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut actions = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let binary = fields.get(3).copied().unwrap_or("");
        if !Path::new(binary).starts_with(&bundle) {
            return Err(Error::new(format!(
                "the {host} render ran the plugin binary {binary:?}, not the bundle in {}: remove \
                 or update the other Pixelspace bundle (MLT always scans /usr/OFX/Plugins and \
                 /usr/local/OFX/Plugins)",
                bundle.display()
            )));
        }
        actions.extend(fields.get(2).and_then(|v| v.parse::<f64>().ok()));
    }
    Ok(Timed {
        wall: seconds,
        actions,
    })
}

/// Writes the first frame of `pattern` as frames 0..frames of `dir/%05d.png`; returns that pattern.
fn repeated_first_frame(pattern: &str, frames: u32, dir: &Path) -> Result<String> {
    let pattern = FramePattern::parse(pattern)?;
    let first = *pattern
        .existing_frames()
        .first()
        .ok_or_else(|| Error::new(format!("no frames found for {}", pattern.path(0).display())))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    for n in 0..frames {
        std::fs::copy(pattern.path(first), dir.join(format!("{n:05}.png"))).map_err(|e| {
            Error::new(format!(
                "cannot copy {}: {e}",
                pattern.path(first).display()
            ))
        })?;
    }
    Ok(dir.join("%05d.png").display().to_string())
}

pub fn run(args: &HostsBenchArgs) -> Result<()> {
    if args.frames < 2 || args.reps == 0 {
        return Err(Error::new(
            "--frames must be at least 2 and --reps at least 1",
        ));
    }
    if !args.mlt_render.is_file() {
        return Err(Error::new(format!(
            "MLT's render script {} does not exist (build MLT with the build.sh beside it)",
            args.mlt_render.display()
        )));
    }
    let mut effects: Vec<(String, Vec<String>)> = Vec::new();
    if args.effects.is_empty() {
        if let Some(model) = &args.model {
            effects.push((
                "org.pixelspace.Inference".into(),
                vec![format!("model={}", model.display())],
            ));
        }
        effects.push(("org.pixelspace.Face".into(), Vec::new()));
        effects.push(("org.pixelspace.CleanPlate".into(), Vec::new()));
    } else {
        for e in &args.effects {
            let sets = match (e.as_str(), &args.model) {
                ("org.pixelspace.Inference", Some(m)) => vec![format!("model={}", m.display())],
                ("org.pixelspace.Inference", None) => {
                    return Err(Error::new("Inference needs --model"));
                }
                _ => Vec::new(),
            };
            effects.push((e.clone(), sets));
        }
    }
    let scratch =
        std::env::temp_dir().join(format!("pixelspace-bench-hosts-{}", std::process::id()));
    let input = repeated_first_frame(&args.input, args.frames, &scratch.join("input"))?;
    println!(
        "seconds per frame, the first frame of {} repeated {} times, at 8 bits, one thread, \
         medians of {} interleaved reps (time of all frames less time of 1, over {})",
        args.input,
        args.frames,
        args.reps,
        args.frames - 1
    );
    println!(
        "{:<28} {:>10} {:>10} {:>8}   {:>12} {:>12} {:>8}",
        "", "whole frame", "", "", "plugin's render action", "", ""
    );
    println!(
        "{:<28} {:>10} {:>10} {:>8}   {:>12} {:>12} {:>8}",
        "effect", "ref (s)", "MLT (s)", "MLT/ref", "ref (s)", "MLT (s)", "MLT/ref"
    );
    for (effect, sets) in &effects {
        let mut per_frame = [Vec::new(), Vec::new()];
        let mut actions = [Vec::new(), Vec::new()];
        for _ in 0..args.reps {
            for (k, host) in ["reference", "mlt"].into_iter().enumerate() {
                let dir = scratch.join(host);
                let many = render_seconds(host, args, &input, effect, sets, &dir, args.frames - 1)?;
                let one = render_seconds(host, args, &input, effect, sets, &dir, 0)?;
                per_frame[k].push((many.wall - one.wall) / (args.frames - 1) as f64);
                actions[k].extend(many.actions);
            }
        }
        let (ours, mlt) = (median(&per_frame[0]), median(&per_frame[1]));
        let (ours_action, mlt_action) = (median(&actions[0]), median(&actions[1]));
        println!(
            "{:<28} {:>10.3} {:>10.3} {:>7.2}x   {:>12.3} {:>12.3} {:>7.2}x",
            effect,
            ours,
            mlt,
            mlt / ours,
            ours_action,
            mlt_action,
            mlt_action / ours_action
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
