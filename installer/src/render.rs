//! `pixelspace render`: reads frame patterns or movies, drives an effect through the reference OFX
//! host (full, or restricted to what MLT's host offers), writes frames or a movie.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

use clap::{Args, ValueEnum};
use pixelspace_host::{
    Depth, FrameSource, Host, HostImage, HostProfile, MessageLevel, RenderOptions, RowOrder,
};

use crate::error::{Error, Result};
use crate::frames::{self, FramePattern};
use crate::imageio::{self, PngBits, Rgba};
use crate::movie::{self, Codec, MovieSource, MovieWriter};
use crate::paths;

#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// Effect identifier, e.g. org.pixelspace.Inference.
    pub effect: String,
    /// Input for the Source clip: a frame pattern (shot/%04d.png) or a movie (clip.mp4, .mov,
    /// .mkv, .mxf: anything FFmpeg reads; frame N is its Nth frame, from 0).
    #[arg(short = 'i', long = "input")]
    pub input: Option<String>,
    /// Output: a frame pattern (out/%04d.exr) or a movie (out.mp4, out.mov, out.mxf), written
    /// in time order.
    #[arg(short = 'o', long = "output")]
    pub output: String,
    /// Frames to render, both ends included: A..B (may be negative: --frames=-4..27).
    /// Default: the effect's frame range (its time domain: the frames of the input that exist,
    /// or more for effects that lengthen a shot); with --host restricted, the input's frames.
    #[arg(long, allow_hyphen_values = true)]
    pub frames: Option<String>,
    /// Bind a further clip: NAME=PATTERN, a frame pattern or a movie (repeatable). A matte
    /// clip (Mask) without alpha is read by its luminance.
    #[arg(long = "clip", value_name = "NAME=PATTERN")]
    pub clips: Vec<String>,
    /// Set a parameter by script name: PARAM=VALUE (choice params by option name; repeatable).
    #[arg(long = "set", value_name = "PARAM=VALUE", allow_hyphen_values = true)]
    pub sets: Vec<String>,
    /// Frames rendered at once (and CPUs the host reports to the plugin).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pixel depth the host gives the plugin (default: the input's own: byte for 8-bit PNG and
    /// movies, short for 16-bit PNG and 10-bit or deeper movies, float for EXR). Byte and short frames count as sRGB-encoded, float as linear.
    #[arg(long, value_enum)]
    pub depth: Option<DepthArg>,
    /// Frame rate of a movie output (24, 25, 23.976, 30000/1001). Default: the input movie's,
    /// else 24.
    #[arg(long)]
    pub fps: Option<String>,
    /// Codec of a movie output. Default: h264 for .mp4, prores (422 HQ) for .mov, dnxhr-hq for
    /// .mxf.
    #[arg(long, value_enum)]
    pub codec: Option<Codec>,
    /// Render scale in (0, 1]: 0.5 renders at half resolution.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// OFX plugin folder (default: first OFX_PLUGIN_PATH entry, else /usr/OFX/Plugins).
    #[arg(long)]
    pub plugin_path: Option<PathBuf>,
    /// What the host offers the plugin: full, or restricted to what MLT's host (Shotcut,
    /// Kdenlive) offers: the filter context, no temporal access (every image the plugin asks
    /// for is the frame being rendered), no clip frame ranges, no time domain, whole frames at
    /// scale 1.
    #[arg(long = "host", value_enum, default_value_t = HostArg::Full)]
    pub host: HostArg,
    /// Row order of host images (top-down = negative rowBytes). For testing plugins.
    #[arg(long, value_enum, default_value_t = RowOrderArg::BottomUp, hide = true)]
    pub row_order: RowOrderArg,
    /// Extra bytes at the end of every host image row. For testing plugins.
    #[arg(long, default_value_t = 0, hide = true)]
    pub row_padding: usize,
    /// Ask the plugin for WxH tiles instead of whole frames. For testing plugins.
    #[arg(long, value_name = "WxH", hide = true)]
    pub tile: Option<String>,
    /// Bits per channel of PNG outputs (default: 8 for byte depth, else 16).
    #[arg(long, hide = true)]
    pub png_bits: Option<u8>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepthArg {
    Byte,
    Short,
    Float,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostArg {
    Full,
    Restricted,
}

impl HostArg {
    pub fn profile(self) -> HostProfile {
        match self {
            HostArg::Full => HostProfile::Full,
            HostArg::Restricted => HostProfile::Restricted,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOrderArg {
    BottomUp,
    TopDown,
}

/// A clip's frames read lazily from a frame pattern.
pub struct PatternSource {
    pattern: FramePattern,
    text: String,
    range: (i32, i32),
    size: (u32, u32),
    depth: DepthArg,
    luminance_matte: bool,
}

impl PatternSource {
    /// Opens a pattern: its frame range is the frames that exist; a still covers `still_range`.
    pub fn open(text: &str, still_range: (i32, i32)) -> Result<Self> {
        let pattern = FramePattern::parse(text)?;
        let (range, probe) = if pattern.is_still() {
            (still_range, pattern.path(still_range.0))
        } else {
            let existing = pattern.existing_frames();
            let (Some(&first), Some(&last)) = (existing.first(), existing.last()) else {
                return Err(Error::new(format!(
                    "no frames found for {text} (expected files such as {})",
                    pattern.path(1).display()
                )));
            };
            ((first, last), pattern.path(first))
        };
        let probe_image = imageio::read(&probe)?;
        let depth = match imageio::stored_bits(&probe)? {
            8 => DepthArg::Byte,
            16 => DepthArg::Short,
            _ => DepthArg::Float,
        };
        Ok(PatternSource {
            pattern,
            text: text.to_string(),
            range,
            size: (probe_image.width, probe_image.height),
            depth,
            luminance_matte: false,
        })
    }

    /// First and last frame that exist (or the range a still was opened for).
    pub fn range(&self) -> (i32, i32) {
        self.range
    }

    /// The depth the files are stored in: byte for 8-bit PNG, short for 16-bit PNG, float for EXR.
    pub fn stored_depth(&self) -> DepthArg {
        self.depth
    }

    /// Reads files without alpha by their luminance into alpha (for matte clips); files with
    /// alpha keep it.
    pub fn set_luminance_matte(&mut self, on: bool) {
        self.luminance_matte = on;
    }
}

impl FrameSource for PatternSource {
    fn frame_range(&self) -> (i32, i32) {
        self.range
    }
    fn rod(&self) -> (u32, u32) {
        self.size
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        let path = self.pattern.path(frame);
        if !path.is_file() {
            return Err(format!(
                "frame {frame} of {} is missing: {}",
                self.text,
                path.display()
            ));
        }
        let (mut img, has_alpha) = imageio::read_with_alpha(&path).map_err(|e| e.message)?;
        if self.luminance_matte && !has_alpha {
            imageio::luminance_into_alpha(&mut img.data);
        }
        if (img.width, img.height) != self.size {
            return Err(format!(
                "{} is {}x{} but the clip {} is {}x{}",
                path.display(),
                img.width,
                img.height,
                self.text,
                self.size.0,
                self.size.1
            ));
        }
        Ok(HostImage {
            width: img.width,
            height: img.height,
            data: img.data,
        })
    }
}

/// A clip bound on the command line: a frame pattern, or a movie decoded through FFmpeg.
enum ClipSource {
    Frames(PatternSource),
    Movie(MovieSource),
}

impl ClipSource {
    /// A movie when `text` names one file that is not a PNG or EXR image (an existing file's
    /// name may hold `%` or `#`), else a frame pattern.
    fn open(text: &str, still_range: (i32, i32)) -> Result<Self> {
        let is_image = |ext: &str| ext == "png" || ext == "exr";
        let path = Path::new(text);
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if path.is_file() && !is_image(&ext) {
            return Ok(ClipSource::Movie(MovieSource::open(path)?));
        }
        let pattern = FramePattern::parse(text)?;
        let ext = pattern.extension();
        if pattern.is_still() && !is_image(&ext) {
            Ok(ClipSource::Movie(MovieSource::open(Path::new(text))?))
        } else {
            Ok(ClipSource::Frames(PatternSource::open(text, still_range)?))
        }
    }

    fn range(&self) -> (i32, i32) {
        match self {
            ClipSource::Frames(s) => s.range(),
            ClipSource::Movie(s) => s.range(),
        }
    }

    fn stored_depth(&self) -> DepthArg {
        match self {
            ClipSource::Frames(s) => s.stored_depth(),
            ClipSource::Movie(s) if s.bits() > 8 => DepthArg::Short,
            ClipSource::Movie(_) => DepthArg::Byte,
        }
    }

    /// A movie's frame rate (frame patterns have none).
    fn rate(&self) -> Option<&str> {
        match self {
            ClipSource::Frames(_) => None,
            ClipSource::Movie(s) => Some(s.rate()),
        }
    }

    fn set_luminance_matte(&mut self, on: bool) {
        match self {
            ClipSource::Frames(s) => s.set_luminance_matte(on),
            ClipSource::Movie(s) => s.set_luminance_matte(on),
        }
    }
}

impl FrameSource for ClipSource {
    fn frame_range(&self) -> (i32, i32) {
        self.range()
    }
    fn rod(&self) -> (u32, u32) {
        match self {
            ClipSource::Frames(s) => s.rod(),
            ClipSource::Movie(s) => s.rod(),
        }
    }
    fn read(&self, frame: i32) -> std::result::Result<HostImage, String> {
        match self {
            ClipSource::Frames(s) => s.read(frame),
            ClipSource::Movie(s) => s.read(frame),
        }
    }
}

/// Where rendered frames go: one file per frame, or one movie.
enum Output {
    Frames {
        pattern: FramePattern,
        png_bits: PngBits,
    },
    Movie(Mutex<MovieWriter>),
}

impl Output {
    fn write(&self, frame: i32, image: HostImage) -> std::result::Result<(), String> {
        match self {
            Output::Frames { pattern, png_bits } => {
                let path = pattern.path(frame);
                let rgba = Rgba {
                    width: image.width,
                    height: image.height,
                    data: image.data,
                };
                imageio::write(&path, &rgba, *png_bits).map_err(|e| e.message)?;
                eprintln!("wrote {}", path.display());
                Ok(())
            }
            Output::Movie(writer) => writer
                .lock()
                .map_err(|_| "a thread writing the movie failed".to_string())?
                .push(frame, image),
        }
    }

    /// Ends a movie (frame files are complete as they are written).
    fn finish(self) -> Result<()> {
        match self {
            Output::Frames { .. } => Ok(()),
            Output::Movie(writer) => writer
                .into_inner()
                .map_err(|_| Error::new("a thread writing the movie failed"))?
                .finish(),
        }
    }
}

fn split_pair<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str)> {
    text.split_once('=')
        .ok_or_else(|| Error::new(format!("{what} {text:?}: expected NAME=VALUE")))
}

fn parse_tile(text: &str) -> Result<(u32, u32)> {
    let bad = || Error::new(format!("tile {text:?}: expected WxH, e.g. 256x128"));
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if w == 0 || h == 0 {
        return Err(bad());
    }
    Ok((w, h))
}

/// Host render options from the command's flags.
pub fn render_options(args: &RenderArgs, depth: DepthArg) -> Result<RenderOptions> {
    if !(args.scale > 0.0 && args.scale <= 1.0) {
        return Err(Error::new(format!(
            "render scale {} is outside (0, 1]",
            args.scale
        )));
    }
    if args.threads == 0 {
        return Err(Error::new("--threads must be at least 1"));
    }
    if args.host == HostArg::Restricted && args.scale != 1.0 {
        return Err(Error::new(format!(
            "--scale {}: the restricted host renders at scale 1 only",
            args.scale
        )));
    }
    Ok(RenderOptions {
        depth: match depth {
            DepthArg::Byte => Depth::Byte,
            DepthArg::Short => Depth::Short,
            DepthArg::Float => Depth::Float,
        },
        scale: args.scale,
        threads: args.threads,
        row_order: match args.row_order {
            RowOrderArg::BottomUp => RowOrder::BottomUp,
            RowOrderArg::TopDown => RowOrder::TopDown,
        },
        row_padding: args.row_padding,
        tile: args.tile.as_deref().map(parse_tile).transpose()?,
    })
}

/// Runs `pixelspace render`.
pub fn run(args: &RenderArgs) -> Result<()> {
    let requested = args
        .frames
        .as_deref()
        .map(frames::parse_range)
        .transpose()?;
    let mut bindings: Vec<(String, String)> = Vec::new();
    if let Some(input) = &args.input {
        bindings.push(("Source".to_string(), input.clone()));
    }
    for clip in &args.clips {
        let (name, pattern) = split_pair(clip, "--clip")?;
        bindings.push((name.to_string(), pattern.to_string()));
    }
    let mut sources: Vec<(String, ClipSource)> = Vec::new();
    for (name, pattern) in &bindings {
        sources.push((
            name.clone(),
            ClipSource::open(pattern, requested.unwrap_or((1, 1)))?,
        ));
    }
    // Without --frames: the input's frames for now; in the full host, the effect's own frame
    // range (its time domain, which may be longer) once the instance is set up.
    let mut range = match requested {
        Some(r) => r,
        None => sources
            .first()
            .map(|(_, s)| s.range())
            .ok_or_else(|| Error::new("give --frames A..B (no input to take them from)"))?,
    };
    let depth = args
        .depth
        .or_else(|| sources.first().map(|(_, s)| s.stored_depth()))
        .unwrap_or(DepthArg::Float);
    let output = FramePattern::parse(&args.output)?;
    let out_ext = output.extension();
    // A movie output: its codec and frame rate (the input movie's unless --fps says).
    let movie_out = if movie::OUTPUT_EXTENSIONS.contains(&out_ext.as_str()) {
        if !output.is_still() {
            return Err(Error::new(format!(
                "output {:?}: a movie takes no frame number (%04d or ####)",
                args.output
            )));
        }
        let codec = movie::output_codec(Path::new(&args.output), args.codec)?;
        let rate = match (&args.fps, sources.first().and_then(|(_, s)| s.rate())) {
            (Some(fps), _) => movie::parse_rate(fps)?,
            (None, Some(rate)) => rate.to_string(),
            (None, None) => "24".to_string(),
        };
        Some((codec, rate))
    } else {
        if out_ext != "png" && out_ext != "exr" {
            return Err(Error::new(format!(
                "output {:?}: use a .png or .exr pattern, or a .mp4, .mov or .mxf movie",
                args.output
            )));
        }
        if output.is_still() && range.1 > range.0 {
            return Err(Error::new(format!(
                "output {:?} has no frame number (%04d or ####) but {} frames are rendered",
                args.output,
                range.1 as i64 - range.0 as i64 + 1
            )));
        }
        if args.codec.is_some() || args.fps.is_some() {
            eprintln!("note: --codec and --fps are for movie outputs (.mp4, .mov, .mxf); ignored");
        }
        None
    };
    let png_bits = match args.png_bits {
        Some(8) => PngBits::Eight,
        Some(16) => PngBits::Sixteen,
        Some(b) => return Err(Error::new(format!("--png-bits {b}: use 8 or 16"))),
        None if depth == DepthArg::Byte => PngBits::Eight,
        None => PngBits::Sixteen,
    };
    let opts = render_options(args, depth)?;

    let plugin_dir = args
        .plugin_path
        .clone()
        .unwrap_or_else(paths::default_plugin_dir);
    let profile = args.host.profile();
    let host = Host::with_profile(std::slice::from_ref(&plugin_dir), profile)?;
    if !host.effects().iter().any(|e| e.id == args.effect) {
        let ids: Vec<String> = host.effects().into_iter().map(|e| e.id).collect();
        return Err(Error::new(format!(
            "effect {} not found in {} (found: {}); run `pixelspace install` or `pixelspace doctor`",
            args.effect,
            plugin_dir.display(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        )));
    }
    let mut instance = host.instance(&args.effect)?;
    for set in &args.sets {
        let (name, value) = split_pair(set, "--set")?;
        instance.set_param(name, value)?;
    }
    // Matte clips (the effect marks them as masks) read an image without alpha by its luminance.
    let masks: Vec<String> = instance
        .clips()
        .into_iter()
        .filter(|c| c.mask)
        .map(|c| c.name)
        .collect();
    for (name, mut source) in sources {
        source.set_luminance_matte(masks.contains(&name));
        instance.connect(&name, Arc::new(source))?;
    }

    // The restricted host has no time domain (MLT never asks an effect for one): it renders
    // exactly the frames asked for.
    let full = profile == HostProfile::Full;
    if full
        && requested.is_none()
        && (movie_out.is_some() || !output.is_still())
        && let Ok((first, last)) = instance.time_domain()
        && first.is_finite()
        && last.is_finite()
        && first <= last
    {
        range = (first.round() as i32, last.round() as i32);
    }
    let frame_list: Vec<i32> = (range.0..=range.1).collect();
    if full
        && let Ok((first, last)) = instance.time_domain()
        && ((range.0 as f64) < first || (range.1 as f64) > last)
    {
        eprintln!(
            "note: frames {}..{} reach outside the effect's frame range {first}..{last}; \
                 the host holds the nearest source frame there",
            range.0, range.1
        );
    }
    if opts.tile.is_some() && !full {
        eprintln!("note: the restricted host renders whole frames; --tile is ignored");
    } else if opts.tile.is_some() && !instance.supports_tiles() {
        eprintln!(
            "note: {} does not support tiles; rendering whole frames",
            args.effect
        );
    }
    let safety = instance.render_thread_safety();
    if opts.threads > 1 && safety != "OfxImageEffectRenderFullySafe" {
        eprintln!(
            "note: {} render thread safety is {safety}; frames are rendered one at a time",
            args.effect
        );
    }

    // A movie gets the frames in time order, whatever their numbers (ExtendShot's head is
    // negative); a failed render leaves no movie.
    let sink_to = match movie_out {
        Some((codec, rate)) => Output::Movie(Mutex::new(MovieWriter::new(
            Path::new(&args.output),
            codec,
            &rate,
            frame_list.clone(),
        )?)),
        None => Output::Frames {
            pattern: output,
            png_bits,
        },
    };
    let sink = |frame: i32, image: HostImage| sink_to.write(frame, image);
    let rendered = instance.render_frames(&frame_list, &opts, &sink);
    // Log lines (progress) are noise here; anything the plugin wants a user to read is shown.
    for message in instance
        .posted()
        .into_iter()
        .filter(|m| m.level != MessageLevel::Log)
    {
        eprintln!("{}: {:?}: {}", args.effect, message.level, message.text);
    }
    rendered.map_err(|e| Error::new(format!("render failed: {e}")))?;
    sink_to.finish()
}
