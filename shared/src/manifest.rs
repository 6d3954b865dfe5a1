//! Model manifests: the JSON file beside every model that says how to feed and read it.
//!
//! `foo.onnx` is described by `foo.json` in the same folder (schema v1, documented in
//! `models/README.md`). Parsing rejects unknown fields so a typo never silently falls back
//! to a default; [`Manifest::validate`] checks the values and explains what to fix;
//! [`Manifest::verify_model`] checks the model file's sha256, streamed.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::tensor::{ChannelOrder, Layout, Normalisation};

/// The manifest schema version this code reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A model manifest (schema v1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Schema version; must be 1.
    pub schema: u32,
    /// Short name (shown to artists, used by `pixelspace models`).
    pub name: String,
    /// What the model does.
    #[serde(default)]
    pub description: String,
    /// The model file, relative to the manifest's folder.
    pub model: String,
    /// sha256 of the model file, 64 hex digits.
    pub sha256: String,
    /// Where the weights come from and what they may be used for.
    pub licence: Licence,
    /// Model inputs: images taken from clips, or constant tensors.
    pub inputs: Vec<Input>,
    /// How frames are fitted to the model's input size.
    pub size: Size,
    /// Pixels of context the model needs around a region; absent = the whole frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<u32>,
    /// Process large frames in overlapping tiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiling: Option<Tiling>,
    /// Model outputs; the first one is written to the effect's output.
    pub outputs: Vec<Output>,
    /// Measured difference against the original framework (filled in by converters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<serde_json::Value>,
    /// Folder the manifest was read from (model paths are relative to it).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The manifest file, for messages.
    #[serde(skip)]
    pub source: PathBuf,
}

/// Licence block: required for every model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// Licence name, e.g. `MIT`, `Apache-2.0`, `CC-BY-NC-4.0`.
    pub name: String,
    /// Whether commercial use of the weights is allowed.
    pub commercial_use: bool,
    /// Where the weights came from (project, paper, package).
    pub source: String,
    /// Link to the licence or the source.
    #[serde(default)]
    pub url: Option<String>,
}

/// One model input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawInput", into = "RawInput")]
pub enum Input {
    /// Pixels from a clip.
    Image(ImageInput),
    /// A constant tensor (shape from the model).
    Constant(ConstantInput),
}

impl Input {
    /// The ONNX input name.
    pub fn name(&self) -> &str {
        match self {
            Input::Image(i) => &i.name,
            Input::Constant(c) => &c.name,
        }
    }
}

/// An input fed from a clip's frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageInput {
    /// ONNX input name.
    pub name: String,
    /// Clip it is read from, e.g. `Source`.
    pub clip: String,
    /// Frame relative to the frame being rendered.
    pub frame_offset: i32,
    pub layout: Layout,
    pub channels: ChannelOrder,
    /// Value mapping pixel -> tensor.
    pub normalisation: Normalisation,
    /// Colour encoding the model expects.
    pub colour_space: ColourSpace,
}

/// A constant input.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantInput {
    /// ONNX input name.
    pub name: String,
    /// Values, in the model's element order; the shape comes from the model.
    pub value: Vec<f32>,
}

/// The JSON form of an input: image fields or `value`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frame_offset: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layout: Option<Layout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channels: Option<ChannelOrder>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<[f32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    std: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    colour_space: Option<ColourSpace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Vec<f32>>,
}

impl TryFrom<RawInput> for Input {
    type Error = String;
    fn try_from(raw: RawInput) -> std::result::Result<Input, String> {
        if let Some(value) = raw.value {
            let extra: Vec<&str> = [
                ("clip", raw.clip.is_some()),
                ("frame_offset", raw.frame_offset.is_some()),
                ("layout", raw.layout.is_some()),
                ("channels", raw.channels.is_some()),
                ("range", raw.range.is_some()),
                ("mean", raw.mean.is_some()),
                ("std", raw.std.is_some()),
                ("colour_space", raw.colour_space.is_some()),
            ]
            .into_iter()
            .filter_map(|(n, present)| present.then_some(n))
            .collect();
            if !extra.is_empty() {
                return Err(format!(
                    "input '{}' has a constant `value` and image fields ({}); give one or the other",
                    raw.name,
                    extra.join(", ")
                ));
            }
            return Ok(Input::Constant(ConstantInput {
                name: raw.name,
                value,
            }));
        }
        let missing: Vec<&str> = [
            ("clip", raw.clip.is_none()),
            ("layout", raw.layout.is_none()),
            ("channels", raw.channels.is_none()),
            ("colour_space", raw.colour_space.is_none()),
        ]
        .into_iter()
        .filter_map(|(n, absent)| absent.then_some(n))
        .collect();
        if !missing.is_empty() {
            return Err(format!(
                "input '{}' needs {} (or a constant `value`)",
                raw.name,
                missing.join(", ")
            ));
        }
        Ok(Input::Image(ImageInput {
            name: raw.name,
            clip: raw.clip.unwrap_or_default(),
            frame_offset: raw.frame_offset.unwrap_or(0),
            layout: raw.layout.unwrap_or(Layout::Nchw),
            channels: raw.channels.unwrap_or(ChannelOrder::Rgb),
            normalisation: Normalisation {
                range: raw.range.unwrap_or([0.0, 1.0]),
                mean: raw.mean.unwrap_or_default(),
                std: raw.std.unwrap_or_default(),
            },
            colour_space: raw.colour_space.unwrap_or(ColourSpace::Srgb),
        }))
    }
}

impl From<Input> for RawInput {
    fn from(input: Input) -> RawInput {
        match input {
            Input::Constant(c) => RawInput {
                name: c.name,
                clip: None,
                frame_offset: None,
                layout: None,
                channels: None,
                range: None,
                mean: None,
                std: None,
                colour_space: None,
                value: Some(c.value),
            },
            Input::Image(i) => RawInput {
                name: i.name,
                clip: Some(i.clip),
                frame_offset: Some(i.frame_offset),
                layout: Some(i.layout),
                channels: Some(i.channels),
                range: Some(i.normalisation.range),
                mean: (!i.normalisation.mean.is_empty()).then_some(i.normalisation.mean),
                std: (!i.normalisation.std.is_empty()).then_some(i.normalisation.std),
                colour_space: Some(i.colour_space),
                value: None,
            },
        }
    }
}

/// How frames are fitted to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Size {
    /// Any size; padded (edge replicate) to a multiple of `multiple`, cropped back after.
    Dynamic {
        #[serde(default = "one")]
        multiple: u32,
    },
    /// Exactly `width` x `height`; regions are resized in (bilinear) and back out.
    Fixed { width: u32, height: u32 },
}

fn one() -> u32 {
    1
}

/// Tiling of large frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiling {
    /// Tile edge in pixels (before padding to the size multiple).
    pub tile: u32,
    /// Pixels shared by neighbouring tiles, blended across.
    pub overlap: u32,
}

/// How the first output is combined with the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Apply {
    /// The output is the result.
    #[default]
    Replace,
    /// The output is added to the model's own input (in the model's value space).
    Residual,
    /// The model's change (output − input) is added to the host's pixels, so values outside
    /// the model's range (HDR above 1) survive.
    Change,
}

impl Apply {
    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            Apply::Replace => "replace",
            Apply::Residual => "residual",
            Apply::Change => "change",
        }
    }
}

/// One model output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// ONNX output name.
    pub name: String,
    pub layout: Layout,
    pub channels: ChannelOrder,
    /// The tensor value range that maps back to pixel 0..1.
    #[serde(default = "unit_range")]
    pub range: [f32; 2],
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mean: Vec<f32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub std: Vec<f32>,
    /// Colour encoding of the model's output.
    pub colour_space: ColourSpace,
    #[serde(default)]
    pub apply: Apply,
}

fn unit_range() -> [f32; 2] {
    [0.0, 1.0]
}

impl Output {
    /// The value mapping (inverted when unpacking).
    pub fn normalisation(&self) -> Normalisation {
        Normalisation {
            range: self.range,
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }
}

/// Largest size, context or tile edge a manifest may ask for.
const MAX_EDGE: u32 = 65536;

impl Manifest {
    /// Reads, parses and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(format!("manifest not found: {}", path.display()))
            } else {
                Error::new(format!("manifest {} cannot be read: {e}", path.display()))
            }
        })?;
        Manifest::parse(&bytes, path)
    }

    /// Parses and validates manifest bytes; `origin` is the manifest's path (for messages and
    /// to resolve the model path). Never panics, whatever the bytes.
    pub fn parse(bytes: &[u8], origin: &Path) -> Result<Manifest> {
        let mut manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::new(format!("manifest {} is not valid: {e}", origin.display())))?;
        manifest.source = origin.to_path_buf();
        manifest.base_dir = origin.parent().map(Path::to_path_buf).unwrap_or_default();
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest beside a model: `foo.onnx` -> `foo.json`. It must describe that file.
    pub fn for_model(model_path: &Path) -> Result<Manifest> {
        let json = model_path.with_extension("json");
        if !json.is_file() {
            return Err(Error::new(format!(
                "model {} has no manifest: expected {} beside it (see models/README.md)",
                model_path.display(),
                json.display()
            )));
        }
        let manifest = Manifest::load(&json)?;
        let described = manifest.model_path();
        let same = match (
            std::fs::canonicalize(&described),
            std::fs::canonicalize(model_path),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => described.file_name() == model_path.file_name(),
        };
        if !same {
            return Err(Error::new(format!(
                "manifest {} describes '{}', not {}",
                json.display(),
                manifest.model,
                model_path.display()
            )));
        }
        Ok(manifest)
    }

    /// The model file this manifest describes.
    pub fn model_path(&self) -> PathBuf {
        self.base_dir.join(&self.model)
    }

    /// The image inputs in manifest order.
    pub fn image_inputs(&self) -> impl Iterator<Item = &ImageInput> {
        self.inputs.iter().filter_map(|i| match i {
            Input::Image(img) => Some(img),
            Input::Constant(_) => None,
        })
    }

    /// The constant inputs in manifest order.
    pub fn constant_inputs(&self) -> impl Iterator<Item = &ConstantInput> {
        self.inputs.iter().filter_map(|i| match i {
            Input::Constant(c) => Some(c),
            Input::Image(_) => None,
        })
    }

    fn err(&self, detail: impl fmt::Display) -> Error {
        Error::new(format!("manifest {}: {detail}", self.source.display()))
    }

    /// Checks every value; the error names the manifest and says what to change.
    pub fn validate(&self) -> Result<()> {
        if self.schema != SCHEMA_VERSION {
            return Err(self.err(format!(
                "schema {} is not supported; this version of Pixelspace reads schema {SCHEMA_VERSION} (update Pixelspace or the manifest)",
                self.schema
            )));
        }
        if self.name.trim().is_empty() {
            return Err(self.err("`name` is empty"));
        }
        if self.model.trim().is_empty() {
            return Err(self.err("`model` is empty; give the model file name, e.g. \"model.onnx\""));
        }
        if self.sha256.len() != 64 || !self.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.err(format!(
                "`sha256` must be 64 hex digits (the output of `sha256sum {}`), got '{}'",
                self.model, self.sha256
            )));
        }
        if self.licence.name.trim().is_empty() {
            return Err(
                self.err("licence `name` is empty; say which licence the weights are under")
            );
        }
        if self.licence.source.trim().is_empty() {
            return Err(self.err("licence `source` is empty; say where the weights came from"));
        }
        self.validate_inputs()?;
        self.validate_geometry()?;
        self.validate_outputs()
    }

    fn validate_inputs(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(self.err("`inputs` is empty; a model needs at least one image input"));
        }
        let mut names = HashSet::new();
        for input in &self.inputs {
            if input.name().is_empty() {
                return Err(self.err("an input has an empty `name`; use the ONNX input name"));
            }
            if !names.insert(input.name()) {
                return Err(self.err(format!("input '{}' is listed twice", input.name())));
            }
            match input {
                Input::Image(img) => {
                    if img.clip.trim().is_empty() {
                        return Err(self.err(format!("input '{}' has an empty `clip`", img.name)));
                    }
                    check_norm(
                        &format!("input '{}'", img.name),
                        img.channels,
                        &img.normalisation,
                    )
                    .map_err(|e| self.err(e))?;
                }
                Input::Constant(c) => {
                    if c.value.is_empty() {
                        return Err(self.err(format!("input '{}' has an empty `value`", c.name)));
                    }
                    if !c.value.iter().all(|v| v.is_finite()) {
                        return Err(self.err(format!(
                            "input '{}': `value` must hold finite numbers",
                            c.name
                        )));
                    }
                }
            }
        }
        if self.image_inputs().next().is_none() {
            return Err(self.err("no image input: at least one input needs a `clip`"));
        }
        Ok(())
    }

    fn validate_geometry(&self) -> Result<()> {
        match self.size {
            Size::Dynamic { multiple } => {
                if multiple == 0 || multiple > 1024 {
                    return Err(
                        self.err(format!("size `multiple` must be 1..1024, got {multiple}"))
                    );
                }
            }
            Size::Fixed { width, height } => {
                if width == 0 || height == 0 || width > MAX_EDGE || height > MAX_EDGE {
                    return Err(self.err(format!(
                        "fixed size {width}x{height} is not usable; width and height must be 1..{MAX_EDGE}"
                    )));
                }
                if self.tiling.is_some() {
                    return Err(self.err("`tiling` needs size mode \"dynamic\"; a fixed-size model sees the whole frame resized"));
                }
            }
        }
        if let Some(context) = self.context
            && context > MAX_EDGE
        {
            return Err(self.err(format!("`context` {context} is larger than {MAX_EDGE} px")));
        }
        if let Some(t) = self.tiling {
            if t.tile < 16 || t.tile > MAX_EDGE {
                return Err(self.err(format!("tile size {} must be 16..{MAX_EDGE}", t.tile)));
            }
            if t.overlap.saturating_mul(2) >= t.tile {
                return Err(self.err(format!(
                    "tile overlap {} must be less than half the tile size {}",
                    t.overlap, t.tile
                )));
            }
        }
        Ok(())
    }

    fn validate_outputs(&self) -> Result<()> {
        let Some(first) = self.outputs.first() else {
            return Err(
                self.err("`outputs` is empty; name at least the output that makes the image")
            );
        };
        let mut names = HashSet::new();
        for output in &self.outputs {
            if output.name.is_empty() {
                return Err(self.err("an output has an empty `name`; use the ONNX output name"));
            }
            if !names.insert(output.name.as_str()) {
                return Err(self.err(format!("output '{}' is listed twice", output.name)));
            }
            check_norm(
                &format!("output '{}'", output.name),
                output.channels,
                &output.normalisation(),
            )
            .map_err(|e| self.err(e))?;
        }
        if first.apply != Apply::Replace {
            let input = self
                .image_inputs()
                .next()
                .expect("validated: at least one image input");
            if first.apply == Apply::Residual && input.layout != first.layout {
                return Err(self.err(format!(
                    "output '{}' uses apply \"residual\", which adds it to input '{}' tensor by tensor, so both need the same layout",
                    first.name, input.name
                )));
            }
            if input.channels != first.channels {
                return Err(self.err(format!(
                    "output '{}' uses apply \"{}\", which needs the same channels as input '{}' ('{}' vs '{}')",
                    first.name,
                    first.apply.name(),
                    input.name,
                    first.channels.name(),
                    input.channels.name()
                )));
            }
        }
        Ok(())
    }

    /// Checks the model file against `sha256` (streamed; remembered per file size and mtime,
    /// so a model shared by many instances is hashed once).
    pub fn verify_model(&self, model_path: &Path) -> Result<()> {
        let meta = std::fs::metadata(model_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(format!("model file not found: {}", model_path.display()))
            } else {
                Error::new(format!(
                    "model file {} cannot be read: {e}",
                    model_path.display()
                ))
            }
        })?;
        let stamp = (
            std::fs::canonicalize(model_path).unwrap_or_else(|_| model_path.to_path_buf()),
            meta.len(),
            meta.modified().ok(),
            self.sha256.to_ascii_lowercase(),
        );
        if VERIFIED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&stamp)
        {
            return Ok(());
        }
        let actual = sha256_file(model_path)?;
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(Error::new(format!(
                "model file {} does not match its manifest {}: sha256 is {actual} but the manifest expects {}; \
                 the file is damaged or a different version (fetch it again with `pixelspace models fetch {}`)",
                model_path.display(),
                self.source.display(),
                self.sha256.to_ascii_lowercase(),
                self.name
            )));
        }
        VERIFIED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(stamp);
        Ok(())
    }
}

type Stamp = (PathBuf, u64, Option<SystemTime>, String);
static VERIFIED: Mutex<Vec<Stamp>> = Mutex::new(Vec::new());

fn check_norm(
    what: &str,
    channels: ChannelOrder,
    norm: &Normalisation,
) -> std::result::Result<(), String> {
    let n = channels.count();
    for (field, list) in [("mean", &norm.mean), ("std", &norm.std)] {
        if !(list.is_empty() || list.len() == 1 || list.len() == n) {
            return Err(format!(
                "{what} has {} {field} values but channels '{}' needs {n} (or 1 for all)",
                list.len(),
                channels.name()
            ));
        }
        if !list.iter().all(|v| v.is_finite()) {
            return Err(format!("{what}: {field} values must be finite numbers"));
        }
    }
    if norm.std.contains(&0.0) {
        return Err(format!("{what}: std values must not be 0"));
    }
    if !norm.range.iter().all(|v| v.is_finite()) || norm.range[0] == norm.range[1] {
        return Err(format!(
            "{what}: range [{}, {}] must be two different finite numbers, e.g. [0, 1] or [-1, 1]",
            norm.range[0], norm.range[1]
        ));
    }
    Ok(())
}

/// sha256 of a file as lower-case hex, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| {
        Error::new(format!(
            "cannot open {} to check its sha256: {e}",
            path.display()
        ))
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| {
            Error::new(format!(
                "cannot read {} to check its sha256: {e}",
                path.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "schema": 1,
      "name": "tiny",
      "description": "test",
      "model": "tiny.onnx",
      "sha256": "0c95c8667bc39d1267e26ca4b1891d19e1b1e18b053aac94a4bf57903cba18b6",
      "licence": { "name": "MIT", "commercial_use": true, "source": "synthetic", "url": null },
      "inputs": [
        { "name": "input", "clip": "Source", "frame_offset": 0, "layout": "nchw", "channels": "rgb",
          "range": [0.0, 1.0], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "colour_space": "srgb" },
        { "name": "timestep", "value": [0.5] }
      ],
      "size": { "mode": "dynamic", "multiple": 8 },
      "context": 16,
      "tiling": { "tile": 512, "overlap": 32 },
      "outputs": [
        { "name": "output", "layout": "nhwc", "channels": "rgb", "range": [-1.0, 1.0],
          "colour_space": "linear", "apply": "change" },
        { "name": "flow", "layout": "nchw", "channels": "alpha", "colour_space": "linear" }
      ],
      "parity": null
    }"#;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text.as_bytes(), Path::new("models/tiny.json"))
    }

    fn edit(f: impl FnOnce(&mut serde_json::Value)) -> Result<Manifest> {
        let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
        f(&mut v);
        parse(&v.to_string())
    }

    #[test]
    fn good_manifest_parses() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.name, "tiny");
        assert_eq!(m.model_path(), Path::new("models/tiny.onnx"));
        assert_eq!(m.size, Size::Dynamic { multiple: 8 });
        assert_eq!(m.context, Some(16));
        assert_eq!(
            m.tiling,
            Some(Tiling {
                tile: 512,
                overlap: 32
            })
        );
        let img: Vec<_> = m.image_inputs().collect();
        assert_eq!(img.len(), 1);
        assert_eq!(img[0].clip, "Source");
        assert_eq!(img[0].layout, Layout::Nchw);
        assert_eq!(img[0].channels, ChannelOrder::Rgb);
        assert_eq!(img[0].normalisation.mean, vec![0.5; 3]);
        assert_eq!(img[0].colour_space, ColourSpace::Srgb);
        let consts: Vec<_> = m.constant_inputs().collect();
        assert_eq!(consts[0].value, vec![0.5]);
        assert_eq!(m.outputs[0].apply, Apply::Change);
        assert_eq!(m.outputs[0].layout, Layout::Nhwc);
        assert_eq!(m.outputs[1].apply, Apply::Replace);
        assert_eq!(m.outputs[1].range, [0.0, 1.0]);
        assert!(m.licence.commercial_use);
    }

    #[test]
    fn serialises_back_to_the_same_manifest() {
        let m = parse(GOOD).unwrap();
        let text = serde_json::to_string_pretty(&m).unwrap();
        let again = parse(&text).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn fixed_size_and_defaults() {
        let m = edit(|v| {
            v["size"] = serde_json::json!({"mode": "fixed", "width": 256, "height": 128});
            v.as_object_mut().unwrap().remove("tiling");
            v.as_object_mut().unwrap().remove("context");
            v["size"].as_object_mut().unwrap();
        })
        .unwrap();
        assert_eq!(
            m.size,
            Size::Fixed {
                width: 256,
                height: 128
            }
        );
        assert_eq!(m.context, None);
        let m = edit(|v| v["size"] = serde_json::json!({"mode": "dynamic"})).unwrap();
        assert_eq!(m.size, Size::Dynamic { multiple: 1 });
    }

    #[test]
    fn malformed_json_is_an_error() {
        for text in ["", "{", "[]", "null", "{\"schema\": 1,}", "not json at all"] {
            let e = parse(text).unwrap_err();
            assert!(
                e.message()
                    .starts_with("manifest models/tiny.json is not valid: "),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_rejected_everywhere() {
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<Edit> = vec![
            Box::new(|v| v["colour"] = "srgb".into()),
            Box::new(|v| v["licence"]["commercial"] = true.into()),
            Box::new(|v| v["inputs"][0]["colorspace"] = "srgb".into()),
            Box::new(|v| v["inputs"][1]["shape"] = serde_json::json!([1])),
            Box::new(|v| v["outputs"][0]["clip"] = "Source".into()),
            Box::new(|v| v["size"]["width"] = 3.into()),
            Box::new(|v| v["tiling"]["overlapp"] = 3.into()),
        ];
        for case in cases {
            let e = edit(case).unwrap_err();
            assert!(e.message().contains("unknown field"), "{e}");
        }
    }

    #[test]
    fn licence_is_required() {
        let e = edit(|v| {
            v.as_object_mut().unwrap().remove("licence");
        })
        .unwrap_err();
        assert!(e.message().contains("missing field `licence`"), "{e}");
        for field in ["name", "commercial_use", "source"] {
            let e = edit(|v| {
                v["licence"].as_object_mut().unwrap().remove(field);
            })
            .unwrap_err();
            assert!(
                e.message().contains(&format!("missing field `{field}`")),
                "{e}"
            );
        }
        let e = edit(|v| v["licence"]["source"] = "  ".into()).unwrap_err();
        assert!(e.message().contains("licence `source` is empty"), "{e}");
    }

    #[test]
    fn bad_values_explain_what_to_fix() {
        let expect = |f: Box<dyn FnOnce(&mut serde_json::Value)>, needle: &str| {
            let e = edit(f).unwrap_err();
            assert!(e.message().contains(needle), "expected '{needle}' in: {e}");
        };
        expect(
            Box::new(|v| v["inputs"][0]["mean"] = serde_json::json!([0.5, 0.5])),
            "manifest models/tiny.json: input 'input' has 2 mean values but channels 'rgb' needs 3",
        );
        expect(
            Box::new(|v| v["inputs"][0]["std"] = serde_json::json!([1, 0, 1])),
            "std values must not be 0",
        );
        expect(
            Box::new(|v| v["inputs"][0]["range"] = serde_json::json!([1, 1])),
            "range [1, 1]",
        );
        expect(
            Box::new(|v| v["inputs"][0]["layout"] = "chw".into()),
            "unknown variant `chw`",
        );
        expect(
            Box::new(|v| v["inputs"][0]["channels"] = "RGB".into()),
            "unknown variant `RGB`",
        );
        expect(
            Box::new(|v| v["inputs"][0]["colour_space"] = "rec709".into()),
            "unknown variant `rec709`",
        );
        expect(
            Box::new(|v| {
                v["inputs"][0].as_object_mut().unwrap().remove("clip");
            }),
            "input 'input' needs clip",
        );
        expect(
            Box::new(|v| v["inputs"][1]["clip"] = "Source".into()),
            "give one or the other",
        );
        expect(
            Box::new(|v| v["inputs"][1]["value"] = serde_json::json!([])),
            "empty `value`",
        );
        expect(
            Box::new(|v| v["inputs"][1]["name"] = "input".into()),
            "input 'input' is listed twice",
        );
        expect(
            Box::new(|v| v["schema"] = 2.into()),
            "schema 2 is not supported",
        );
        expect(
            Box::new(|v| v["sha256"] = "abc".into()),
            "`sha256` must be 64 hex digits",
        );
        expect(
            Box::new(|v| v["size"]["multiple"] = 0.into()),
            "size `multiple` must be 1..1024",
        );
        expect(
            Box::new(|v| v["size"]["mode"] = "stretch".into()),
            "unknown variant `stretch`",
        );
        expect(
            Box::new(|v| v["tiling"]["overlap"] = 256.into()),
            "less than half the tile size",
        );
        expect(
            Box::new(|v| v["tiling"]["tile"] = 8.into()),
            "tile size 8 must be",
        );
        expect(Box::new(|v| v["context"] = (-1).into()), "invalid value");
        expect(
            Box::new(|v| v["outputs"] = serde_json::json!([])),
            "`outputs` is empty",
        );
        expect(
            Box::new(|v| v["outputs"][0]["apply"] = "add".into()),
            "unknown variant `add`",
        );
        expect(
            Box::new(|v| {
                v["outputs"][0]["apply"] = "residual".into();
            }),
            "both need the same layout",
        );
        expect(
            Box::new(|v| v["outputs"][0]["channels"] = "alpha".into()),
            "needs the same channels as input 'input'",
        );
        expect(
            Box::new(|v| {
                v["inputs"].as_array_mut().unwrap().remove(0);
            }),
            "no image input",
        );
        expect(
            Box::new(|v| {
                v["size"] = serde_json::json!({"mode": "fixed", "width": 64, "height": 64});
            }),
            "`tiling` needs size mode \"dynamic\"",
        );
        expect(
            Box::new(|v| {
                v["size"] = serde_json::json!({"mode": "fixed", "width": 0, "height": 64})
            }),
            "fixed size 0x64",
        );
    }

    #[test]
    fn parser_never_panics_on_random_or_truncated_bytes() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let good = GOOD.as_bytes();
        for cut in 0..good.len() {
            let _ = parse(std::str::from_utf8(&good[..cut]).unwrap_or(""));
            let _ = Manifest::parse(&good[..cut], Path::new("x.json"));
        }
        for _ in 0..3000 {
            let len = (next() % 300) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            assert!(Manifest::parse(&bytes, Path::new("x.json")).is_err());
            // Mutate the good manifest: flip, drop or duplicate a few bytes.
            let mut m = good.to_vec();
            for _ in 0..(1 + next() % 4) {
                let i = (next() as usize) % m.len();
                match next() % 3 {
                    0 => m[i] = next() as u8,
                    1 => {
                        m.remove(i);
                    }
                    _ => m.insert(i, m[i]),
                }
            }
            let _ = Manifest::parse(&m, Path::new("x.json"));
        }
    }

    #[test]
    fn sha256_is_checked_and_streamed() {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-manifest-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("tiny.onnx");
        // Larger than one read chunk so streaming is exercised.
        let bytes: Vec<u8> = (0..(3 << 20) + 17).map(|i: u32| (i % 251) as u8).collect();
        std::fs::write(&model, &bytes).unwrap();
        let expected: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha256_file(&model).unwrap(), expected);

        let mut m = parse(GOOD).unwrap();
        m.sha256 = expected.to_ascii_uppercase();
        m.verify_model(&model).unwrap();
        m.sha256 = "0".repeat(64);
        let e = m.verify_model(&model).unwrap_err();
        assert!(e.message().contains("does not match its manifest"), "{e}");
        assert!(
            e.message().contains(&format!("sha256 is {expected}")),
            "{e}"
        );
        assert!(e.message().contains("pixelspace models fetch tiny"), "{e}");
        let e = m.verify_model(&dir.join("missing.onnx")).unwrap_err();
        assert!(e.message().starts_with("model file not found: "), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn for_model_finds_the_manifest_beside_the_model() {
        let dir =
            std::env::temp_dir().join(format!("pixelspace-manifest-for-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = dir.join("tiny.onnx");
        std::fs::write(&model, b"x").unwrap();
        let e = Manifest::for_model(&model).unwrap_err();
        assert!(e.message().contains("has no manifest"), "{e}");
        std::fs::write(dir.join("tiny.json"), GOOD).unwrap();
        let m = Manifest::for_model(&model).unwrap();
        assert_eq!(m.model_path(), model);
        assert_eq!(m.source, dir.join("tiny.json"));
        std::fs::write(dir.join("other.onnx"), b"x").unwrap();
        std::fs::write(dir.join("other.json"), GOOD).unwrap();
        let e = Manifest::for_model(&dir.join("other.onnx")).unwrap_err();
        assert!(e.message().contains("describes 'tiny.onnx'"), "{e}");
        let e = Manifest::load(&dir.join("nope.json")).unwrap_err();
        assert!(e.message().starts_with("manifest not found: "), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
