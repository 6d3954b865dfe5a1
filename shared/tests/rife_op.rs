//! Our `org.pixelspace:RifeBlockInput` operator through the runtime's sessions (one-node models
//! from tests/data/rife_op_models.py) against the kernel it wraps, and its shape errors.

mod common;

use std::path::PathBuf;

use common::*;
use pixelspace_shared::rife_op::{BlockInput, block_input, output_channels};
use pixelspace_shared::runtime::{InputTensor, Provider, SessionCache, SharedSession};

/// The test models, generated once per test process.
fn models() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("rife-op-models");
        run_python(&["tests/data/rife_op_models.py", dir.to_str().unwrap()]);
        dir
    })
    .clone()
}

fn open(name: &str) -> pixelspace_shared::error::Result<std::sync::Arc<SharedSession>> {
    SessionCache::global().get(&models().join(format!("{name}.onnx")), Provider::Cpu, None)
}

/// One block's inputs: random frames and features in [-1, 1], a flow reaching past the edges
/// with a few NaN and infinite values, random rest.
struct Inputs {
    h: usize,
    w: usize,
    img0: Vec<f32>,
    img1: Vec<f32>,
    feats: Vec<f32>,
    /// The form of `feats`: 1 `[2,4,H,W]`, 2 `[2,16,H/2,W/2]` (before a depth-to-space by 2).
    feats_block: usize,
    t: Vec<f32>,
    flow: Vec<f32>,
    rest: Vec<f32>,
    rest_hw: [usize; 2],
}

fn inputs(seed: u64, h: usize, w: usize, rest_hw: [usize; 2]) -> Inputs {
    let mut rng = Rng::new(seed);
    let mut values = |n: usize, spread: f32| -> Vec<f32> {
        (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * spread).collect()
    };
    let plane = h * w;
    let mut flow = values(4 * plane, 1.3 * h.max(w) as f32);
    for (n, i) in (7..flow.len()).step_by(41).enumerate() {
        flow[i] = [f32::NAN, f32::INFINITY, -1e30][n % 3];
    }
    Inputs {
        h,
        w,
        img0: values(3 * plane, 1.0),
        img1: values(3 * plane, 1.0),
        feats: values(8 * plane, 1.0),
        feats_block: 1,
        t: vec![0.375],
        flow,
        rest: values(9 * rest_hw[0] * rest_hw[1], 1.0),
        rest_hw,
    }
}

impl Inputs {
    /// Runs `session` on the first `count` inputs (4 or 6): the output and its shape.
    fn run(
        &self,
        session: &SharedSession,
        count: usize,
    ) -> pixelspace_shared::error::Result<(Vec<f32>, Vec<i64>)> {
        let (h, w) = (self.h as i64, self.w as i64);
        let (rh, rw) = (self.rest_hw[0] as i64, self.rest_hw[1] as i64);
        let b = self.feats_block;
        let (fh, fw) = ((self.h / b) as i64, (self.w / b) as i64);
        let feats_channels = self.feats.len() as i64 / (2 * fh * fw);
        let shapes: [&[i64]; 6] = [
            &[1, 3, h, w],
            &[1, 3, h, w],
            &[2, feats_channels, fh, fw],
            &[1, 1, 1, 1],
            &[1, 4, h, w],
            &[1, 9, rh, rw],
        ];
        let data: [&[f32]; 6] = [
            &self.img0,
            &self.img1,
            &self.feats,
            &self.t,
            &self.flow,
            &self.rest,
        ];
        let names = ["img0", "img1", "feats", "timestep", "flow", "rest"];
        let tensors: Vec<InputTensor> = (0..count)
            .map(|k| InputTensor::new(names[k], shapes[k], data[k]))
            .collect();
        let mut out = Vec::new();
        let shape = session.run(&tensors, 0, &mut out)?;
        Ok((out, shape))
    }

    /// The kernel's output at `scale`, with or without the flow and rest.
    fn kernel(&self, scale: usize, with_flow: bool) -> Vec<f32> {
        let input = BlockInput {
            img0: &self.img0,
            img1: &self.img1,
            feats: &self.feats,
            feats_block: self.feats_block,
            timestep: self.t[0],
            motion: with_flow.then_some((&self.flow[..], &self.rest[..])),
            height: self.h,
            width: self.w,
        };
        let c = output_channels(with_flow);
        let mut out = vec![0.0; c * (self.h / scale) * (self.w / scale)];
        block_input(&input, scale, &mut out).unwrap_or_else(|e| panic!("{e}"));
        out
    }
}

/// The same values, bit for bit (NaN flow values give NaN in the flow channels of both).
fn assert_same(what: &str, session: &[f32], kernel: &[f32]) {
    assert_eq!(session.len(), kernel.len(), "{what}");
    for (i, (a, b)) in session.iter().zip(kernel).enumerate() {
        assert!(
            a.to_bits() == b.to_bits(),
            "{what}: value {i}: session {a}, kernel {b}"
        );
    }
}

#[test]
fn sessions_match_the_kernel() {
    init_runtime();
    // (model, scale, with flow, H, W); sizes large enough for several threads included.
    for (name, scale, flow, h, w) in [
        ("flow_s2", 2, true, 12, 20),
        ("flow_s2", 2, true, 260, 516),
        ("flow_s1", 1, true, 6, 10),
        ("flow_s1", 1, true, 64, 1026),
        ("plain_s4", 4, false, 8, 28),
        ("plain_s4", 4, false, 36, 20),
        ("plain_s4_blank", 4, false, 8, 12),
    ] {
        let session = open(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rest_hw = [h / (2 * scale), w / (2 * scale)];
        let inp = inputs((h * 1000 + w) as u64, h, w, rest_hw);
        let count = if flow { 6 } else { 4 };
        let (out, shape) = inp
            .run(&session, count)
            .unwrap_or_else(|e| panic!("{name} {w}x{h}: {e}"));
        let c = output_channels(flow) as i64;
        assert_eq!(
            shape,
            vec![1, c, (h / scale) as i64, (w / scale) as i64],
            "{name}"
        );
        assert_same(&format!("{name} {w}x{h}"), &out, &inp.kernel(scale, flow));
    }
}

#[test]
fn features_before_their_depth_to_space_match_onnx_depth_to_space() {
    // feats_block 2 reads the features the way ONNX Runtime's DepthToSpace (blocksize 2, CRD)
    // lays them out: the operator on them gives the same bits as the operator after that node.
    init_runtime();
    for (name, scale, flow, h, w) in [
        ("flow_s1", 1, true, 6, 10),
        ("flow_s1", 1, true, 64, 1026),
        ("flow_s4", 4, true, 16, 24),
        ("flow_s4", 4, true, 136, 264),
        ("plain_s2", 2, false, 2, 4),
        ("plain_s2", 2, false, 36, 20),
    ] {
        let ours = open(&format!("d2s_{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let onnx = open(&format!("onnx_d2s_{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let rest_hw = [h / (2 * scale), w / (2 * scale)];
        let mut inp = inputs((h * 7000 + w) as u64, h, w, rest_hw);
        inp.feats_block = 2;
        let count = if flow { 6 } else { 4 };
        let what = format!("{name} {w}x{h}");
        let (out, shape) = inp
            .run(&ours, count)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (want, want_shape) = inp
            .run(&onnx, count)
            .unwrap_or_else(|e| panic!("{what}, ONNX DepthToSpace: {e}"));
        let c = output_channels(flow) as i64;
        assert_eq!(
            shape,
            vec![1, c, (h / scale) as i64, (w / scale) as i64],
            "{what}"
        );
        assert_eq!(shape, want_shape, "{what}");
        // The feature channels are numbers (NaN would never compare equal).
        let plane = (h / scale) * (w / scale);
        assert!(
            out[6 * plane..14 * plane].iter().all(|v| v.is_finite()),
            "{what}"
        );
        assert_same(&what, &out, &want);
        assert_same(&format!("{what}, kernel"), &out, &inp.kernel(scale, flow));
    }
    // At scale 1 the output keeps the frames' size name, not the features' (half of it).
    let session = open("d2s_flow_s1").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(session.outputs()[0].shape, vec![1, 28, -1, -1]);
}

#[test]
fn wrong_shapes_of_features_before_their_depth_to_space_are_clear_errors() {
    init_runtime();
    let session = open("d2s_flow_s2_any").unwrap_or_else(|e| panic!("{e}"));
    let mut good = inputs(13, 8, 12, [2, 3]);
    good.feats_block = 2;
    let (out, _) = good.run(&session, 6).unwrap_or_else(|e| panic!("{e}"));
    assert_same("d2s_flow_s2_any", &out, &good.kernel(2, true));
    let fails = |inp: &Inputs, message: &str| {
        let err = inp.run(&session, 6).expect_err(message);
        assert!(err.message().contains(message), "{err}");
        assert!(
            err.message().contains("org.pixelspace:RifeBlockInput"),
            "{err}"
        );
    };
    // The features in the other form: [2, 4, 8, 12].
    let mut other_form = inputs(14, 8, 12, [2, 3]);
    other_form.feats_block = 1;
    fails(
        &other_form,
        "input feats must be [2, 16, H/2, W/2] with feats_block 2",
    );
    // 15 channels.
    let mut fifteen = inputs(15, 8, 12, [2, 3]);
    fifteen.feats_block = 2;
    fifteen.feats.truncate(2 * 15 * 4 * 6);
    fails(&fifteen, "got [2, 15, 4, 6]");
    // 7 rows: the features cannot be half of that.
    let mut odd = inputs(16, 7, 12, [2, 3]);
    odd.feats_block = 2;
    odd.feats.truncate(2 * 16 * 3 * 6);
    fails(
        &odd,
        "input img0 is [1, 3, 7, 12]: with feats_block 2 (feats [2, 16, H/2, W/2]) the frames' \
         height and width must be even",
    );

    for (name, message) in [
        (
            "bad_d2s_feats15",
            "input feats must be [2, 16, H/2, W/2] with feats_block 2",
        ),
        (
            "bad_d2s_odd",
            "input img0 is [1, 3, 7, 8]: with feats_block 2 (feats [2, 16, H/2, W/2]) the \
             frames' height and width must be even",
        ),
        ("bad_feats_block3", "feats_block must be 1"),
    ] {
        let err = open(name).expect_err(name);
        assert!(err.message().contains(message), "{name}: {err}");
    }
}

#[test]
fn wrong_shapes_are_clear_errors_when_run() {
    init_runtime();
    let session = open("flow_s2_any").unwrap_or_else(|e| panic!("{e}"));
    let good = inputs(3, 8, 12, [2, 3]);
    let (out, _) = good.run(&session, 6).unwrap_or_else(|e| panic!("{e}"));
    assert_same("flow_s2_any", &out, &good.kernel(2, true));
    let fails = |inp: &Inputs, message: &str| {
        let err = inp.run(&session, 6).expect_err(message);
        assert!(err.message().contains(message), "{err}");
        assert!(
            err.message().contains("org.pixelspace:RifeBlockInput"),
            "{err}"
        );
    };
    // Rest of the wrong size.
    let wrong_rest = inputs(4, 8, 12, [4, 6]);
    fails(
        &wrong_rest,
        "input rest must be [1, 9, H/(2*scale), W/(2*scale)] = [1, 9, 2, 3] for 12x8 frames \
         at scale 2, got [1, 9, 4, 6]",
    );
    // 10 rows: not a multiple of 2 x 2 (rest is half the block's size).
    let odd_height = inputs(5, 10, 12, [2, 3]);
    fails(
        &odd_height,
        "the frames are 10 pixels high; at scale 2 with rest that must be a non-zero multiple of 4",
    );
    // Features with 3 channels.
    let mut three = inputs(6, 8, 12, [2, 3]);
    three.feats.truncate(2 * 3 * 8 * 12);
    fails(&three, "input feats must be [2, 4, H, W]");
}

#[test]
fn wrong_models_are_refused_when_opened() {
    init_runtime();
    for (name, message) in [
        ("bad_feats3", "input feats must be [2, 4, H, W]"),
        (
            "bad_rest_size",
            "input rest must be [1, 9, H/(2*scale), W/(2*scale)] = [1, 9, 4, 4] for 16x16 frames",
        ),
        (
            "bad_height",
            "the frames are 18 pixels high; at scale 4 that must be a non-zero multiple of 4",
        ),
        ("bad_scale3", "scale must be 1, 2, 4, 8 or 16, got 3"),
        (
            "bad_no_scale",
            "the attribute scale (1, 2, 4, 8 or 16) is required",
        ),
        ("bad_flow_only", "takes 4 inputs"),
    ] {
        let err = open(name).expect_err(name);
        assert!(err.message().contains(message), "{name}: {err}");
        assert!(
            err.message().contains("org.pixelspace:RifeBlockInput"),
            "{name}: {err}"
        );
    }
}

#[test]
fn unknown_sizes_stay_dynamic_after_the_operator() {
    // The block's output size (H/2, W/2) has no name in the graph: the operator must name it,
    // or ONNX Runtime fixes it at -1 and the Pad after it at 1 (see shared/tests/warp_op.rs).
    init_runtime();
    for name in ["flow_s2", "flow_s2_padded", "flow_s1"] {
        let session = open(name).unwrap_or_else(|e| panic!("{e}"));
        let x = &session.outputs()[0];
        assert_eq!(x.shape, vec![1, 28, -1, -1], "{name}: output x: {x:?}");
    }
    // Optional inputs named "" are absent: 15 channels.
    let session = open("plain_s4_blank").unwrap_or_else(|e| panic!("{e}"));
    let x = &session.outputs()[0];
    assert_eq!(
        x.shape,
        vec![1, 15, -1, -1],
        "plain_s4_blank: output x: {x:?}"
    );
    let session = open("flow_s2_padded").unwrap_or_else(|e| panic!("{e}"));
    for (h, w) in [(8usize, 12usize), (16, 4)] {
        let inp = inputs(9, h, w, [h / 4, w / 4]);
        let (out, shape) = inp.run(&session, 6).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shape, vec![1, 28, (h / 2 + 2) as i64, (w / 2 + 2) as i64]);
        assert_eq!(out.len(), 28 * (h / 2 + 2) * (w / 2 + 2));
    }
}
