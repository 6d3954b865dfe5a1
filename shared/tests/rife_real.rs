//! The converted RIFE models on real photographs: `rife_motion.onnx`, whose blocks' inputs are
//! built by the plugin's own operator (org.pixelspace:RifeBlockInput), gives the same flows and
//! fusion mask as `rife.onnx`, which builds them from standard ONNX ops (and whose parity with
//! the original PyTorch package models/convert/rife_parity.py measures).
//!
//! Needs `PIXELSPACE_MODELS_DIR` with rife and rife-motion (as `pixelspace models fetch
//! --defaults` or models/convert/rife.py writes them) and python3 with scikit-image for the
//! photos; fails with instructions when either is missing.

mod common;

use common::*;
use pixelspace_shared::runtime::{InputTensor, Provider, SessionCache};

/// A `w` x `h` crop at (x0, y0) of an RGB photo as a [1, 3, h, w] tensor in [0, 1].
fn crop_nchw(
    photo: &(usize, usize, Vec<u8>),
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
) -> Vec<f32> {
    let (pw, ph, bytes) = photo;
    assert!(x0 + w <= *pw && y0 + h <= *ph, "crop outside the photo");
    let mut out = vec![0.0f32; 3 * w * h];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                out[(c * h + y) * w + x] = bytes[((y0 + y) * pw + x0 + x) * 3 + c] as f32 / 255.0;
            }
        }
    }
    out
}

/// The model's `flow` and `mask` outputs for frames `img0`, `img1` of size `w` x `h`.
fn motion(
    stem: &str,
    img0: &[f32],
    img1: &[f32],
    w: usize,
    h: usize,
    t: f32,
) -> (Vec<f32>, Vec<f32>) {
    let session = SessionCache::global()
        .get(&real_model_path(stem), Provider::Cpu, None)
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    let names: Vec<String> = session.outputs().iter().map(|o| o.name.clone()).collect();
    let output = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{stem} has no output {name}: {names:?}"))
    };
    let shape = [1, 3, h as i64, w as i64];
    let timestep = [t];
    let inputs = [
        InputTensor::new("img0", &shape, img0),
        InputTensor::new("img1", &shape, img1),
        InputTensor::new("timestep", &[1, 1, 1, 1], &timestep),
    ];
    let (mut flow, mut mask) = (Vec::new(), Vec::new());
    let flow_shape = session
        .run(&inputs, output("flow"), &mut flow)
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    assert_eq!(flow_shape, vec![1, 4, h as i64, w as i64], "{stem} flow");
    session
        .run(&inputs, output("mask"), &mut mask)
        .unwrap_or_else(|e| panic!("{stem}: {e}"));
    (flow, mask)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            assert!(x.is_finite() && y.is_finite(), "non-finite value: {x} {y}");
            (x - y).abs()
        })
        .fold(0.0, f32::max)
}

#[test]
fn rife_motion_with_its_own_operator_matches_the_portable_rife() {
    init_runtime();
    let astronaut = skimage_photo("astronaut");
    let coffee = skimage_photo("coffee");
    // (photo, crop, second frame's shift, timestep): real photos moved by real shifts.
    let cases = [
        (&astronaut, (20, 40, 448, 256), (9i64, -5i64), 0.5f32),
        (&astronaut, (24, 20, 384, 448), (-6, 3), 0.3),
        (&coffee, (60, 72, 448, 256), (14, 6), 0.7),
    ];
    for (photo, (x0, y0, w, h), (dx, dy), t) in cases {
        let img0 = crop_nchw(photo, x0, y0, w, h);
        let img1 = crop_nchw(
            photo,
            (x0 as i64 + dx) as usize,
            (y0 as i64 + dy) as usize,
            w,
            h,
        );
        let (flow_own, mask_own) = motion("rife_motion", &img0, &img1, w, h, t);
        let (flow_std, mask_std) = motion("rife", &img0, &img1, w, h, t);
        let (flow_diff, mask_diff) = (
            max_abs_diff(&flow_own, &flow_std),
            max_abs_diff(&mask_own, &mask_std),
        );
        // The flow must be the real motion, not merely the same: img1 is the photo moved by
        // -shift, so the frame at t reads img1 at about -(1 - t) * shift (median over the inner
        // half; RIFE splits the motion by t only roughly).
        let median = |c: usize| {
            let mut v: Vec<f32> = (h / 4..3 * h / 4)
                .flat_map(|y| (w / 4..3 * w / 4).map(move |x| (y, x)))
                .map(|(y, x)| flow_own[(c * h + y) * w + x])
                .collect();
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        };
        let (fx, fy) = (median(2), median(3));
        println!(
            "{w}x{h} shift ({dx}, {dy}) t={t}: flow diff {flow_diff:.2e} px, mask diff \
             {mask_diff:.2e}; median flow to img1 ({fx:.2}, {fy:.2})"
        );
        assert!(flow_diff < 1e-2, "flow differs by {flow_diff} px");
        assert!(mask_diff < 1e-3, "mask differs by {mask_diff}");
        let expect = (-(1.0 - t) * dx as f32, -(1.0 - t) * dy as f32);
        assert!(
            (fx - expect.0).abs() < 0.5 && (fy - expect.1).abs() < 0.5,
            "median flow to img1 ({fx}, {fy}), expected {expect:?}"
        );
    }
}
