//! Pixelspace core library (see module docs).

pub mod error;
pub mod geometry;
pub mod image;
pub mod colour;
pub mod tensor;
pub mod fused;
pub mod resize;
pub mod tiling;
pub mod runtime;
pub mod manifest;
pub mod models_dir;
pub mod policy;
pub mod onnx_initializers;
pub mod pipeline;
pub mod face;
pub mod extend;
pub mod plate;
