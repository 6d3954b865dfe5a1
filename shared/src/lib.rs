//! Pixelspace core library (see module docs).

pub mod colour;
pub mod custom_op;
pub mod error;
pub mod extend;
pub mod face;
pub mod fused;
pub mod geometry;
pub mod image;
pub mod manifest;
pub mod models_dir;
pub mod onnx_initializers;
pub mod pipeline;
pub mod plate;
pub mod policy;
pub mod resize;
pub mod rife_op;
pub mod rife_out_op;
pub mod runtime;
pub mod tensor;
pub mod tiling;
pub mod warp_op;
