//! ONNX Runtime loading, providers and the shared session cache against real tiny models.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use pixelspace_shared::runtime::{self, InputTensor, Provider, SessionCache};

fn conv_reference(w: &[Vec<f32>], b: &[f32], x: &[f32], hw: usize) -> Vec<f32> {
    let cin = w[0].len();
    let mut y = vec![0.0; w.len() * hw];
    for (o, row) in w.iter().enumerate() {
        for p in 0..hw {
            let mut acc = b[o];
            for c in 0..cin {
                acc += row[c] * x[c * hw + p];
            }
            y[o * hw + p] = acc;
        }
    }
    y
}

#[test]
fn loads_the_runtime_and_reports_its_version() {
    let info = init_runtime();
    assert_eq!(info.version, "1.32.0", "build info: {}", info.build_info);
    assert!(info.library.is_absolute());
    assert_eq!(runtime::info().unwrap(), info);
    // A second call with another existing file keeps (and reports) the library in use.
    let again = runtime::init(&model("conv1x1")).unwrap();
    assert_eq!(again.library, info.library);
    assert!(
        runtime::library_providers()
            .unwrap()
            .contains(&Provider::Cpu)
    );
}

#[test]
fn conv1x1_arithmetic_matches_the_weights() {
    init_runtime();
    let session = SessionCache::global()
        .get(&model("conv1x1"), Provider::Cpu, None)
        .unwrap();
    assert_eq!(session.provider(), Provider::Cpu);
    let input = &session.inputs()[0];
    assert_eq!(input.name, "input");
    assert_eq!(input.shape, vec![-1, 3, -1, -1]);
    assert_eq!(
        input.element_type,
        Some(ort::value::TensorElementType::Float32)
    );
    assert_eq!(session.outputs()[0].name, "output");

    let (w, b) = weights("conv1x1");
    let (h, wd) = (5usize, 7usize);
    let mut rng = Rng::new(7);
    let x: Vec<f32> = (0..3 * h * wd).map(|_| rng.unit() * 1.5 - 0.25).collect();
    let shape = [1, 3, h as i64, wd as i64];
    let mut out = Vec::new();
    let out_shape = session
        .run(
            &[InputTensor {
                name: "input",
                shape: &shape,
                data: &x,
            }],
            0,
            &mut out,
        )
        .unwrap();
    assert_eq!(out_shape, shape.to_vec());
    let expected = conv_reference(&w, &b, &x, h * wd);
    for (a, e) in out.iter().zip(&expected) {
        assert!((a - e).abs() < 1e-5, "{a} vs {e}");
    }
}

#[test]
fn sessions_are_built_once_and_shared_across_threads() {
    init_runtime();
    let cache = SessionCache::global();
    let a = cache.get(&model("conv1x1"), Provider::Cpu, None).unwrap();
    // Same file through another spelling of its path, and a TensorRT-only shape that CPU ignores.
    let other_path = test_data().join(".").join("conv1x1.onnx");
    let b = cache
        .get(
            &other_path,
            Provider::Cpu,
            Some(&[("input", &[1i64, 3, 8, 8][..])]),
        )
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));

    let (w, bias) = weights("conv1x1");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = a.clone();
            let (w, bias) = (w.clone(), bias.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(100 + t);
                let mut out = Vec::new();
                for _ in 0..10 {
                    let x: Vec<f32> = (0..3 * 16).map(|_| rng.unit()).collect();
                    s.run(
                        &[InputTensor {
                            name: "input",
                            shape: &[1, 3, 4, 4],
                            data: &x,
                        }],
                        0,
                        &mut out,
                    )
                    .unwrap();
                    let e = conv_reference(&w, &bias, &x, 16);
                    assert!(out.iter().zip(&e).all(|(a, b)| (a - b).abs() < 1e-5));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn auto_reports_the_provider_it_really_uses() {
    init_runtime();
    let s = SessionCache::global()
        .get(&model("conv1x1"), Provider::Auto, None)
        .unwrap();
    assert_ne!(s.provider(), Provider::Auto);
    if !cfg!(feature = "cuda") {
        assert_eq!(s.provider(), Provider::Cpu);
        assert!(s.fallback_reason().is_none());
    } else if s.provider() == Provider::Cpu {
        // Built with CUDA but the CPU-only runtime (or no GPU): the fallback is reported.
        assert!(s.fallback_reason().unwrap().contains("CUDA was not used"));
    }
}

#[test]
fn gpu_providers_without_support_are_clear_errors() {
    init_runtime();
    for p in [Provider::Cuda, Provider::TensorRt] {
        match SessionCache::global().get(&model("conv1x1"), p, None) {
            Ok(s) => assert_eq!(s.provider(), p, "explicit {p} must never run elsewhere"),
            Err(e) => {
                eprintln!("{p}: {e}");
                if !p.compiled_in() {
                    assert!(e.message().starts_with("this build has no "), "{e}");
                } else {
                    assert!(e.message().contains(p.name()), "{e}");
                }
            }
        }
    }
}

#[test]
fn missing_and_garbage_models_are_clear_errors() {
    init_runtime();
    let cache = SessionCache::global();
    let err = cache
        .get(Path::new("/no/such/model.onnx"), Provider::Cpu, None)
        .unwrap_err();
    assert_eq!(err.message(), "model file not found: /no/such/model.onnx");

    let dir = temp_dir("garbage-model");
    let mut rng = Rng::new(3);
    for (i, len) in [0usize, 1, 17, 4096].into_iter().enumerate() {
        let path = dir.join(format!("garbage{i}.onnx"));
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        let err = cache.get(&path, Provider::Cpu, None).unwrap_err();
        assert!(err.message().starts_with("cannot load model "), "{err}");
        assert!(err.message().contains(&format!("garbage{i}.onnx")), "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pad8_model_really_needs_multiples_of_8() {
    init_runtime();
    let s = SessionCache::global()
        .get(&model("conv_pad8"), Provider::Cpu, None)
        .unwrap();
    let x = vec![0.5f32; 3 * 13 * 17];
    let mut out = Vec::new();
    let err = s
        .run(
            &[InputTensor {
                name: "input",
                shape: &[1, 3, 13, 17],
                data: &x,
            }],
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(err.message().starts_with("running model "), "{err}");
    let x = vec![0.5f32; 3 * 16 * 24];
    s.run(
        &[InputTensor {
            name: "input",
            shape: &[1, 3, 16, 24],
            data: &x,
        }],
        0,
        &mut out,
    )
    .unwrap();
    assert_eq!(out.len(), x.len());
}

#[test]
fn bad_run_arguments_are_errors() {
    init_runtime();
    let s = SessionCache::global()
        .get(&model("conv1x1"), Provider::Cpu, None)
        .unwrap();
    let mut out = Vec::new();
    let x = vec![0.0f32; 10];
    let e = s
        .run(
            &[InputTensor {
                name: "input",
                shape: &[1, 3, 2, 2],
                data: &x,
            }],
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(e.message().contains("does not match 10 values"), "{e}");
    let e = s
        .run(
            &[InputTensor {
                name: "nope",
                shape: &[10],
                data: &x,
            }],
            0,
            &mut out,
        )
        .unwrap_err();
    assert!(e.message().contains("no input named 'nope'"), "{e}");
    let e = s.run(&[], 3, &mut out).unwrap_err();
    assert!(e.message().contains("output 3 does not exist"), "{e}");
}
