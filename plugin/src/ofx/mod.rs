//! The safe OpenFX layer. All `unsafe` code and every raw OFX pointer of the plugin live in
//! this module; above it, effects see typed handles whose lifetimes end with the action that
//! produced them, and errors as values.
//!
//! - [`host`]: the host pointer and its suites
//! - [`property`]: typed property access
//! - [`effect`]: effect, clip, progress, messages, coordinates
//! - [`image`]: clip images as `ImageView`/`ImageViewMut`, released on drop
//! - [`param`]: parameter definition and access
//! - [`describe`]: describe-time effect properties
//! - [`dispatch`]: the action dispatcher (`mainEntry`) and the `Plugin` trait
//! - [`path`]: where the plugin binary is on disk
//! - [`status`]: errors and OFX status codes

pub mod describe;
pub mod dispatch;
pub mod effect;
pub mod host;
pub mod image;
pub mod param;
pub mod path;
pub mod property;
pub mod status;

pub use describe::{Description, ThreadSafety};
pub use dispatch::{
    ChangeReason, ChangedKind, ClipPreferences, FramesNeeded, InstanceChanged, Plugin, PluginEntry,
    RegionsOfInterest, RenderArgs, Reply,
};
pub use effect::{CanonicalRect, Clip, ClipDescriptor, Context, ImageEffect, Progress};
pub use host::MessageLevel;
pub use image::Image;
pub use param::{Param, ParamSet, StringMode};
pub use status::{Error, Result};
