//! Our `org.pixelspace:GridSample` operator against ONNX Runtime's own GridSample, through the
//! runtime's sessions (one-node models from tests/data/grid_sample_models.py).

mod common;

use std::path::PathBuf;

use common::*;
use pixelspace_shared::runtime::{InputTensor, Provider, SessionCache};

/// The GridSample test models, generated once per test process.
fn models() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = temp_dir("grid-sample-models");
        run_python(&["tests/data/grid_sample_models.py", dir.to_str().unwrap()]);
        dir
    })
    .clone()
}

fn run(name: &str, x: &[f32], x_shape: &[i64], grid: &[f32], grid_shape: &[i64]) -> Vec<f32> {
    let session = SessionCache::global()
        .get(&models().join(format!("{name}.onnx")), Provider::Cpu, None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut out = Vec::new();
    let shape = session
        .run(
            &[
                InputTensor::new("X", x_shape, x),
                InputTensor::new("grid", grid_shape, grid),
            ],
            0,
            &mut out,
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        shape,
        vec![x_shape[0], x_shape[1], grid_shape[1], grid_shape[2]],
        "{name}"
    );
    out
}

struct Case {
    x: Vec<f32>,
    x_shape: [i64; 4],
    grid: Vec<f32>,
    grid_shape: [i64; 4],
}

/// Random input in [-1, 1], a random grid in [-spread, spread] with every 37th grid value NaN.
fn case(seed: u64, x_shape: [i64; 4], out_hw: [i64; 2], spread: f32) -> Case {
    let mut rng = Rng::new(seed);
    let len = |s: &[i64]| s.iter().product::<i64>() as usize;
    let grid_shape = [x_shape[0], out_hw[0], out_hw[1], 2];
    let x: Vec<f32> = (0..len(&x_shape)).map(|_| rng.unit() * 2.0 - 1.0).collect();
    let mut grid: Vec<f32> = (0..len(&grid_shape))
        .map(|_| (rng.unit() * 2.0 - 1.0) * spread)
        .collect();
    for i in (5..grid.len()).step_by(37) {
        grid[i] = f32::NAN;
    }
    Case {
        x,
        x_shape,
        grid,
        grid_shape,
    }
}

/// Ours and ONNX Runtime's outputs are numbers (NaN grid values included) within 1e-5.
fn compare(what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let mut max_diff = 0.0f32;
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            a.is_finite() && b.is_finite(),
            "{what}: value {i}: ours {a}, ONNX Runtime's {b}"
        );
        max_diff = max_diff.max((a - b).abs());
    }
    assert!(max_diff < 1e-5, "{what}: max diff {max_diff}");
}

#[test]
fn matches_onnx_runtime_grid_sample() {
    init_runtime();
    let cases = [
        case(1, [2, 3, 9, 14], [7, 11], 1.3),
        case(2, [1, 4, 1, 5], [3, 6], 1.5),
        // Enough output pixels for several threads.
        case(3, [1, 2, 150, 200], [300, 250], 1.1),
    ];
    for (k, c) in cases.iter().enumerate() {
        for padding in ["zeros", "border"] {
            for align in [0, 1] {
                let std = format!("std_{padding}_ac{align}");
                let custom = format!("custom_{padding}_ac{align}");
                let theirs = run(&std, &c.x, &c.x_shape, &c.grid, &c.grid_shape);
                let ours = run(&custom, &c.x, &c.x_shape, &c.grid, &c.grid_shape);
                compare(&format!("case {k}, {custom}"), &ours, &theirs);
            }
        }
        // Attribute defaults and the opset 20 name of the mode.
        let theirs = run("std_zeros_ac0", &c.x, &c.x_shape, &c.grid, &c.grid_shape);
        let ours = run("custom_defaults", &c.x, &c.x_shape, &c.grid, &c.grid_shape);
        compare(&format!("case {k}, custom_defaults"), &ours, &theirs);
        let theirs = run("std_border_ac1", &c.x, &c.x_shape, &c.grid, &c.grid_shape);
        let ours = run("custom_linear", &c.x, &c.x_shape, &c.grid, &c.grid_shape);
        compare(&format!("case {k}, custom_linear"), &ours, &theirs);
    }
}

#[test]
fn inputs_of_unknown_rank_are_checked_when_run() {
    init_runtime();
    let c = case(4, [1, 2, 6, 8], [5, 7], 1.2);
    let theirs = run("std_border_ac0", &c.x, &c.x_shape, &c.grid, &c.grid_shape);
    let session = SessionCache::global()
        .get(&models().join("custom_unranked.onnx"), Provider::Cpu, None)
        .unwrap_or_else(|e| panic!("{e}"));
    let shape_of = |s: &[i64]| s.iter().map(|&d| d as f32).collect::<Vec<f32>>();
    let (xs, gs) = (shape_of(&c.x_shape), shape_of(&c.grid_shape));
    let (xl, gl) = ([c.x.len() as i64], [c.grid.len() as i64]);
    let inputs = |gs: &'_ [f32]| {
        let mut out = Vec::new();
        session
            .run(
                &[
                    InputTensor::new("X_flat", &xl, &c.x),
                    InputTensor::new("x_shape", &[4], &xs),
                    InputTensor::new("grid_flat", &gl, &c.grid),
                    InputTensor::new("grid_shape", &[gs.len() as i64], gs),
                ],
                0,
                &mut out,
            )
            .map(|_| out)
    };
    let ours = inputs(&gs).unwrap_or_else(|e| panic!("{e}"));
    compare("custom_unranked", &ours, &theirs);
    // The same grid values as [1, 5, 7, 2] read as [1, 5, 14, 1] or as a 3-D [5, 7, 2].
    let err = inputs(&[1.0, 5.0, 14.0, 1.0]).unwrap_err();
    assert!(
        err.message()
            .contains("the grid's last dimension must be 2 (x, y), got 1"),
        "{err}"
    );
    let err = inputs(&[5.0, 7.0, 2.0]).unwrap_err();
    assert!(err.message().contains("grid must be 4-D"), "{err}");
}

#[test]
fn unsupported_attributes_and_shapes_are_clear_errors() {
    init_runtime();
    let cache = SessionCache::global();
    let open = |name: &str| cache.get(&models().join(format!("{name}.onnx")), Provider::Cpu, None);
    for (name, message) in [
        ("bad_nearest", "mode 'nearest' is not supported"),
        ("bad_bicubic", "mode 'bicubic' is not supported"),
        (
            "bad_reflection",
            "padding_mode 'reflection' is not supported",
        ),
        (
            "bad_5d",
            "input X must be 4-D [N, C, H, W], got 5 dimensions",
        ),
        (
            "bad_grid3",
            "the grid's last dimension must be 2 (x, y), got 3",
        ),
    ] {
        let err = open(name).expect_err(name);
        assert!(err.message().contains(message), "{name}: {err}");
        assert!(
            err.message().contains("org.pixelspace:GridSample"),
            "{name}: {err}"
        );
    }
    // Unknown grid sizes: the session opens; a grid ending in 3 fails when run.
    let session = open("bad_grid_dynamic").unwrap_or_else(|e| panic!("{e}"));
    let x = vec![0.5f32; 2 * 3 * 4];
    let grid = vec![0.0f32; 2 * 2 * 2 * 3];
    let mut out = Vec::new();
    let err = session
        .run(
            &[
                InputTensor::new("X", &[2, 1, 3, 4], &x),
                InputTensor::new("grid", &[2, 2, 2, 3], &grid),
            ],
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(
        err.message()
            .contains("the grid's last dimension must be 2 (x, y), got 3"),
        "{err}"
    );
    // A model without the domain still opens and runs (the conv test model).
    let conv = cache.get(&model("conv1x1"), Provider::Cpu, None).unwrap();
    conv.run(
        &[InputTensor::new("input", &[1, 3, 2, 2], &[0.25; 12])],
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), 12);
}

#[test]
fn unknown_sizes_stay_dynamic_after_the_operator() {
    // ONNX Runtime writes an output dimension the operator leaves unnamed as its value: an
    // unknown size would become a fixed size of -1, and the shapes inferred after it wrong (a
    // converted RIFE model's outputs then claimed a fixed 32x32). The model's grid has sizes
    // ONNX cannot name; its output must stay dynamic and the model must run at any size.
    init_runtime();
    let session = SessionCache::global()
        .get(
            &models().join("custom_unnamed_sizes.onnx"),
            Provider::Cpu,
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let y = &session.outputs()[0];
    assert_eq!(y.shape, vec![-1, -1, -1, -1], "output Y: {y:?}");
    for (h, w) in [(3i64, 5i64), (6, 4)] {
        let c = case(5, [1, 2, 7, 9], [h, w], 1.0);
        let mut out = Vec::new();
        let shape = session
            .run(
                &[
                    InputTensor::new("X", &c.x_shape, &c.x),
                    InputTensor::new("grid_half", &c.grid_shape, &c.grid),
                ],
                0,
                &mut out,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(shape, vec![1, 2, 2 * h + 2, 2 * w + 2]);
        assert!(out.iter().all(|v| v.is_finite()));
    }
}
