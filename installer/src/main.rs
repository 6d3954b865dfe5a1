//! `pixelspace`: installs the Pixelspace OFX bundle, checks a machine, renders frames through a real
//! OpenFX host, benchmarks and renders demos.

mod bench;
mod bench_extend;
mod bench_face;
mod bench_hosts;
mod demo;
mod demo_footage;
mod demo_jobs;
mod demo_page;
mod demo_pictures;
mod demo_render;
mod doctor;
mod download;
mod error;
mod frames;
mod imageio;
mod install;
mod models;
mod models_convert;
mod movie;
mod paths;
mod python_child;
mod render;
mod runtime;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pixelspace",
    version,
    about = "AI nodes for OpenFX hosts: install, models, check, render, benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lay out the bundle, ONNX Runtime library and resources in an OFX plugin folder.
    Install {
        /// Plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Install the GPU runtime (onnxruntime-gpu 1.31.1; needs CUDA 13 and cuDNN 9 on this machine).
        #[arg(long)]
        gpu: bool,
        /// The plugin library to install (default: libpixelspace_ofx.so next to this executable).
        #[arg(long)]
        plugin_lib: Option<PathBuf>,
        /// Use this already downloaded ONNX Runtime wheel instead of asking pip.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Copy this folder of models and manifests into the bundle's Resources/models.
        #[arg(long)]
        models: Option<PathBuf>,
        /// Do not install the default models (they are converted first when not cached).
        #[arg(long)]
        no_models: bool,
    },
    /// The model library: what is installed, fetching and checking models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Check the runtime, execution providers, the installed bundle, model folders and licences.
    Doctor {
        /// Plugin folder to check (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
        #[arg(long)]
        plugin_path: Option<PathBuf>,
        /// Further model folders to check (repeatable).
        #[arg(long = "models")]
        models: Vec<PathBuf>,
    },
    /// Render frames of an effect through the OpenFX reference host.
    Render(render::RenderArgs),
    /// Time the Inference effect through host and plugin against a bare ONNX Runtime run.
    Bench(bench::BenchArgs),
    /// The three jobs on real footage it fetches: renders, contact sheets, previews and a page.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Installed models (bundle and user folder) and known models not fetched yet: licence,
    /// commercial use, size, and whether each file still matches its sha256.
    List {
        /// Plugin folder whose bundle is listed (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
        #[arg(long)]
        plugin_path: Option<PathBuf>,
    },
    /// Fetch external models from their publishers, or convert the default models.
    Fetch {
        /// Model names (see `pixelspace models list`).
        names: Vec<String>,
        /// Convert all default models.
        #[arg(long)]
        defaults: bool,
        /// Fetch or convert again even when an intact copy is installed.
        #[arg(long)]
        force: bool,
        /// Use this file, downloaded by hand, instead of downloading (one external model).
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Re-hash every installed model against its manifest; non-zero exit on any mismatch.
    Verify {
        /// Plugin folder whose bundle is checked (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
        #[arg(long)]
        plugin_path: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Install {
            prefix,
            gpu,
            plugin_lib,
            wheel,
            models,
            no_models,
        } => install::run(&install::InstallArgs {
            prefix,
            gpu,
            plugin_lib,
            wheel,
            models,
            no_models,
        })
        .map(|_| ()),
        Command::Models { command } => match command {
            ModelsCommand::List { plugin_path } => models::list(plugin_path.as_deref()),
            ModelsCommand::Fetch {
                names,
                defaults,
                force,
                from,
            } => models::fetch(&models::FetchArgs {
                names,
                defaults,
                force,
                from,
            }),
            ModelsCommand::Verify { plugin_path } => models::verify(plugin_path.as_deref()),
        },
        Command::Doctor {
            plugin_path,
            models,
        } => doctor::run(plugin_path, &models),
        Command::Render(args) => render::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pixelspace: error: {e}");
            ExitCode::FAILURE
        }
    }
}
