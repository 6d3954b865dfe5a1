//! Model manifests: the JSON file beside every model that says how to feed and read it.
//!
//! `foo.onnx` is described by `foo.json` in the same folder (schema v1, documented in
//! `models/README.md`). Parsing rejects unknown fields so a typo never silently falls back
//! to a default; [`Manifest::validate`] checks the values and explains what to fix;
//! [`Manifest::verify_model`] checks the model file's sha256, streamed.
//!
//! Besides image models (frames in, a frame out) a manifest describes data models whose
//! outputs are tensors to decode: face detectors (`detection`), landmarkers (`landmarks`),
//! embedders (`embedding`), and how faces are cropped for them (`alignment`).

use std::collections::{BTreeMap, HashSet};
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
    /// sha256 of the model file, 64 hex digits. `None` (JSON `null`) only for a model with a
    /// `download` block whose publisher gives no digest: the digest recorded when it was
    /// fetched is checked instead (see [`Manifest::record_fetched_digest`]).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where the weights come from and what they may be used for.
    pub licence: Licence,
    /// Where users fetch the model themselves (models that cannot be shipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
    /// Names of other models this one needs (e.g. a face swapper needs its identity embedder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
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
    /// Model outputs; the first one is written to the effect's output (image models).
    pub outputs: Vec<Output>,
    /// How to decode a face detector's tensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    /// How to read a landmark model's points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<Landmarks>,
    /// How to read an identity embedding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
    /// How a face is cropped before it is fed to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<Alignment>,
    /// How to read a person matte that a model outputs as a raw tensor (in its input's pixels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<Segmentation>,
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

/// Where a model that is not shipped is fetched from, by the user's own machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Download {
    /// The publisher's URL of the model file (`https://`).
    pub url: String,
    /// Expected size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

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

/// What an effect supplies for a constant input instead of its `value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The position of the new frame between the first two image inputs (0 = the first,
    /// 1 = the second); `value` is the default.
    Timestep,
}

/// A constant input.
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantInput {
    /// ONNX input name.
    pub name: String,
    /// Values, in the model's element order; the shape comes from the model.
    pub value: Vec<f32>,
    /// Whether an effect sets it per render (the `value` is then the default).
    pub role: Option<Role>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
}

/// Names of the fields that are present.
fn present(fields: &[(&'static str, bool)]) -> Vec<&'static str> {
    fields.iter().filter_map(|(n, p)| p.then_some(*n)).collect()
}

impl TryFrom<RawInput> for Input {
    type Error = String;
    fn try_from(raw: RawInput) -> std::result::Result<Input, String> {
        if let Some(value) = raw.value {
            let extra = present(&[
                ("clip", raw.clip.is_some()),
                ("frame_offset", raw.frame_offset.is_some()),
                ("layout", raw.layout.is_some()),
                ("channels", raw.channels.is_some()),
                ("range", raw.range.is_some()),
                ("mean", raw.mean.is_some()),
                ("std", raw.std.is_some()),
                ("colour_space", raw.colour_space.is_some()),
            ]);
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
                role: raw.role,
            }));
        }
        if raw.role.is_some() {
            return Err(format!(
                "input '{}' has a `role` but no `value`; `role` belongs to constant inputs (give the default in `value`)",
                raw.name
            ));
        }
        let missing = present(&[
            ("clip", raw.clip.is_none()),
            ("layout", raw.layout.is_none()),
            ("channels", raw.channels.is_none()),
            ("colour_space", raw.colour_space.is_none()),
        ]);
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
                role: c.role,
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
                role: None,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// Size and tiling
// ---------------------------------------------------------------------------------------

/// How frames are fitted to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum Size {
    /// Any size; padded (edge replicate) to a multiple of `multiple`, cropped back after.
    Dynamic {
        #[serde(default = "one")]
        multiple: u32,
    },
    /// Exactly `width` x `height`; regions are fitted in (see [`Fit`]) and mapped back out.
    Fixed {
        width: u32,
        height: u32,
        #[serde(default)]
        fit: Fit,
    },
}

/// How a region is fitted to a fixed model size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Resized to the model size (bilinear); the aspect ratio may change.
    #[default]
    Stretch,
    /// Padded with black, centred, to the model's aspect ratio, then resized: the picture keeps
    /// its proportions (as MediaPipe feeds its detectors).
    Letterbox,
}

impl Fit {
    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Stretch => "stretch",
            Fit::Letterbox => "letterbox",
        }
    }
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

// ---------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------

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
#[serde(try_from = "RawOutput", into = "RawOutput")]
pub enum Output {
    /// Pixels (`kind` "image", the default, with channels rgb, bgr, rgba or alpha).
    Image(ImageOutput),
    /// Optical flow (`kind` "image", `channels` "flow").
    Flow(FlowOutput),
    /// Any other tensor (`kind` "tensor"): detector scores, landmarks, embeddings.
    Tensor(TensorOutput),
}

/// An output that is an image.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageOutput {
    /// ONNX output name.
    pub name: String,
    pub layout: Layout,
    pub channels: ChannelOrder,
    /// The tensor value range that maps back to pixel 0..1.
    pub range: [f32; 2],
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Colour encoding of the model's output.
    pub colour_space: ColourSpace,
    pub apply: Apply,
}

impl ImageOutput {
    /// The value mapping (inverted when unpacking).
    pub fn normalisation(&self) -> Normalisation {
        Normalisation {
            range: self.range,
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }
}

/// Backward optical flow: for each image input `flows[k]`, channels `2k` and `2k+1` hold
/// `(dx, dy)` in pixels of the model tensor (x to the right, y down the tensor rows), such that
/// `output(p) ≈ input_k(p + flow_k(p))`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowOutput {
    /// ONNX output name.
    pub name: String,
    pub layout: Layout,
    /// The image inputs the flow pairs lead into, in channel order.
    pub flows: Vec<String>,
}

impl FlowOutput {
    /// Number of tensor channels (two per flow).
    pub fn channel_count(&self) -> usize {
        2 * self.flows.len()
    }
}

/// A raw tensor output.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorOutput {
    /// ONNX output name.
    pub name: String,
    /// Its shape: numbers, or sizes relative to the model's input (`N`, `H`, `W`, `H/4`, …).
    pub shape: Vec<Dim>,
}

/// One dimension of a tensor output's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(u64),
    /// `N`: the batch, always 1 here.
    Batch,
    /// `H`, `H/k` or `H*k`: the model input's height (after fitting) times `mul` over `div`.
    Height { mul: u32, div: u32 },
    /// `W`, `W/k` or `W*k`: likewise for the width.
    Width { mul: u32, div: u32 },
}

impl Dim {
    /// Parses `"N"`, `"H"`, `"W"`, `"H/4"`, `"W*2"`.
    pub fn parse(text: &str) -> std::result::Result<Dim, String> {
        let bad = || {
            format!(
                "shape entry \"{text}\" is not understood; use a number, \"N\" (batch), \"H\" or \"W\" \
                 (the model input's height or width), or \"H/k\", \"W/k\", \"H*k\", \"W*k\" with a whole k"
            )
        };
        let t = text.trim();
        if t == "N" {
            return Ok(Dim::Batch);
        }
        let (axis, rest) = t.split_at(t.chars().next().map_or(0, char::len_utf8));
        let (mul, div) = match rest.trim() {
            "" => (1, 1),
            r => {
                let mut chars = r.chars();
                let op = chars.next();
                let k: u32 = chars.as_str().trim().parse().map_err(|_| bad())?;
                if k == 0 {
                    return Err(bad());
                }
                match op {
                    Some('/') => (1, k),
                    Some('*') => (k, 1),
                    _ => return Err(bad()),
                }
            }
        };
        match axis {
            "H" => Ok(Dim::Height { mul, div }),
            "W" => Ok(Dim::Width { mul, div }),
            _ => Err(bad()),
        }
    }

    /// The manifest form.
    pub fn text(&self) -> String {
        let rel = |axis: &str, mul: u32, div: u32| match (mul, div) {
            (1, 1) => axis.to_string(),
            (1, d) => format!("{axis}/{d}"),
            (m, _) => format!("{axis}*{m}"),
        };
        match *self {
            Dim::Fixed(n) => n.to_string(),
            Dim::Batch => "N".into(),
            Dim::Height { mul, div } => rel("H", mul, div),
            Dim::Width { mul, div } => rel("W", mul, div),
        }
    }

    /// The size for a model input of `width` x `height`, or `None` when it is not whole.
    pub fn resolve(&self, width: u32, height: u32) -> Option<u64> {
        let rel = |v: u32, mul: u32, div: u32| {
            let n = v as u64 * mul as u64;
            n.is_multiple_of(div as u64).then_some(n / div as u64)
        };
        match *self {
            Dim::Fixed(n) => Some(n),
            Dim::Batch => Some(1),
            Dim::Height { mul, div } => rel(height, mul, div),
            Dim::Width { mul, div } => rel(width, mul, div),
        }
    }

    fn divisor(&self) -> u32 {
        match *self {
            Dim::Height { div, .. } | Dim::Width { div, .. } => div,
            _ => 1,
        }
    }
}

impl Output {
    /// The ONNX output name.
    pub fn name(&self) -> &str {
        match self {
            Output::Image(o) => &o.name,
            Output::Flow(o) => &o.name,
            Output::Tensor(o) => &o.name,
        }
    }

    /// What kind of output this is, for messages: `image`, `flow` or `tensor`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Output::Image(_) => "image",
            Output::Flow(_) => "flow",
            Output::Tensor(_) => "tensor",
        }
    }

    /// The image output, if this is one.
    pub fn as_image(&self) -> Option<&ImageOutput> {
        match self {
            Output::Image(o) => Some(o),
            _ => None,
        }
    }

    /// Mutable access to the image output, if this is one.
    pub fn as_image_mut(&mut self) -> Option<&mut ImageOutput> {
        match self {
            Output::Image(o) => Some(o),
            _ => None,
        }
    }
}

/// Output kinds in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum OutputKind {
    Image,
    Tensor,
}

/// The JSON form of an output.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<OutputKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layout: Option<Layout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channels: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<[f32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mean: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    std: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    colour_space: Option<ColourSpace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apply: Option<Apply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flows: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shape: Option<Vec<serde_json::Value>>,
}

impl TryFrom<RawOutput> for Output {
    type Error = String;
    fn try_from(raw: RawOutput) -> std::result::Result<Output, String> {
        let name = raw.name;
        let refuse = |what: &str, fields: Vec<&str>| -> std::result::Result<(), String> {
            if fields.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "output '{name}' is {what}, which takes no {}; remove {}",
                    fields.join(", "),
                    if fields.len() == 1 { "it" } else { "them" }
                ))
            }
        };
        if raw.kind == Some(OutputKind::Tensor) {
            refuse(
                "a \"tensor\" output (raw numbers, not pixels)",
                present(&[
                    ("layout", raw.layout.is_some()),
                    ("channels", raw.channels.is_some()),
                    ("range", raw.range.is_some()),
                    ("mean", raw.mean.is_some()),
                    ("std", raw.std.is_some()),
                    ("colour_space", raw.colour_space.is_some()),
                    ("apply", raw.apply.is_some()),
                    ("flows", raw.flows.is_some()),
                ]),
            )?;
            let Some(shape) = raw.shape else {
                return Err(format!(
                    "output '{name}' is a \"tensor\" output and needs a `shape`, e.g. [1, 896, 16] or [\"N\", 2, \"H/4\", \"W/4\"]"
                ));
            };
            let shape = shape
                .iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => n.as_u64().map(Dim::Fixed).ok_or_else(|| {
                        format!("output '{name}': shape entry {n} must be a whole number of at least 0")
                    }),
                    serde_json::Value::String(s) => {
                        Dim::parse(s).map_err(|e| format!("output '{name}': {e}"))
                    }
                    other => Err(format!(
                        "output '{name}': shape entry {other} must be a number or a string like \"H/4\""
                    )),
                })
                .collect::<std::result::Result<Vec<Dim>, String>>()?;
            return Ok(Output::Tensor(TensorOutput { name, shape }));
        }
        if raw.shape.is_some() {
            return Err(format!(
                "output '{name}' has a `shape`, which only \"tensor\" outputs take; add \"kind\": \"tensor\" or remove it"
            ));
        }
        let Some(channels) = raw.channels else {
            return Err(format!(
                "output '{name}' needs `channels` (rgb, bgr, rgba, alpha or flow), or \"kind\": \"tensor\" for raw numbers"
            ));
        };
        let Some(layout) = raw.layout else {
            return Err(format!("output '{name}' needs `layout` (nchw or nhwc)"));
        };
        if channels == "flow" {
            refuse(
                "a flow (raw pixel offsets of the model tensor)",
                present(&[
                    ("range", raw.range.is_some()),
                    ("mean", raw.mean.is_some()),
                    ("std", raw.std.is_some()),
                    ("colour_space", raw.colour_space.is_some()),
                    ("apply", raw.apply.is_some()),
                ]),
            )?;
            let Some(flows) = raw.flows else {
                return Err(format!(
                    "output '{name}' has channels \"flow\" and needs `flows`: the image inputs its (dx, dy) pairs lead into, e.g. [\"img0\", \"img1\"]"
                ));
            };
            return Ok(Output::Flow(FlowOutput {
                name,
                layout,
                flows,
            }));
        }
        let channels: ChannelOrder = serde_json::from_value(serde_json::Value::String(
            channels.clone(),
        ))
        .map_err(|_| {
            format!(
                "output '{name}': channels \"{channels}\" is not one of rgb, bgr, rgba, alpha, flow"
            )
        })?;
        if raw.flows.is_some() {
            return Err(format!(
                "output '{name}' has `flows`, which only \"flow\" outputs take; remove it or set channels \"flow\""
            ));
        }
        let Some(colour_space) = raw.colour_space else {
            return Err(format!(
                "output '{name}' needs `colour_space` (srgb or linear)"
            ));
        };
        Ok(Output::Image(ImageOutput {
            name,
            layout,
            channels,
            range: raw.range.unwrap_or([0.0, 1.0]),
            mean: raw.mean.unwrap_or_default(),
            std: raw.std.unwrap_or_default(),
            colour_space,
            apply: raw.apply.unwrap_or_default(),
        }))
    }
}

impl From<Output> for RawOutput {
    fn from(output: Output) -> RawOutput {
        let mut raw = RawOutput {
            name: String::new(),
            kind: None,
            layout: None,
            channels: None,
            range: None,
            mean: None,
            std: None,
            colour_space: None,
            apply: None,
            flows: None,
            shape: None,
        };
        match output {
            Output::Image(o) => {
                raw.name = o.name;
                raw.layout = Some(o.layout);
                raw.channels = Some(o.channels.name().to_string());
                raw.range = Some(o.range);
                raw.mean = (!o.mean.is_empty()).then_some(o.mean);
                raw.std = (!o.std.is_empty()).then_some(o.std);
                raw.colour_space = Some(o.colour_space);
                raw.apply = Some(o.apply);
            }
            Output::Flow(o) => {
                raw.name = o.name;
                raw.layout = Some(o.layout);
                raw.channels = Some("flow".into());
                raw.flows = Some(o.flows);
            }
            Output::Tensor(o) => {
                raw.name = o.name;
                raw.kind = Some(OutputKind::Tensor);
                raw.shape = Some(
                    o.shape
                        .iter()
                        .map(|d| match d {
                            Dim::Fixed(n) => serde_json::Value::from(*n),
                            other => serde_json::Value::from(other.text()),
                        })
                        .collect(),
                );
            }
        }
        raw
    }
}

// ---------------------------------------------------------------------------------------
// Data-model blocks: detection, landmarks, embedding, alignment
// ---------------------------------------------------------------------------------------

/// How a face detector's output tensors are decoded into boxes and keypoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case", deny_unknown_fields)]
pub enum Detection {
    /// SSD-style anchors (MediaPipe BlazeFace): per anchor a box + keypoints regression and a
    /// score.
    SsdAnchors {
        /// The tensor output with the per-anchor regressions.
        boxes: String,
        /// The tensor output with the per-anchor scores.
        scores: String,
        anchors: SsdAnchors,
        decode: SsdDecode,
    },
    /// CenterNet-style grids (CenterFace): a centre heatmap with box size, offset and keypoints
    /// per cell.
    Centernet {
        heatmap: String,
        scale: String,
        offset: String,
        landmarks: String,
        decode: CenternetDecode,
    },
}

/// MediaPipe `SsdAnchorsCalculator` options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdAnchors {
    pub num_layers: u32,
    pub min_scale: f32,
    pub max_scale: f32,
    /// Model input `[height, width]` in pixels.
    pub input_size: [u32; 2],
    /// Anchor centre within its grid cell, `[x, y]` in cells.
    pub anchor_offset: [f32; 2],
    /// One stride per layer; layers with equal strides share a grid.
    pub strides: Vec<u32>,
    pub aspect_ratios: Vec<f32>,
    pub fixed_anchor_size: bool,
    pub interpolated_scale_aspect_ratio: f32,
}

impl SsdAnchors {
    /// Anchor centres `[x, y]` in 0..1 of the model input, in the model's anchor order (as
    /// `SsdAnchorsCalculator` builds them with a fixed anchor size).
    pub fn centres(&self) -> Vec<[f32; 2]> {
        let [h_in, w_in] = self.input_size;
        let per_layer =
            self.aspect_ratios.len() + usize::from(self.interpolated_scale_aspect_ratio > 0.0);
        let mut out = Vec::new();
        let mut layer = 0;
        while layer < self.strides.len() {
            let stride = self.strides[layer].max(1);
            let mut last = layer;
            let mut per_cell = 0;
            while last < self.strides.len() && self.strides[last] == self.strides[layer] {
                per_cell += per_layer;
                last += 1;
            }
            let gh = h_in.div_ceil(stride);
            let gw = w_in.div_ceil(stride);
            for y in 0..gh {
                for x in 0..gw {
                    let c = [
                        (x as f32 + self.anchor_offset[0]) / gw as f32,
                        (y as f32 + self.anchor_offset[1]) / gh as f32,
                    ];
                    out.extend(std::iter::repeat_n(c, per_cell));
                }
            }
            layer = last;
        }
        out
    }
}

/// MediaPipe `TensorsToDetectionsCalculator` options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdDecode {
    pub num_boxes: u32,
    pub num_coords: u32,
    pub box_coord_offset: u32,
    pub box_format: BoxFormat,
    pub keypoint_coord_offset: u32,
    pub num_keypoints: u32,
    pub values_per_keypoint: u32,
    /// Divisors of the regressed x, y, w, h (the model input size).
    pub scale: [f32; 4],
    /// Activation turning score logits into probabilities.
    pub score: Activation,
    /// Logits are clipped to ±this before the activation.
    pub score_clipping: f32,
    pub min_score: f32,
    pub nms: Nms,
    /// Keypoint names, in regression order.
    pub keypoints: Vec<String>,
}

/// CenterFace decoding options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenternetDecode {
    /// Pixels of the model input per grid cell.
    pub stride: u32,
    pub min_score: f32,
    pub nms: Nms,
    /// Keypoint names, in channel-pair order.
    pub keypoints: Vec<String>,
}

/// Order of the four box values in a regression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxFormat {
    /// Centre x, centre y, width, height.
    Xywh,
    /// Centre y, centre x, height, width.
    Yxhw,
}

/// An activation applied to a raw score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// The logistic function.
    Sigmoid,
    /// The value already is a probability.
    None,
}

/// Non-maximum suppression of overlapping detections.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nms {
    pub mode: NmsMode,
    /// Detections overlapping the best one by more than this IoU are merged or dropped.
    pub min_iou: f32,
}

/// How overlapping detections are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NmsMode {
    /// Overlapping detections are averaged, weighted by score (MediaPipe).
    Weighted,
    /// Overlapping detections below the best are dropped.
    Hard,
}

/// How a landmark model's points are read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Landmarks {
    /// The tensor output holding the points.
    pub points: String,
    /// Number of points.
    pub count: u32,
    /// Values per point: 2 (x, y) or 3 (x, y, z).
    pub values_per_point: u32,
    /// What the values are measured in, in words (e.g. input pixels of the crop).
    pub units: String,
    /// The tensor output with a face-presence score, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// Activation of the presence score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_activation: Option<Activation>,
    /// Below this presence (after the activation) there is no face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_presence: Option<f32>,
    /// Named points: name -> point index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub named_points: BTreeMap<String, u32>,
}

/// How a person matte output as a raw tensor is read: one value per input pixel (`[1, H, W, 1]`
/// or `[1, 1, H, W]`), turned into 0..1 coverage by `activation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segmentation {
    /// The tensor output holding the matte.
    pub output: String,
    /// Activation turning the raw values into coverage.
    pub activation: Activation,
    /// The tensor output with a person-presence score, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<String>,
    /// Activation of the presence score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_activation: Option<Activation>,
    /// Below this presence (after the activation) the crop holds no person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_presence: Option<f32>,
}

/// How an identity embedding is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Embedding {
    /// The tensor output holding the embedding.
    pub output: String,
    /// Number of values.
    pub length: u32,
    /// Normalisation applied to the raw vector before it is used.
    pub normalise: EmbeddingNorm,
}

/// Normalisation of an embedding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingNorm {
    /// Divided by its Euclidean length.
    L2,
    /// Used as it comes.
    None,
}

/// How a face is cropped before it is fed to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Alignment {
    /// A square around a detector's box, rotated so two keypoints are level (MediaPipe's face
    /// landmark region of interest).
    DetectionRoi {
        /// `name` of the detector model whose detections are used.
        detector: String,
        /// The two detector keypoints whose line sets the rotation.
        rotation_keypoints: [String; 2],
        /// Angle the keypoint line is rotated to, in degrees.
        target_angle_deg: f32,
        /// The box is scaled by this around its centre.
        scale: f32,
        /// Which box side the square takes.
        square: Square,
        /// How pixels outside the frame are filled.
        border: Border,
    },
    /// A square centred on one detector keypoint whose half side is the distance to a second
    /// keypoint (a point on a circle around the subject), times `scale`, rotated so that the
    /// line from the first to the second keypoint points at `target_angle_deg` (MediaPipe's
    /// pose region of interest: hip centre and the circle around the whole body).
    KeypointCircle {
        /// `name` of the detector model whose detections are used.
        detector: String,
        /// The keypoint at the crop's centre.
        centre_keypoint: String,
        /// The keypoint on the circle around the subject.
        circle_keypoint: String,
        /// Angle the centre-to-circle line is rotated to, in degrees (counter-clockwise, y up).
        target_angle_deg: f32,
        /// The circle's square is scaled by this around its centre.
        scale: f32,
        /// How pixels outside the frame are filled.
        border: Border,
    },
    /// A 5-point similarity fit to a template (FaceFusion / InsightFace style): the face's
    /// eyes, nose tip and mouth corners are mapped onto `template` x `size`.
    Template {
        /// Five `[x, y]` points in the unit square, top-down, in image order: the eye on the
        /// image's left, the eye on the image's right, the nose tip, the mouth corner on the
        /// image's left, the mouth corner on the image's right.
        template: [[f32; 2]; 5],
        /// Edge of the square crop in pixels.
        size: u32,
    },
}

/// Which side of a box a square crop takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Square {
    Long,
    Short,
}

/// How pixels outside the frame are filled in a crop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Border {
    /// The nearest edge pixel is repeated.
    Replicate,
    /// Transparent black.
    Zero,
}

// ---------------------------------------------------------------------------------------
// Loading and validation
// ---------------------------------------------------------------------------------------

/// Largest size, context or tile edge a manifest may ask for.
const MAX_EDGE: u32 = 65536;

/// What to add to serde's message for a missing top-level field.
fn missing_field_hint(message: &str) -> &'static str {
    if !message.contains("missing field") {
        return "";
    }
    let hints: [(&str, &str); 7] = [
        (
            "`licence`",
            "; every model needs a `licence` block: { \"name\": …, \"commercial_use\": true|false, \"source\": …, \"url\": … } (see models/README.md)",
        ),
        (
            "`commercial_use`",
            "; say whether the weights may be used in paid work (true or false)",
        ),
        (
            "`inputs`",
            "; list the model's inputs (see models/README.md)",
        ),
        (
            "`outputs`",
            "; list the model's outputs (see models/README.md)",
        ),
        (
            "`size`",
            "; say how frames fit the model: {\"mode\": \"dynamic\", \"multiple\": 1} or {\"mode\": \"fixed\", …}",
        ),
        ("`model`", "; give the model file name, e.g. \"model.onnx\""),
        (
            "`schema`",
            "; this version of Pixelspace reads \"schema\": 1",
        ),
    ];
    hints
        .iter()
        .find(|(field, _)| message.contains(&format!("missing field {field}")))
        .map_or("", |(_, hint)| hint)
}

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
        let mut manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            let text = e.to_string();
            Error::new(format!(
                "manifest {} is not valid: {text}{}",
                origin.display(),
                missing_field_hint(&text)
            ))
        })?;
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

    /// The constant input an effect sets to the position between the first two image inputs.
    pub fn timestep_input(&self) -> Option<&ConstantInput> {
        self.constant_inputs()
            .find(|c| c.role == Some(Role::Timestep))
    }

    /// An output by name.
    pub fn output(&self, name: &str) -> Option<&Output> {
        self.outputs.iter().find(|o| o.name() == name)
    }

    /// Whether the model makes an image an effect can render (its first output is an image).
    /// Data models (detectors, landmarkers, embedders) are run with
    /// [`crate::pipeline::InferencePipeline::infer`] instead.
    pub fn produces_image(&self) -> bool {
        matches!(self.outputs.first(), Some(Output::Image(_)))
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
        self.validate_source()?;
        self.validate_inputs()?;
        self.validate_geometry()?;
        self.validate_outputs()?;
        self.validate_blocks()
    }

    fn validate_source(&self) -> Result<()> {
        match &self.sha256 {
            Some(sha) if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) => {
                return Err(self.err(format!(
                    "`sha256` must be 64 hex digits (the output of `sha256sum {}`), got '{}'",
                    self.model, sha
                )));
            }
            Some(_) => {}
            None if self.download.is_none() => {
                return Err(self.err(format!(
                    "`sha256` is missing or null; give the model file's sha256 (the output of `sha256sum {}`). \
                     Only a model users fetch themselves (a `download` block) whose publisher gives no digest may have \"sha256\": null",
                    self.model
                )));
            }
            None => {}
        }
        if self.licence.name.trim().is_empty() {
            return Err(
                self.err("licence `name` is empty; say which licence the weights are under")
            );
        }
        if self.licence.source.trim().is_empty() {
            return Err(self.err("licence `source` is empty; say where the weights came from"));
        }
        if let Some(d) = &self.download {
            if !d.url.starts_with("https://") || d.url.len() <= "https://".len() {
                return Err(self.err(format!(
                    "download `url` must be an https:// address of the model file, got '{}'",
                    d.url
                )));
            }
            if d.size == Some(0) {
                return Err(self
                    .err("download `size` is 0; give the file size in bytes, or null if unknown"));
            }
        }
        let mut seen = HashSet::new();
        for r in &self.requires {
            if r.trim().is_empty() {
                return Err(self.err("`requires` has an empty name; list other models' `name`s"));
            }
            if *r == self.name {
                return Err(self.err(format!("`requires` lists the model itself ('{r}')")));
            }
            if !seen.insert(r.as_str()) {
                return Err(self.err(format!("`requires` lists '{r}' twice")));
            }
        }
        Ok(())
    }

    fn validate_inputs(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(self.err("`inputs` is empty; a model needs at least one image input"));
        }
        let mut names = HashSet::new();
        let mut timesteps = 0;
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
                    if c.role == Some(Role::Timestep) {
                        timesteps += 1;
                        if c.value.len() != 1 {
                            return Err(self.err(format!(
                                "input '{}' has role \"timestep\" and needs one number in `value` (the default position, e.g. [0.5]), got {}",
                                c.name,
                                c.value.len()
                            )));
                        }
                    }
                }
            }
        }
        let images = self.image_inputs().count();
        if images == 0 {
            return Err(self.err("no image input: at least one input needs a `clip`"));
        }
        if timesteps > 1 {
            return Err(self.err("more than one input has role \"timestep\"; give it to one"));
        }
        if timesteps == 1 && images < 2 {
            return Err(self.err(
                "an input has role \"timestep\" (a position between the first two image inputs) but the model has fewer than two image inputs",
            ));
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
            Size::Fixed { width, height, .. } => {
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
            if output.name().is_empty() {
                return Err(self.err("an output has an empty `name`; use the ONNX output name"));
            }
            if !names.insert(output.name()) {
                return Err(self.err(format!("output '{}' is listed twice", output.name())));
            }
            match output {
                Output::Image(o) => check_norm(
                    &format!("output '{}'", o.name),
                    o.channels,
                    &o.normalisation(),
                )
                .map_err(|e| self.err(e))?,
                Output::Flow(o) => self.validate_flow(o)?,
                Output::Tensor(o) => self.validate_tensor_output(o)?,
            }
        }
        match first {
            Output::Image(first) => self.validate_apply(first),
            other => {
                if self.detection.is_none()
                    && self.landmarks.is_none()
                    && self.embedding.is_none()
                    && self.segmentation.is_none()
                {
                    return Err(self.err(format!(
                        "the first output '{}' is a {} output, but the first output is the image an effect renders; \
                         put an image output first, or, for a model that only produces data, say how to read it \
                         with a `detection`, `landmarks`, `embedding` or `segmentation` block",
                        other.name(),
                        other.kind_name()
                    )));
                }
                Ok(())
            }
        }
    }

    fn validate_apply(&self, first: &ImageOutput) -> Result<()> {
        if first.apply == Apply::Replace {
            return Ok(());
        }
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
        Ok(())
    }

    fn validate_flow(&self, o: &FlowOutput) -> Result<()> {
        if o.flows.is_empty() {
            return Err(self.err(format!(
                "output '{}': `flows` is empty; name the image inputs the flows lead into",
                o.name
            )));
        }
        let mut seen = HashSet::new();
        for f in &o.flows {
            if !self.image_inputs().any(|i| i.name == *f) {
                let images: Vec<String> = self
                    .image_inputs()
                    .map(|i| format!("'{}'", i.name))
                    .collect();
                return Err(self.err(format!(
                    "output '{}': `flows` names '{f}', which is not an image input (image inputs: {})",
                    o.name,
                    images.join(", ")
                )));
            }
            if !seen.insert(f.as_str()) {
                return Err(self.err(format!("output '{}': `flows` lists '{f}' twice", o.name)));
            }
        }
        Ok(())
    }

    fn validate_tensor_output(&self, o: &TensorOutput) -> Result<()> {
        if o.shape.is_empty() {
            return Err(self.err(format!(
                "output '{}': `shape` is empty; give one entry per dimension",
                o.name
            )));
        }
        for d in &o.shape {
            if *d == Dim::Fixed(0) {
                return Err(self.err(format!(
                    "output '{}': shape {} has a 0 dimension",
                    o.name,
                    shape_text(&o.shape)
                )));
            }
            let div = d.divisor();
            if div > 1 {
                let whole = match self.size {
                    Size::Dynamic { multiple } => multiple % div == 0,
                    Size::Fixed { width, height, .. } => d.resolve(width, height).is_some(),
                };
                if !whole {
                    return Err(self.err(format!(
                        "output '{}': shape entry \"{}\" is not a whole number for every input size the manifest allows; \
                         make the size `multiple` (or the fixed size) a multiple of {div}",
                        o.name,
                        d.text()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The named output, which must be a tensor output (for the data blocks).
    fn tensor_output(&self, block: &str, field: &str, name: &str) -> Result<&TensorOutput> {
        match self.output(name) {
            Some(Output::Tensor(t)) => Ok(t),
            Some(other) => Err(self.err(format!(
                "{block} `{field}` names output '{name}', which is a {} output; it must be a \"tensor\" output",
                other.kind_name()
            ))),
            None => Err(self.err(format!(
                "{block} `{field}` names output '{name}', which is not in `outputs`"
            ))),
        }
    }

    fn validate_blocks(&self) -> Result<()> {
        if let Some(d) = &self.detection {
            self.validate_detection(d)?;
        }
        if let Some(l) = &self.landmarks {
            self.validate_landmarks(l)?;
        }
        if let Some(e) = &self.embedding {
            let t = self.tensor_output("embedding", "output", &e.output)?;
            if e.length == 0 {
                return Err(self.err("embedding `length` must be at least 1"));
            }
            if let Some(n) = fixed_count(&t.shape)
                && n != e.length as u64
            {
                return Err(self.err(format!(
                    "embedding `length` is {} but output '{}' has shape {} ({n} values)",
                    e.length,
                    t.name,
                    shape_text(&t.shape)
                )));
            }
        }
        if let Some(a) = &self.alignment {
            self.validate_alignment(a)?;
        }
        if let Some(seg) = &self.segmentation {
            self.tensor_output("segmentation", "output", &seg.output)?;
            match &seg.presence {
                Some(p) => {
                    self.tensor_output("segmentation", "presence", p)?;
                }
                None if seg.presence_activation.is_some() || seg.min_presence.is_some() => {
                    return Err(self.err(
                        "segmentation `presence_activation` and `min_presence` need a `presence` output",
                    ));
                }
                None => {}
            }
            if let Some(m) = seg.min_presence
                && !(0.0..=1.0).contains(&m)
            {
                return Err(self.err(format!("segmentation `min_presence` {m} must be 0..1")));
            }
        }
        Ok(())
    }

    fn validate_detection(&self, d: &Detection) -> Result<()> {
        let check_nms = |nms: &Nms, min_score: f32| -> Result<()> {
            if !(0.0..=1.0).contains(&min_score) {
                return Err(self.err(format!("detection `min_score` {min_score} must be 0..1")));
            }
            if !(0.0..=1.0).contains(&nms.min_iou) {
                return Err(self.err(format!(
                    "detection nms `min_iou` {} must be 0..1",
                    nms.min_iou
                )));
            }
            Ok(())
        };
        let check_names = |names: &[String]| -> Result<()> {
            let mut seen = HashSet::new();
            for n in names {
                if n.trim().is_empty() || !seen.insert(n.as_str()) {
                    return Err(self.err(format!(
                        "detection `keypoints` must be distinct non-empty names; '{n}' is not"
                    )));
                }
            }
            Ok(())
        };
        match d {
            Detection::SsdAnchors {
                boxes,
                scores,
                anchors,
                decode,
            } => {
                let b = self.tensor_output("detection", "boxes", boxes)?;
                let s = self.tensor_output("detection", "scores", scores)?;
                check_nms(&decode.nms, decode.min_score)?;
                check_names(&decode.keypoints)?;
                if anchors.strides.is_empty() || anchors.strides.contains(&0) {
                    return Err(
                        self.err("detection anchors `strides` must be non-empty and above 0")
                    );
                }
                if anchors.num_layers as usize != anchors.strides.len() {
                    return Err(self.err(format!(
                        "detection anchors `num_layers` is {} but {} `strides` are given; give one stride per layer",
                        anchors.num_layers,
                        anchors.strides.len()
                    )));
                }
                if anchors.input_size.contains(&0) {
                    return Err(
                        self.err("detection anchors `input_size` must be [height, width] above 0")
                    );
                }
                if let Size::Fixed { width, height, .. } = self.size
                    && anchors.input_size != [height, width]
                {
                    return Err(self.err(format!(
                        "detection anchors `input_size` {:?} is [height, width] and must match the fixed size {width}x{height}",
                        anchors.input_size
                    )));
                }
                let count = anchors.centres().len();
                if count != decode.num_boxes as usize {
                    return Err(self.err(format!(
                        "detection anchors make {count} anchors but decode `num_boxes` is {}",
                        decode.num_boxes
                    )));
                }
                if decode.num_keypoints as usize != decode.keypoints.len() {
                    return Err(self.err(format!(
                        "detection decode `num_keypoints` is {} but {} `keypoints` names are given",
                        decode.num_keypoints,
                        decode.keypoints.len()
                    )));
                }
                if decode.values_per_keypoint < 2 {
                    return Err(self
                        .err("detection decode `values_per_keypoint` must be at least 2 (x, y)"));
                }
                let needed = (decode.box_coord_offset + 4).max(
                    decode.keypoint_coord_offset
                        + decode.num_keypoints * decode.values_per_keypoint,
                );
                if decode.num_coords < needed {
                    return Err(self.err(format!(
                        "detection decode `num_coords` {} is too small for the box and {} keypoints it describes ({needed} needed)",
                        decode.num_coords, decode.num_keypoints
                    )));
                }
                if !decode.scale.iter().all(|v| v.is_finite() && *v != 0.0) {
                    return Err(
                        self.err("detection decode `scale` values must be finite and not 0")
                    );
                }
                if !(decode.score_clipping.is_finite() && decode.score_clipping > 0.0) {
                    return Err(self.err("detection decode `score_clipping` must be above 0"));
                }
                for (t, per) in [(b, decode.num_coords), (s, 1)] {
                    if let Some(n) = fixed_count(&t.shape)
                        && n != decode.num_boxes as u64 * per as u64
                    {
                        return Err(self.err(format!(
                            "output '{}' has shape {} ({n} values) but detection decode needs {} boxes x {per}",
                            t.name,
                            shape_text(&t.shape),
                            decode.num_boxes
                        )));
                    }
                }
            }
            Detection::Centernet {
                heatmap,
                scale,
                offset,
                landmarks,
                decode,
            } => {
                check_nms(&decode.nms, decode.min_score)?;
                check_names(&decode.keypoints)?;
                if decode.stride == 0 {
                    return Err(self.err("detection decode `stride` must be at least 1"));
                }
                for (field, name, channels) in [
                    ("heatmap", heatmap, 1),
                    ("scale", scale, 2),
                    ("offset", offset, 2),
                    ("landmarks", landmarks, 2 * decode.keypoints.len() as u64),
                ] {
                    let t = self.tensor_output("detection", field, name)?;
                    if t.shape.len() != 4 {
                        return Err(self.err(format!(
                            "detection `{field}` output '{name}' has shape {}; a centernet grid is [N, C, H/stride, W/stride]",
                            shape_text(&t.shape)
                        )));
                    }
                    if let Dim::Fixed(c) = t.shape[1]
                        && c != channels
                    {
                        return Err(self.err(format!(
                            "detection `{field}` output '{name}' has {c} channels but needs {channels}"
                        )));
                    }
                    for d in &t.shape[2..] {
                        if let Dim::Height { mul: 1, div } | Dim::Width { mul: 1, div } = *d
                            && div != decode.stride
                        {
                            return Err(self.err(format!(
                                "detection `{field}` output '{name}' is at 1/{div} of the input but decode `stride` is {}",
                                decode.stride
                            )));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_landmarks(&self, l: &Landmarks) -> Result<()> {
        let t = self.tensor_output("landmarks", "points", &l.points)?;
        if l.count == 0 {
            return Err(self.err("landmarks `count` must be at least 1"));
        }
        if !(2..=3).contains(&l.values_per_point) {
            return Err(self.err(format!(
                "landmarks `values_per_point` must be 2 (x, y) or 3 (x, y, z), got {}",
                l.values_per_point
            )));
        }
        if let Some(n) = fixed_count(&t.shape)
            && n != l.count as u64 * l.values_per_point as u64
        {
            return Err(self.err(format!(
                "landmarks: output '{}' has shape {} ({n} values) but {} points x {} values need {}",
                t.name,
                shape_text(&t.shape),
                l.count,
                l.values_per_point,
                l.count as u64 * l.values_per_point as u64
            )));
        }
        if l.units.trim().is_empty() {
            return Err(self.err("landmarks `units` is empty; say what the values are measured in"));
        }
        match &l.presence {
            Some(p) => {
                self.tensor_output("landmarks", "presence", p)?;
            }
            None => {
                if l.presence_activation.is_some() || l.min_presence.is_some() {
                    return Err(self.err(
                        "landmarks `presence_activation` and `min_presence` need a `presence` output",
                    ));
                }
            }
        }
        if let Some(m) = l.min_presence
            && !(0.0..=1.0).contains(&m)
        {
            return Err(self.err(format!("landmarks `min_presence` {m} must be 0..1")));
        }
        for (name, &index) in &l.named_points {
            if index >= l.count {
                return Err(self.err(format!(
                    "landmarks named point '{name}' is index {index}, but there are only {} points (0..{})",
                    l.count,
                    l.count - 1
                )));
            }
        }
        Ok(())
    }

    fn validate_alignment(&self, a: &Alignment) -> Result<()> {
        match a {
            Alignment::DetectionRoi {
                detector,
                rotation_keypoints,
                target_angle_deg,
                scale,
                ..
            } => {
                if detector.trim().is_empty() {
                    return Err(
                        self.err("alignment `detector` is empty; give the detector model's `name`")
                    );
                }
                if rotation_keypoints[0] == rotation_keypoints[1]
                    || rotation_keypoints.iter().any(|k| k.trim().is_empty())
                {
                    return Err(self.err(
                        "alignment `rotation_keypoints` must name two different detector keypoints",
                    ));
                }
                if !target_angle_deg.is_finite() {
                    return Err(self.err("alignment `target_angle_deg` must be a finite number"));
                }
                if !(scale.is_finite() && *scale > 0.0) {
                    return Err(self.err(format!("alignment `scale` {scale} must be above 0")));
                }
            }
            Alignment::KeypointCircle {
                detector,
                centre_keypoint,
                circle_keypoint,
                target_angle_deg,
                scale,
                ..
            } => {
                if detector.trim().is_empty() {
                    return Err(
                        self.err("alignment `detector` is empty; give the detector model's `name`")
                    );
                }
                if centre_keypoint == circle_keypoint
                    || centre_keypoint.trim().is_empty()
                    || circle_keypoint.trim().is_empty()
                {
                    return Err(self.err(
                        "alignment `centre_keypoint` and `circle_keypoint` must name two different detector keypoints",
                    ));
                }
                if !target_angle_deg.is_finite() {
                    return Err(self.err("alignment `target_angle_deg` must be a finite number"));
                }
                if !(scale.is_finite() && *scale > 0.0) {
                    return Err(self.err(format!("alignment `scale` {scale} must be above 0")));
                }
            }
            Alignment::Template { template, size } => {
                if *size == 0 || *size > MAX_EDGE {
                    return Err(
                        self.err(format!("alignment `size` {size} must be 1..{MAX_EDGE} px"))
                    );
                }
                for p in template {
                    if !p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
                        return Err(self.err(format!(
                            "alignment `template` point {p:?} must lie in the unit square (0..1)"
                        )));
                    }
                }
                let eyes = (template[0][0] - template[1][0]).hypot(template[0][1] - template[1][1]);
                if eyes < 1e-3 {
                    return Err(self.err(
                        "alignment `template`: the two eye points coincide; give five distinct points",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where the digest of a model without a published `sha256` is recorded when it is
    /// fetched: `MODEL.sha256` beside the model file (`sha256sum` format).
    pub fn recorded_digest_path(model_path: &Path) -> PathBuf {
        let mut name = model_path.file_name().unwrap_or_default().to_os_string();
        name.push(".sha256");
        model_path.with_file_name(name)
    }

    /// Trust on first use, for a model whose publisher gives no digest (`sha256` null): hashes
    /// the freshly fetched file and records the digest beside it, so later loads check the file
    /// did not change. Returns the digest. Refused when the manifest has a `sha256` (check it
    /// with [`Manifest::verify_model`] instead).
    pub fn record_fetched_digest(&self, model_path: &Path) -> Result<String> {
        if self.sha256.is_some() {
            return Err(
                self.err("has a `sha256`; a fetched file is checked against it, not recorded")
            );
        }
        let digest = sha256_file(model_path)?;
        let file = model_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let record = Manifest::recorded_digest_path(model_path);
        std::fs::write(&record, format!("{digest}  {file}\n")).map_err(|e| {
            Error::new(format!(
                "cannot record the digest of {} in {}: {e}",
                model_path.display(),
                record.display()
            ))
        })?;
        Ok(digest)
    }

    /// The digest the model file is checked against: the manifest's `sha256`, else the one
    /// recorded when the file was fetched.
    fn expected_digest(&self, model_path: &Path) -> Result<String> {
        if let Some(sha) = &self.sha256 {
            return Ok(sha.to_ascii_lowercase());
        }
        let record = Manifest::recorded_digest_path(model_path);
        let text = std::fs::read_to_string(&record).map_err(|_| {
            Error::new(format!(
                "model {} has no published sha256 and no digest was recorded when it was fetched ({} is missing); \
                 fetch it with `pixelspace models fetch {}`, which records the digest of the file it downloads",
                model_path.display(),
                record.display(),
                self.name
            ))
        })?;
        let digest = text.split_whitespace().next().unwrap_or("");
        if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::new(format!(
                "{} does not hold a sha256 digest; fetch the model again with `pixelspace models fetch {}`",
                record.display(),
                self.name
            )));
        }
        Ok(digest.to_ascii_lowercase())
    }

    /// Checks the model file against `sha256` (or, for a model without a published digest,
    /// the one recorded when it was fetched); streamed, and remembered per file size and mtime,
    /// so a model shared by many instances is hashed once.
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
        let expected = self.expected_digest(model_path)?;
        let stamp = (
            std::fs::canonicalize(model_path).unwrap_or_else(|_| model_path.to_path_buf()),
            meta.len(),
            meta.modified().ok(),
            expected.clone(),
        );
        if VERIFIED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&stamp)
        {
            return Ok(());
        }
        let actual = sha256_file(model_path)?;
        if actual != expected {
            let against = if self.sha256.is_some() {
                format!("the manifest {} expects", self.source.display())
            } else {
                format!(
                    "the digest recorded when it was fetched ({}) is",
                    Manifest::recorded_digest_path(model_path).display()
                )
            };
            return Err(Error::new(format!(
                "model file {} does not match its manifest {}: sha256 is {actual} but {against} {expected}; \
                 the file is damaged or a different version (fetch it again with `pixelspace models fetch {}`)",
                model_path.display(),
                self.source.display(),
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

/// Number of values of a shape whose every dimension is fixed (`N` counts as 1).
fn fixed_count(shape: &[Dim]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, d| match d {
        Dim::Fixed(n) => acc.checked_mul(*n),
        Dim::Batch => Some(acc),
        _ => None,
    })
}

/// A shape as the manifest writes it, for messages.
pub fn shape_text(shape: &[Dim]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            other => format!("\"{}\"", other.text()),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

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
        let out0 = m.outputs[0].as_image().unwrap();
        assert_eq!(out0.apply, Apply::Change);
        assert_eq!(out0.layout, Layout::Nhwc);
        let out1 = m.outputs[1].as_image().unwrap();
        assert_eq!(out1.apply, Apply::Replace);
        assert_eq!(out1.range, [0.0, 1.0]);
        assert!(m.licence.commercial_use);
    }

    #[test]
    fn symbolic_dims() {
        for (text, dim) in [
            ("N", Dim::Batch),
            ("H", Dim::Height { mul: 1, div: 1 }),
            ("W/4", Dim::Width { mul: 1, div: 4 }),
            ("H*2", Dim::Height { mul: 2, div: 1 }),
        ] {
            assert_eq!(Dim::parse(text), Ok(dim));
            assert_eq!(dim.text(), text);
        }
        for bad in ["", "h", "H/0", "H/", "H%4", "X", "H/€", "€", "N/2"] {
            assert!(Dim::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Dim::Width { mul: 1, div: 4 }.resolve(96, 64), Some(24));
        assert_eq!(Dim::Height { mul: 1, div: 4 }.resolve(96, 66), None);
        assert_eq!(Dim::Batch.resolve(1, 1), Some(1));
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
                height: 128,
                fit: Fit::Stretch
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
        m.sha256 = Some(expected.to_ascii_uppercase());
        m.verify_model(&model).unwrap();
        m.sha256 = Some("0".repeat(64));
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
