//! A headless OpenFX host: the OpenFX reference host library (HostSupport) and
//! our C++ host on top of it (`cpp/`), behind a safe Rust API.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pixelspace_host::{Host, RenderOptions};
//! # fn demo(source: Arc<dyn pixelspace_host::FrameSource>) -> Result<(), pixelspace_host::HostError> {
//! let host = Host::new(&["/path/to/plugins".into()])?;
//! let mut fx = host.instance("org.pixelspace.Inference")?;
//! fx.connect("Source", source)?;
//! fx.set_param("colourSpace", "linear")?;
//! fx.render_frames(&[0, 1, 2], &RenderOptions::default(), &|frame, image| {
//!     println!("frame {frame}: {}x{}", image.width, image.height);
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

mod error;
mod ffi;
mod host;
mod image;
mod instance;
mod options;

pub use error::HostError;
pub use host::{EffectInfo, Host};
pub use image::{FrameSource, HostImage};
pub use instance::{
    CancelHandle, ClipInfo, FrameTiming, Instance, Message, MessageLevel, ParamInfo, ParamKind,
};
pub use options::{Depth, HostProfile, RenderOptions, RowOrder};

/// The OpenFX source tree (headers, HostSupport, examples) this host was built
/// from; tests use it to compile example plugins.
pub fn openfx_source_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("PIXELSPACE_OPENFX_DIR"))
}
