//! What our ONNX Runtime custom operators (domain `org.pixelspace`: [`crate::warp_op`]'s
//! GridSample, [`crate::rife_op`]'s RifeBlockInput and [`crate::rife_out_op`]'s
//! RifeBlockOutput) share: the domain every session of the
//! runtime registers ([`operator_domain`]) and the helpers of their shape inference.

use std::sync::atomic::{AtomicUsize, Ordering};

use ort::operator::OperatorDomain;
use ort::value::Shape;

use crate::error::{Error, Result};

/// The operator domain of our own kernels.
pub const DOMAIN: &str = "org.pixelspace";

/// The `org.pixelspace` operator domain with every operator of ours, to register on a session;
/// models that do not use the domain are unaffected.
pub fn operator_domain() -> Result<OperatorDomain> {
    OperatorDomain::new(DOMAIN)
        .and_then(|d| d.add(crate::warp_op::GridSampleOp))
        .and_then(|d| d.add(crate::rife_op::RifeBlockInputOp))
        .and_then(|d| d.add(crate::rife_out_op::RifeBlockOutputOp))
        .map_err(|e| Error::new(format!("cannot create the {DOMAIN} custom operators: {e}")))
}

/// A declared shape, 4 unknown dimensions when it has none: no dimensions before running means
/// an unknown rank (a value ONNX could not infer); the kernels check the shapes when they run.
pub fn ranked(shape: &Shape) -> Vec<i64> {
    if shape.is_empty() {
        vec![-1; 4]
    } else {
        shape.to_vec()
    }
}

/// The dimensions of `shape`, `None` where unknown.
pub fn known(shape: &[i64]) -> Vec<Option<i64>> {
    shape.iter().map(|&d| (d >= 0).then_some(d)).collect()
}

/// A fresh name for an output size of operator `op` that is unknown. ONNX Runtime writes an
/// unnamed dimension as its value, so an unknown size (-1) left unnamed would become a fixed
/// size of -1, and the shapes inferred from it downstream wrong (a whole model's outputs then
/// claim a fixed size).
pub fn fresh_symbol(op: &str) -> String {
    static FRESH: AtomicUsize = AtomicUsize::new(0);
    format!("{DOMAIN}.{op}.{}", FRESH.fetch_add(1, Ordering::Relaxed))
}

/// The symbol an output dimension of operator `op` is given: the input's symbol, none for a
/// known size, and a [`fresh_symbol`] for a size that is unknown and unnamed.
pub fn output_symbol(op: &str, size: i64, symbol: Option<&String>) -> String {
    match symbol {
        Some(name) if !name.is_empty() => name.clone(),
        _ if size >= 0 => String::new(),
        _ => fresh_symbol(op),
    }
}

/// Our error as ONNX Runtime's.
pub fn ort_error(e: Error) -> ort::Error {
    ort::Error::new(e.message())
}
