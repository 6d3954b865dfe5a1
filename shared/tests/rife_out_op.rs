//! Our `org.pixelspace:RifeBlockOutput` operator through the runtime's sessions (one-node models
//! from tests/data/rife_out_models.py) against the standard ONNX ops it stands for, run by ONNX
//! Runtime itself, and its shape errors.

mod common;

use std::path::PathBuf;

use common::*;
use pixelspace_shared::runtime::{InputTensor, Provider, SessionCache, SharedSession};

/// The test models, generated once per test process.
fn models() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("rife-out-models");
        run_python(&["tests/data/rife_out_models.py", dir.to_str().unwrap()]);
        dir
    })
    .clone()
}

fn open(name: &str) -> pixelspace_shared::error::Result<std::sync::Arc<SharedSession>> {
    SessionCache::global().get(&models().join(format!("{name}.onnx")), Provider::Cpu, None)
}

/// A block's conv output (`[1, 80, h, w]`) and a flow so far at `scale`, random; the flow
/// reaches hundreds of pixels, as a real one can at 4K.
struct Inputs {
    conv: Vec<f32>,
    flow: Vec<f32>,
    conv_shape: [i64; 4],
    flow_shape: [i64; 4],
}

fn inputs(seed: u64, h: usize, w: usize, scale: usize) -> Inputs {
    let mut rng = Rng::new(seed);
    let mut values = |n: usize, spread: f32| -> Vec<f32> {
        (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * spread).collect()
    };
    let (fh, fw) = (4 * h * scale, 4 * w * scale);
    Inputs {
        conv: values(80 * h * w, 20.0),
        flow: values(4 * fh * fw, 300.0),
        conv_shape: [1, 80, h as i64, w as i64],
        flow_shape: [1, 4, fh as i64, fw as i64],
    }
}

impl Inputs {
    /// Runs `session` with or without the flow input: both outputs, with their shapes.
    fn run(
        &self,
        session: &SharedSession,
        with_flow: bool,
    ) -> pixelspace_shared::error::Result<Vec<(Vec<i64>, Vec<f32>)>> {
        let mut tensors = vec![InputTensor::new("conv", &self.conv_shape, &self.conv)];
        if with_flow {
            tensors.push(InputTensor::new("flow", &self.flow_shape, &self.flow));
        }
        session.run_many(&tensors, &[0, 1])
    }
}

/// Within rounding: 1e-6 of the largest value that goes in (`size`; the two resizes weigh the
/// same taps in their own order, so cancelling terms leave errors of that size).
fn assert_close(what: &str, own: &[f32], standard: &[f32], size: f32) {
    assert_eq!(own.len(), standard.len(), "{what}");
    for (i, (a, b)) in own.iter().zip(standard).enumerate() {
        let tolerance = 1e-6 * size;
        assert!(
            (a - b).abs() <= tolerance,
            "{what}: value {i}: ours {a}, standard ops {b}"
        );
    }
}

#[test]
fn the_operator_matches_the_standard_ops() {
    init_runtime();
    // (scale, with flow, conv h, conv w); sizes large enough for several threads included.
    for (scale, flow, h, w) in [
        (1, true, 3, 5),
        (1, true, 68, 120),
        (2, true, 2, 3),
        (2, true, 34, 60),
        (16, true, 2, 2),
        (4, false, 3, 4),
        (4, false, 17, 30),
    ] {
        let (own, standard) = if flow {
            (format!("own_s{scale}"), format!("std_s{scale}"))
        } else {
            (format!("own_s{scale}_first"), format!("std_s{scale}_first"))
        };
        let inp = inputs((h * 100 + w + scale) as u64, h, w, scale);
        let ours = inp
            .run(&open(&own).unwrap_or_else(|e| panic!("{own}: {e}")), flow)
            .unwrap_or_else(|e| panic!("{own}: {e}"));
        let theirs = inp
            .run(
                &open(&standard).unwrap_or_else(|e| panic!("{standard}: {e}")),
                flow,
            )
            .unwrap_or_else(|e| panic!("{standard}: {e}"));
        let (fh, fw) = ((4 * h * scale) as i64, (4 * w * scale) as i64);
        assert_eq!(ours[0].0, vec![1, 4, fh, fw], "{own}: flow shape");
        assert_eq!(
            ours[1].0,
            vec![1, 1, 4 * h as i64, 4 * w as i64],
            "{own}: rest shape"
        );
        assert_eq!(ours[0].0, theirs[0].0);
        assert_eq!(ours[1].0, theirs[1].0);
        let what = format!("{own} {w}x{h}");
        // The conv values reach 20, times the scale; the flow so far 300.
        let size = 20.0 * scale as f32 + 300.0;
        assert_close(&format!("{what} flow"), &ours[0].1, &theirs[0].1, size);
        // The rest is only moved: the same bits.
        assert!(
            ours[1]
                .1
                .iter()
                .zip(&theirs[1].1)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{what}: rest"
        );
    }
}

#[test]
fn an_omitted_flow_input_is_a_first_block() {
    init_runtime();
    let inp = inputs(5, 3, 4, 2);
    let blank = inp
        .run(
            &open("own_s2_blank").unwrap_or_else(|e| panic!("{e}")),
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // The same as the operator on the flow plus a zero flow.
    let zero = Inputs {
        flow: vec![0.0; inp.flow.len()],
        ..inp
    };
    let with_zero = zero
        .run(&open("own_s2").unwrap_or_else(|e| panic!("{e}")), true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(blank, with_zero);
}

#[test]
fn wrong_shapes_are_clear_errors_when_run() {
    init_runtime();
    let session = open("own_s2_any").unwrap_or_else(|e| panic!("{e}"));
    let good = inputs(3, 3, 5, 2);
    good.run(&session, true).unwrap_or_else(|e| panic!("{e}"));
    let fails = |inp: &Inputs, message: &str| {
        let err = inp.run(&session, true).expect_err(message);
        assert!(err.message().contains(message), "{err}");
        assert!(
            err.message().contains("org.pixelspace:RifeBlockOutput"),
            "{err}"
        );
    };
    let mut wide_flow = inputs(4, 3, 5, 2);
    wide_flow.flow_shape = [1, 4, 24, 40 + 8];
    wide_flow.flow.resize(4 * 24 * 48, 0.0);
    fails(&wide_flow, "its width must be 4*scale times the conv's, 40");
    let mut odd = inputs(6, 3, 5, 2);
    odd.conv_shape = [1, 75, 3, 5];
    odd.conv.truncate(75 * 15);
    fails(&odd, "input conv must be [1, 16C, h, w] with C >= 5");
}

#[test]
fn wrong_models_are_refused_when_opened() {
    init_runtime();
    for (name, message) in [
        (
            "bad_conv72",
            "input conv must be [1, 16C, h, w] with C >= 5, got [1, 72, ?, ?]",
        ),
        (
            "bad_conv64",
            "input conv must be [1, 16C, h, w] with C >= 5, got [1, 64, ?, ?]",
        ),
        (
            "bad_flow_size",
            "its width must be 4*scale times the conv's, 40",
        ),
        ("bad_scale3", "scale must be 1, 2, 4, 8 or 16, got 3"),
        (
            "bad_no_scale",
            "the attribute scale (1, 2, 4, 8 or 16) is required",
        ),
    ] {
        let err = open(name).expect_err(name);
        assert!(err.message().contains(message), "{name}: {err}");
        assert!(
            err.message().contains("org.pixelspace:RifeBlockOutput"),
            "{name}: {err}"
        );
    }
}

#[test]
fn unknown_sizes_stay_dynamic_after_the_operator() {
    init_runtime();
    for name in ["own_s2", "own_s4_first", "own_s1"] {
        let session = open(name).unwrap_or_else(|e| panic!("{e}"));
        let outputs = session.outputs();
        assert_eq!(
            outputs[0].shape,
            vec![1, 4, -1, -1],
            "{name}: flow {:?}",
            outputs[0]
        );
        assert_eq!(
            outputs[1].shape,
            vec![1, 1, -1, -1],
            "{name}: rest {:?}",
            outputs[1]
        );
    }
}
