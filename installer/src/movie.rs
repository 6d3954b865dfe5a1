//! Movie files for `pixelspace render` through the FFmpeg command line (`ffmpeg` and `ffprobe` on
//! PATH): a clip is decoded through a pipe as the host asks for its frames, and an output is
//! encoded through a pipe into a hidden file beside it, renamed into place once every frame is in.
//!
//! A clip keeps its most recent frames in memory. Effects read forwards (with a few neighbours),
//! so that is usually all; an effect that goes back further makes ffmpeg decode from the start
//! once, and from then on frames leaving memory are kept in a temporary folder (removed with the
//! clip), so no frame is decoded a third time.
//!
//! Frame N of a movie is its Nth decoded frame, counted from 0. 8-bit sources decode to 8-bit
//! RGBA, deeper ones (10-bit ProRes, DNxHR HQX, 16-bit) to 16-bit RGBA. Rows are flipped here to
//! the OFX order (row 0 at the bottom).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use clap::ValueEnum;
use pixelspace_host::{FrameSource, HostImage};

use crate::error::{Context, Error, Result};
use crate::imageio;

/// Movie containers `render` writes.
pub const OUTPUT_EXTENSIONS: [&str; 3] = ["mp4", "mov", "mxf"];

/// Decoded frames kept for effects that read neighbours: at most this many bytes...
const CACHE_BYTES: usize = 512 << 20;
/// ...and at most this many frames.
const CACHE_FRAMES: usize = 32;

/// The codec of a movie output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// H.264 (libx264), 8-bit 4:2:0: the default for .mp4.
    H264,
    /// Apple ProRes 422 HQ (prores_ks), 10-bit: the default for .mov.
    Prores,
    /// Apple ProRes 4444 with alpha (prores_ks), 10-bit.
    Prores4444,
    /// Avid DNxHR HQ, 8-bit 4:2:2: the default for .mxf.
    DnxhrHq,
    /// Avid DNxHR HQX, 10-bit 4:2:2.
    DnxhrHqx,
}

impl Codec {
    /// The codec a container gets when `--codec` is not given.
    pub fn default_for(extension: &str) -> Option<Codec> {
        match extension {
            "mp4" => Some(Codec::H264),
            "mov" => Some(Codec::Prores),
            "mxf" => Some(Codec::DnxhrHq),
            _ => None,
        }
    }

    /// The name `--codec` takes.
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Prores => "prores",
            Codec::Prores4444 => "prores4444",
            Codec::DnxhrHq => "dnxhr-hq",
            Codec::DnxhrHqx => "dnxhr-hqx",
        }
    }

    /// Whether a container (by extension) takes this codec.
    fn fits(self, extension: &str) -> bool {
        match extension {
            "mp4" => self == Codec::H264,
            "mov" => true,
            "mxf" => matches!(self, Codec::DnxhrHq | Codec::DnxhrHqx),
            _ => false,
        }
    }

    /// The pixel format the encoder is given.
    fn pix_fmt(self) -> &'static str {
        match self {
            Codec::H264 => "yuv420p",
            Codec::Prores | Codec::DnxhrHqx => "yuv422p10le",
            Codec::Prores4444 => "yuva444p10le",
            Codec::DnxhrHq => "yuv422p",
        }
    }

    /// Whether frames go to the encoder as 16-bit RGBA (else 8-bit).
    fn deep(self) -> bool {
        !matches!(self, Codec::H264 | Codec::DnxhrHq)
    }

    /// Encoder arguments.
    fn encoder_args(self) -> &'static [&'static str] {
        match self {
            Codec::H264 => &["-c:v", "libx264", "-preset", "medium", "-crf", "16"],
            Codec::Prores => &["-c:v", "prores_ks", "-profile:v", "3", "-vendor", "apl0"],
            Codec::Prores4444 => &["-c:v", "prores_ks", "-profile:v", "4", "-vendor", "apl0"],
            Codec::DnxhrHq => &["-c:v", "dnxhd", "-profile:v", "dnxhr_hq"],
            Codec::DnxhrHqx => &["-c:v", "dnxhd", "-profile:v", "dnxhr_hqx"],
        }
    }

    /// Why a frame size does not fit this codec's chroma subsampling, if it does not.
    fn size_problem(self, width: u32, height: u32) -> Option<String> {
        let (even_w, even_h) = match self {
            Codec::H264 => (true, true),
            Codec::Prores | Codec::DnxhrHq | Codec::DnxhrHqx => (true, false),
            Codec::Prores4444 => (false, false),
        };
        if (even_w && width % 2 == 1) || (even_h && height % 2 == 1) {
            Some(format!(
                "{} ({}) needs an even {}, but the frames are {width}x{height}; \
                 render at another size, or use --codec prores4444 (.mov) or a PNG/EXR sequence",
                self.name(),
                self.pix_fmt(),
                if even_h { "width and height" } else { "width" }
            ))
        } else {
            None
        }
    }
}

/// Checks that `codec` (or the container's default) can go into `path`; returns the codec.
pub fn output_codec(path: &Path, codec: Option<Codec>) -> Result<Codec> {
    let ext = extension(path);
    let Some(default) = Codec::default_for(&ext) else {
        return Err(Error::new(format!(
            "{}: movies are written as .mp4, .mov or .mxf",
            path.display()
        )));
    };
    let codec = codec.unwrap_or(default);
    if !codec.fits(&ext) {
        let takes = match ext.as_str() {
            "mp4" => "h264",
            _ => "dnxhr-hq or dnxhr-hqx",
        };
        return Err(Error::new(format!(
            "--codec {}: a .{ext} file takes {takes}; use .mov for {}",
            codec.name(),
            codec.name()
        )));
    }
    Ok(codec)
}

/// Parses a frame rate for ffmpeg: `25`, `24000/1001`, or a decimal (`23.976`, `29.97` and
/// `59.94` are taken as the NTSC rates 24000/1001, 30000/1001, 60000/1001).
pub fn parse_rate(text: &str) -> Result<String> {
    let bad = || {
        Error::new(format!(
            "frame rate {text:?}: expected a positive number such as 24, 25, 23.976 or 24000/1001"
        ))
    };
    let text = text.trim();
    let value: f64 = match text.split_once('/') {
        Some((n, d)) => {
            let (n, d): (u32, u32) = (
                n.trim().parse().map_err(|_| bad())?,
                d.trim().parse().map_err(|_| bad())?,
            );
            if n == 0 || d == 0 {
                return Err(bad());
            }
            return Ok(format!("{n}/{d}"));
        }
        None => text.parse().map_err(|_| bad())?,
    };
    if !(value.is_finite() && value > 0.0 && value <= 1000.0) {
        return Err(bad());
    }
    for ntsc in [24u32, 30, 60] {
        if (value - ntsc as f64 * 1000.0 / 1001.0).abs() < 0.005 {
            return Ok(format!("{}/1001", ntsc * 1000));
        }
    }
    if value.fract() == 0.0 {
        Ok(format!("{}", value as u32))
    } else {
        // Three decimals, as a fraction ffmpeg takes exactly.
        Ok(format!("{}/1000", (value * 1000.0).round() as u64))
    }
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The error for a missing FFmpeg tool.
fn tool_missing(tool: &str) -> Error {
    Error::new(format!(
        "{tool} not found on PATH: movie files are read and written with FFmpeg; install it \
         (Debian, Ubuntu: `apt-get install ffmpeg`) or use PNG/EXR frame patterns"
    ))
}

/// Runs `ffprobe ARGS` and parses its JSON answer; Err holds ffprobe's last stderr lines.
fn ffprobe(args: &[&OsStr]) -> Result<std::result::Result<serde_json::Value, String>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                tool_missing("ffprobe")
            } else {
                Error::new(format!("cannot run ffprobe: {e}"))
            }
        })?;
    if !out.status.success() {
        return Ok(Err(last_lines(&String::from_utf8_lossy(&out.stderr))));
    }
    let answer = serde_json::from_slice(&out.stdout)
        .context(|| "ffprobe gave no readable answer".to_string())?;
    Ok(Ok(answer))
}

/// `ffprobe ARGS PATH` about a movie's first video stream.
fn probe_stream(path: &Path, entries: &[&str]) -> Result<serde_json::Value> {
    let mut args: Vec<&OsStr> = vec![OsStr::new("-select_streams"), OsStr::new("v:0")];
    args.extend(entries.iter().map(OsStr::new));
    args.push(path.as_os_str());
    ffprobe(&args)?.map_err(|why| {
        Error::new(format!(
            "{} is not a movie FFmpeg can read: {why}",
            path.display()
        ))
    })
}

/// The last few lines of a tool's stderr, for an error message.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join("; ");
    if tail.is_empty() {
        "no message".to_string()
    } else {
        tail
    }
}

/// What `ffprobe` says about a movie's first video stream.
#[derive(Clone, Debug)]
pub struct MovieInfo {
    pub width: u32,
    pub height: u32,
    /// Frames the container holds.
    pub frames: i32,
    /// Frame rate as ffmpeg writes it (`25/1`, `24000/1001`).
    pub rate: String,
    /// More than 8 bits per component: decoded to 16-bit RGBA.
    pub deep: bool,
    /// The pixel format has an alpha channel.
    pub alpha: bool,
    /// The stream says which YUV matrix it uses.
    pub matrix_tagged: bool,
}

/// Probes a movie with `ffprobe`.
pub fn probe(path: &Path) -> Result<MovieInfo> {
    if !path.is_file() {
        return Err(Error::new(format!("movie {} not found", path.display())));
    }
    let v = probe_stream(
        path,
        &[
            "-show_entries",
            "stream=width,height,pix_fmt,r_frame_rate,avg_frame_rate,nb_frames,color_space",
        ],
    )?;
    let Some(stream) = v["streams"].get(0) else {
        return Err(Error::new(format!(
            "{} has no video stream FFmpeg can read",
            path.display()
        )));
    };
    let number = |key: &str| -> Option<u64> {
        match &stream[key] {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    };
    let (Some(width), Some(height)) = (number("width"), number("height")) else {
        return Err(Error::new(format!(
            "{}: ffprobe gives no frame size for its video",
            path.display()
        )));
    };
    // The header's frame count where the container keeps one (MP4, MOV), else counted.
    let frames = match number("nb_frames").filter(|&n| n > 0) {
        Some(n) => n,
        None => {
            let counted = probe_stream(
                path,
                &["-count_packets", "-show_entries", "stream=nb_read_packets"],
            )?;
            counted["streams"]
                .get(0)
                .and_then(|s| s["nb_read_packets"].as_str())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        }
    };
    if frames == 0 {
        return Err(Error::new(format!(
            "{} holds no video frames",
            path.display()
        )));
    }
    let rate = [&stream["r_frame_rate"], &stream["avg_frame_rate"]]
        .into_iter()
        .filter_map(|r| r.as_str())
        .find(|r| parse_rate(r).is_ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::new(format!(
                "{} gives no frame rate; give one with --fps",
                path.display()
            ))
        })?;
    let pix_fmt = stream["pix_fmt"].as_str().unwrap_or_default().to_string();
    let (deep, alpha) = pixel_format(&pix_fmt)?;
    let matrix_tagged = stream["color_space"]
        .as_str()
        .is_some_and(|c| !c.is_empty() && c != "unknown" && c != "reserved");
    Ok(MovieInfo {
        width: width as u32,
        height: height as u32,
        frames: frames.min(i32::MAX as u64) as i32,
        rate,
        deep,
        alpha,
        matrix_tagged,
    })
}

/// Whether a pixel format has more than 8 bits per component, and whether it has alpha.
fn pixel_format(name: &str) -> Result<(bool, bool)> {
    let v = ffprobe(&[OsStr::new("-show_pixel_formats")])?
        .map_err(|why| Error::new(format!("ffprobe cannot list pixel formats: {why}")))?;
    let found = v["pixel_formats"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["name"].as_str() == Some(name)));
    let Some(format) = found else {
        // Unknown to this ffmpeg: decode at 16 bits, which loses nothing.
        return Ok((true, false));
    };
    let deep = format["components"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["bit_depth"].as_u64().is_some_and(|b| b > 8))
    });
    let alpha = format["flags"]["alpha"].as_u64() == Some(1);
    Ok((deep, alpha))
}

/// A running ffmpeg whose stderr is read on a thread (so a talkative ffmpeg never stalls), killed
/// when dropped before it was waited for.
struct Running {
    child: Option<Child>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn spawn(command: &mut Command) -> Result<Running> {
        let mut child = command.stderr(Stdio::piped()).spawn().map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                tool_missing("ffmpeg")
            } else {
                Error::new(format!("cannot run ffmpeg: {e}"))
            }
        })?;
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        });
        Ok(Running {
            child: Some(child),
            stderr,
        })
    }

    /// Waits for ffmpeg to exit: Ok, or its last stderr lines.
    fn wait(&mut self) -> std::result::Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Err("ffmpeg was already stopped".to_string());
        };
        let status = child.wait();
        let text = self.stderr_text();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("ffmpeg failed ({s}): {}", last_lines(&text))),
            Err(e) => Err(format!("ffmpeg did not finish: {e}")),
        }
    }

    fn stderr_text(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.stderr_text();
    }
}

/// A clip's frames decoded lazily from a movie.
pub struct MovieSource {
    path: PathBuf,
    info: MovieInfo,
    luminance_matte: bool,
    state: Mutex<Decoding>,
}

/// The decoder pipe (if running), the recent frames kept in memory, and the folder that frames
/// leaving memory go to once an effect has gone back to one no longer kept.
#[derive(Default)]
struct Decoding {
    pipe: Option<DecodePipe>,
    kept: BTreeMap<i32, Arc<Vec<u8>>>,
    spill: Option<Spill>,
    /// How many times ffmpeg was started.
    starts: u32,
}

/// A temporary folder of raw decoded frames, removed when dropped.
struct Spill {
    dir: PathBuf,
}

impl Spill {
    fn create() -> std::result::Result<Spill, String> {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("pixelspace-frames-{}-{serial}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Spill { dir })
    }

    fn path(&self, frame: i32) -> PathBuf {
        self.dir.join(format!("{frame}.raw"))
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct DecodePipe {
    stdout: ChildStdout,
    /// The frame the pipe yields next.
    next: i32,
    // Declared last: dropped (killed) after the pipe's stdout is closed.
    running: Running,
}

impl MovieSource {
    /// Probes a movie; frames are decoded when first read.
    pub fn open(path: &Path) -> Result<MovieSource> {
        let info = probe(path)?;
        Ok(MovieSource {
            path: path.to_path_buf(),
            info,
            luminance_matte: false,
            state: Mutex::new(Decoding::default()),
        })
    }

    /// Frames 0 to the last.
    pub fn range(&self) -> (i32, i32) {
        (0, self.info.frames - 1)
    }

    /// Bits per channel frames are decoded to: 8, or 16 for deeper sources.
    pub fn bits(&self) -> u8 {
        if self.info.deep { 16 } else { 8 }
    }

    /// The movie's frame rate as ffmpeg writes it.
    pub fn rate(&self) -> &str {
        &self.info.rate
    }

    /// Reads a movie without alpha by its luminance into alpha (for matte clips).
    pub fn set_luminance_matte(&mut self, on: bool) {
        self.luminance_matte = on && !self.info.alpha;
    }

    fn frame_bytes(&self) -> usize {
        self.info.width as usize
            * self.info.height as usize
            * 4
            * if self.info.deep { 2 } else { 1 }
    }

    fn start(&self) -> std::result::Result<DecodePipe, String> {
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-i"])
            .arg(&self.path)
            .args([
                "-map",
                "0:v:0",
                "-an",
                "-sn",
                "-dn",
                "-fps_mode",
                "passthrough",
            ]);
        // Untagged HD video is BT.709 by convention (ffmpeg alone would assume BT.601).
        if !self.info.matrix_tagged && self.info.height >= 720 {
            cmd.args(["-vf", "scale=in_color_matrix=bt709"]);
        }
        cmd.args([
            "-pix_fmt",
            if self.info.deep { "rgba64le" } else { "rgba" },
            "-f",
            "rawvideo",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
        let mut running = Running::spawn(&mut cmd).map_err(|e| e.message)?;
        let stdout = running
            .child
            .as_mut()
            .and_then(|c| c.stdout.take())
            .ok_or("ffmpeg gave no output pipe")?;
        Ok(DecodePipe {
            stdout,
            next: 0,
            running,
        })
    }

    /// The raw bytes of `frame`: kept, or decoded (from the start again when it lies behind the pipe).
    fn raw(&self, frame: i32) -> std::result::Result<Arc<Vec<u8>>, String> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| "a decoding thread failed".to_string())?;
        let state = &mut *guard;
        if let Some(bytes) = state.kept.get(&frame) {
            return Ok(bytes.clone());
        }
        if let Some(path) = state.spill.as_ref().map(|s| s.path(frame))
            && path.is_file()
        {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            return Ok(Arc::new(bytes));
        }
        if state.pipe.as_ref().is_none_or(|p| p.next > frame) {
            if state.starts > 0 && state.spill.is_none() {
                state.spill = Some(Spill::create()?);
            }
            state.pipe = None;
            state.pipe = Some(self.start()?);
            state.starts += 1;
        }
        let size = self.frame_bytes();
        let keep = (CACHE_BYTES / size).clamp(2, CACHE_FRAMES);
        loop {
            let pipe = state.pipe.as_mut().expect("started above");
            let mut bytes = vec![0u8; size];
            if let Err(e) = pipe.stdout.read_exact(&mut bytes) {
                let decoded = pipe.next;
                let mut pipe = state.pipe.take().expect("started above");
                let why = match pipe.running.wait() {
                    Err(message) => message,
                    Ok(()) if e.kind() == ErrorKind::UnexpectedEof => "the movie ended".to_string(),
                    Ok(()) => e.to_string(),
                };
                return Err(format!(
                    "{}: frame {frame} could not be decoded ({why}); FFmpeg gave {decoded} of \
                     the {} frames the file holds",
                    self.path.display(),
                    self.info.frames
                ));
            }
            let n = pipe.next;
            pipe.next += 1;
            let bytes = Arc::new(bytes);
            state.kept.insert(n, bytes.clone());
            while state.kept.len() > keep {
                let Some((old, bytes)) = state.kept.pop_first() else {
                    break;
                };
                if let Some(path) = state.spill.as_ref().map(|s| s.path(old))
                    && !path.is_file()
                {
                    std::fs::write(&path, bytes.as_slice()).map_err(|e| {
                        format!("cannot keep a decoded frame in {}: {e}", path.display())
                    })?;
                }
            }
            if n == frame {
                return Ok(bytes);
            }
        }
    }
}

impl FrameSource for MovieSource {
    fn frame_range(&self) -> (i32, i32) {
        self.range()
    }
    fn rod(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        if frame < 0 || frame >= self.info.frames {
            return Err(format!(
                "frame {frame} of {} is outside its frames 0..{}",
                self.path.display(),
                self.info.frames - 1
            ));
        }
        let bytes = self.raw(frame)?;
        let (w, h) = (self.info.width as usize, self.info.height as usize);
        let mut data = vec![0f32; w * h * 4];
        for row in 0..h {
            let y = h - 1 - row; // the pipe's rows are top-down
            let out = &mut data[y * w * 4..(y + 1) * w * 4];
            if self.info.deep {
                let src = &bytes[row * w * 8..(row + 1) * w * 8];
                for (o, v) in out.iter_mut().zip(src.chunks_exact(2)) {
                    *o = u16::from_le_bytes([v[0], v[1]]) as f32 / 65535.0;
                }
            } else {
                let src = &bytes[row * w * 4..(row + 1) * w * 4];
                for (o, &v) in out.iter_mut().zip(src) {
                    *o = v as f32 / 255.0;
                }
            }
        }
        if self.luminance_matte {
            imageio::luminance_into_alpha(&mut data);
        }
        Ok(HostImage {
            width: w as u32,
            height: h as u32,
            data,
        })
    }
}

/// A movie being written: frames arrive in any order and go to ffmpeg in the order given.
pub struct MovieWriter {
    path: PathBuf,
    /// The hidden file ffmpeg writes; renamed to `path` by `finish`, removed if never finished.
    partial: PathBuf,
    codec: Codec,
    rate: String,
    order: Vec<i32>,
    /// Index in `order` of the next frame to encode.
    next: usize,
    waiting: BTreeMap<i32, HostImage>,
    encoder: Option<Encoder>,
    finished: bool,
}

struct Encoder {
    stdin: Option<ChildStdin>,
    width: u32,
    height: u32,
    running: Running,
}

impl MovieWriter {
    /// A writer for `path` that encodes the frames `order` (in that order) at `rate`.
    pub fn new(path: &Path, codec: Codec, rate: &str, order: Vec<i32>) -> Result<MovieWriter> {
        output_codec(path, Some(codec))?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .context(|| format!("cannot create {}", parent.display()))?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
        Ok(MovieWriter {
            path: path.to_path_buf(),
            partial,
            codec,
            rate: rate.to_string(),
            order,
            next: 0,
            waiting: BTreeMap::new(),
            encoder: None,
            finished: false,
        })
    }

    fn start(&self, width: u32, height: u32) -> std::result::Result<Encoder, String> {
        if let Some(problem) = self.codec.size_problem(width, height) {
            return Err(problem);
        }
        let deep = self.codec.deep();
        let filters = format!(
            "scale=out_color_matrix=bt709:out_range=tv,format={},\
             setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv",
            self.codec.pix_fmt()
        );
        let mut cmd = Command::new("ffmpeg");
        cmd.args([
            "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt",
        ])
        .arg(if deep { "rgba64le" } else { "rgba" })
        .arg("-s")
        .arg(format!("{width}x{height}"))
        .arg("-framerate")
        .arg(&self.rate)
        .args(["-i", "pipe:0", "-an", "-vf"])
        .arg(filters)
        .args(self.codec.encoder_args())
        .args([
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
        ]);
        let ext = extension(&self.path);
        if ext == "mp4" || ext == "mov" {
            cmd.args(["-movflags", "+faststart"]);
        }
        cmd.arg("-f")
            .arg(ext)
            .arg(&self.partial)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut running = Running::spawn(&mut cmd).map_err(|e| e.message)?;
        let stdin = running.child.as_mut().and_then(|c| c.stdin.take());
        Ok(Encoder {
            stdin,
            width,
            height,
            running,
        })
    }

    /// Takes one rendered frame; encodes every frame that is now next in order.
    pub fn push(&mut self, frame: i32, image: HostImage) -> std::result::Result<(), String> {
        if self.encoder.is_none() {
            self.encoder = Some(self.start(image.width, image.height)?);
        }
        let encoder = self.encoder.as_mut().expect("started above");
        if (image.width, image.height) != (encoder.width, encoder.height) {
            return Err(format!(
                "frame {frame} is {}x{} but the movie is {}x{}",
                image.width, image.height, encoder.width, encoder.height
            ));
        }
        self.waiting.insert(frame, image);
        while let Some(&want) = self.order.get(self.next) {
            let Some(image) = self.waiting.remove(&want) else {
                break;
            };
            let bytes = encoder_bytes(&image, self.codec.deep());
            let written = match encoder.stdin.as_mut() {
                Some(stdin) => stdin.write_all(&bytes),
                None => Err(std::io::Error::other("ffmpeg's input is closed")),
            };
            if let Err(e) = written {
                encoder.stdin = None;
                let why = encoder
                    .running
                    .wait()
                    .err()
                    .unwrap_or_else(|| e.to_string());
                return Err(format!(
                    "ffmpeg could not write {}: {why}",
                    self.path.display()
                ));
            }
            self.next += 1;
        }
        Ok(())
    }

    /// Ends the movie once every frame is in and moves it into place.
    pub fn finish(mut self) -> Result<()> {
        if self.next < self.order.len() {
            return Err(Error::new(format!(
                "{}: only {} of {} frames were rendered; nothing written",
                self.path.display(),
                self.next,
                self.order.len()
            )));
        }
        let Some(mut encoder) = self.encoder.take() else {
            return Err(Error::new(format!(
                "{}: no frames to write",
                self.path.display()
            )));
        };
        encoder.stdin = None; // end of input: ffmpeg finishes the file
        encoder.running.wait().map_err(|why| {
            Error::new(format!(
                "ffmpeg could not write {}: {why}",
                self.path.display()
            ))
        })?;
        std::fs::rename(&self.partial, &self.path)
            .context(|| format!("cannot write {}", self.path.display()))?;
        self.finished = true;
        eprintln!(
            "wrote {} ({} frames, {}, {} fps)",
            self.path.display(),
            self.order.len(),
            self.codec.name(),
            self.rate
        );
        Ok(())
    }
}

impl Drop for MovieWriter {
    fn drop(&mut self) {
        // Stop ffmpeg first (it holds the file), then remove what it wrote.
        self.encoder = None;
        if !self.finished {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// A frame as the encoder's input: RGBA, rows top-down, 8-bit or 16-bit little-endian.
fn encoder_bytes(image: &HostImage, deep: bool) -> Vec<u8> {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut out = Vec::with_capacity(w * h * 4 * if deep { 2 } else { 1 });
    for row in 0..h {
        let y = h - 1 - row;
        for &v in &image.data[y * w * 4..(y + 1) * w * 4] {
            let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
            if deep {
                out.extend_from_slice(&((v * 65535.0).round() as u16).to_le_bytes());
            } else {
                out.push((v * 255.0).round() as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("25").unwrap(), "25");
        assert_eq!(parse_rate("24000/1001").unwrap(), "24000/1001");
        assert_eq!(parse_rate("23.976").unwrap(), "24000/1001");
        assert_eq!(parse_rate("29.97").unwrap(), "30000/1001");
        assert_eq!(parse_rate("12.5").unwrap(), "12500/1000");
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-24").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0/0").is_err());
    }

    #[test]
    fn codecs_per_container() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(output_codec(&p("a.mp4"), None).unwrap(), Codec::H264);
        assert_eq!(output_codec(&p("a.MOV"), None).unwrap(), Codec::Prores);
        assert_eq!(output_codec(&p("a.mxf"), None).unwrap(), Codec::DnxhrHq);
        assert_eq!(
            output_codec(&p("a.mov"), Some(Codec::DnxhrHqx)).unwrap(),
            Codec::DnxhrHqx
        );
        assert!(output_codec(&p("a.mp4"), Some(Codec::Prores)).is_err());
        assert!(output_codec(&p("a.mxf"), Some(Codec::H264)).is_err());
        assert!(output_codec(&p("a.avi"), None).is_err());
        assert!(Codec::H264.size_problem(321, 240).is_some());
        assert!(Codec::Prores.size_problem(320, 241).is_none());
        assert!(Codec::Prores4444.size_problem(321, 241).is_none());
    }

    #[test]
    fn encoder_rows_are_top_down() {
        let image = HostImage {
            width: 1,
            height: 2,
            data: vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.5, f32::NAN, 2.0],
        };
        assert_eq!(
            encoder_bytes(&image, false),
            vec![255, 128, 0, 255, 0, 0, 0, 255]
        );
        let deep = encoder_bytes(&image, true);
        assert_eq!(&deep[..4], &[0xff, 0xff, 0x00, 0x80]);
    }

    /// A small clip made by ffmpeg in a temporary folder (removed by the caller).
    fn test_clip(name: &str, frames: u32) -> (PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-movie-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("clip.mkv");
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=64x48:rate=30")
            .arg("-frames:v")
            .arg(frames.to_string())
            .args(["-c:v", "ffv1", "-pix_fmt", "yuv444p"])
            .arg(&path)
            .status()
            .expect("these tests need ffmpeg on PATH (apt-get install ffmpeg)");
        assert!(status.success());
        (dir, path)
    }

    #[test]
    fn frames_read_in_any_order_are_the_same() {
        let (dir, path) = test_clip("order", 40);
        let source = MovieSource::open(&path).unwrap();
        // Matroska keeps no frame count: it is counted.
        assert_eq!(source.range(), (0, 39));
        assert_eq!(source.rate(), "30/1");
        assert_eq!(source.bits(), 8);
        let forward: Vec<HostImage> = (0..40).map(|k| source.read(k).unwrap()).collect();
        assert_ne!(forward[0], forward[20], "the test pattern moves");
        let starts = || source.state.lock().unwrap().starts;
        assert_eq!(starts(), 1);
        // Frame 2 is no longer kept (32 frames are): decoded again from the start, once; from
        // then on frames leaving memory go to a folder, and any order needs no third decode.
        for k in [2, 39, 0, 17, 16, 38, 1] {
            assert!(source.read(k).unwrap() == forward[k as usize], "frame {k}");
        }
        for k in (0..40).rev().chain(0..40) {
            assert!(source.read(k).unwrap() == forward[k as usize], "frame {k}");
        }
        assert_eq!(starts(), 2);
        let outside = source.read(40).unwrap_err();
        assert!(outside.contains("outside its frames 0..39"), "{outside}");
        let spill = source
            .state
            .lock()
            .unwrap()
            .spill
            .as_ref()
            .unwrap()
            .dir
            .clone();
        assert!(spill.is_dir());
        drop(source);
        assert!(!spill.exists(), "the spill folder outlives its clip");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
