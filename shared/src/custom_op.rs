//! What our ONNX Runtime custom operators (domain `org.pixelspace`: [`crate::warp_op`]'s
//! GridSample, [`crate::rife_op`]'s RifeBlockInput and [`crate::rife_out_op`]'s
//! RifeBlockOutput) share: the domain every session of the
//! runtime registers ([`operator_domain`]) and the helpers of their shape inference.

use std::sync::atomic::{AtomicUsize, Ordering};

use ort::operator::{ComputeContext, KernelContext, OperatorDomain};
use ort::value::{Shape, TensorElementType, ValueRef, ValueType};

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

/// The input shapes a node's graph declares or infers (see [`known`]; an unknown rank is 4
/// unknown dimensions), or `None` when ONNX Runtime lists no inputs: it lists none when an
/// optional input is named "" (omitted), and those nodes are checked when they run. The
/// kernels check these when the session is created, as ONNX Runtime ignores errors from
/// shape inference.
pub fn declared_shapes(kctx: &KernelContext) -> Option<Vec<Vec<Option<i64>>>> {
    let inputs = kctx.inputs().ok()?;
    Some(
        inputs
            .iter()
            .map(|i| {
                i.dtype()
                    .tensor_shape()
                    .map_or(vec![None; 4], |s| known(&ranked(s)))
            })
            .collect(),
    )
}

/// Whether an input seen by shape inference is an omitted optional one (named ""): it arrives
/// without an element type.
pub fn is_omitted(input: &ValueType) -> bool {
    matches!(
        input,
        ValueType::Tensor {
            ty: TensorElementType::Undefined,
            ..
        }
    )
}

/// The inputs of a running node, at most `names.len()`, trailing omitted optional ones left
/// off (never fewer than `required`). An omitted input before a given one is an error naming it
/// (`error` makes the operator's message).
pub fn given_inputs<'c>(
    ctx: &'c ComputeContext,
    names: &[&str],
    required: usize,
    error: impl Fn(String) -> Error,
) -> ort::Result<Vec<ValueRef<'c>>> {
    let count = ctx.num_inputs()?.min(names.len());
    let mut values = Vec::with_capacity(count);
    for k in 0..count {
        values.push(ctx.input(k)?);
    }
    while values.len() > required && values.last().is_some_and(|v| v.is_none()) {
        values.pop();
    }
    values
        .into_iter()
        .enumerate()
        .map(|(k, v)| v.ok_or_else(|| ort_error(error(format!("input {} is missing", names[k])))))
        .collect()
}
