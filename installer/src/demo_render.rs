//! Runs `pixelspace render` (this executable, so the plugin goes through the OpenFX reference
//! host exactly as a user's render does) for the demo, drawing a progress bar from the frames
//! it reports written, and timing it.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::error::{Error, Result};

/// One `pixelspace render` run.
pub struct RenderJob<'a> {
    pub effect: &'a str,
    pub input: &'a Path,
    pub output: &'a Path,
    /// First and last frame (both included).
    pub frames: (i32, i32),
    /// `PARAM=VALUE` settings.
    pub sets: &'a [String],
    /// What the progress bar says it is doing.
    pub label: &'a str,
}

/// Where and how the demo renders.
pub struct Renderer {
    pub exe: PathBuf,
    pub plugin_dir: PathBuf,
    pub threads: usize,
}

/// The file of frame `n` in a folder of `%05d.png` frames (as printf writes it: `-0001.png`).
pub fn frame_path(folder: &Path, n: i32) -> PathBuf {
    folder.join(format!("{n:05}.png"))
}

impl Renderer {
    /// Renders the job's frames from `input/%05d.png` into `output/%05d.png` and returns the
    /// seconds it took (the whole command: host start, plugin load, model sessions, frames).
    pub fn run(&self, job: &RenderJob) -> Result<f64> {
        let _ = std::fs::remove_dir_all(job.output);
        std::fs::create_dir_all(job.output)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", job.output.display())))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("render")
            .arg(job.effect)
            .arg("-i")
            .arg(job.input.join("%05d.png"))
            .arg("-o")
            .arg(job.output.join("%05d.png"))
            .arg(format!("--frames={}..{}", job.frames.0, job.frames.1))
            .arg("--threads")
            .arg(self.threads.to_string())
            .arg("--plugin-path")
            .arg(&self.plugin_dir);
        for set in job.sets {
            cmd.arg("--set").arg(set);
        }
        let total = (job.frames.1 - job.frames.0 + 1) as usize;
        let started = Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(format!("cannot run {} render: {e}", self.exe.display())))?;
        let mut bar = Progress::new(job.label, total);
        let mut other_lines = Vec::new();
        let stderr = child.stderr.take().expect("piped stderr");
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if line.starts_with("wrote ") {
                bar.advance();
            } else {
                other_lines.push(line);
            }
        }
        let status = child
            .wait()
            .map_err(|e| Error::new(format!("render did not finish: {e}")))?;
        let seconds = started.elapsed().as_secs_f64();
        bar.finish(seconds);
        if !status.success() {
            return Err(Error::new(format!(
                "rendering {} with {} failed ({status}): {}",
                job.label,
                job.effect,
                other_lines.join("\n")
            )));
        }
        for n in job.frames.0..=job.frames.1 {
            if !frame_path(job.output, n).is_file() {
                return Err(Error::new(format!(
                    "{} render exited cleanly but wrote no {}",
                    job.effect,
                    frame_path(job.output, n).display()
                )));
            }
        }
        Ok(seconds)
    }
}

/// A progress line for a known number of steps: redrawn in place on a terminal, else printed
/// at each further tenth so logs stay short.
pub struct Progress {
    label: String,
    total: usize,
    done: usize,
    terminal: bool,
    started: Instant,
    printed_tenths: usize,
}

impl Progress {
    pub fn new(label: &str, total: usize) -> Progress {
        let p = Progress {
            label: label.to_string(),
            total: total.max(1),
            done: 0,
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            printed_tenths: 0,
        };
        p.draw();
        p
    }

    pub fn advance(&mut self) {
        self.done = (self.done + 1).min(self.total);
        let tenths = self.done * 10 / self.total;
        if self.terminal || tenths > self.printed_tenths {
            self.printed_tenths = tenths;
            self.draw();
        }
    }

    fn line(&self) -> String {
        const WIDTH: usize = 30;
        let filled = self.done * WIDTH / self.total;
        format!(
            "  [{}{}] {:>3}/{} frames  {:5.1} s  {}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64(),
            self.label
        )
    }

    fn draw(&self) {
        let mut err = std::io::stderr();
        if self.terminal {
            let _ = write!(err, "\r{}", self.line());
        } else {
            let _ = writeln!(err, "{}", self.line());
        }
        let _ = err.flush();
    }

    /// Ends the line with the time taken.
    pub fn finish(&mut self, seconds: f64) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
        eprintln!(
            "  {}: {} frames in {seconds:.1} s ({:.2} s per frame)",
            self.label,
            self.done,
            seconds / self.done.max(1) as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_paths_follow_printf() {
        let dir = Path::new("d");
        assert_eq!(frame_path(dir, 7), Path::new("d/00007.png"));
        assert_eq!(frame_path(dir, -3), Path::new("d/-0003.png"));
    }
}
