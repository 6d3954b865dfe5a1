//! The inference pipeline end to end on tiny models: arithmetic, padding, tiling, apply modes,
//! colour handling, and the errors a wrong manifest or request gives.

mod common;

use std::path::PathBuf;
use std::sync::Mutex;

use common::*;
use pixelspace_shared::colour::{ColourSpace, linear_to_srgb, srgb_to_linear};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, ImageView, ImageViewMut, PixelDepth};
use pixelspace_shared::manifest::{Apply, Fit, ImageOutput, Input, Manifest, Size, Tiling};
use pixelspace_shared::pipeline::{CANCELLED, InferencePipeline, InputImage, RenderRequest};
use pixelspace_shared::runtime::Provider;
use pixelspace_shared::tensor::ChannelOrder;

/// A packed host buffer.
struct Frame {
    bytes: Vec<u8>,
    bounds: Rect,
    depth: PixelDepth,
}

impl Frame {
    fn float(bounds: Rect, f: impl Fn(i32, i32) -> [f32; 4]) -> Frame {
        let mut bytes = Vec::with_capacity(16 * bounds.area());
        for y in bounds.y1..bounds.y2 {
            for x in bounds.x1..bounds.x2 {
                for v in f(x, y) {
                    bytes.extend_from_slice(&v.to_ne_bytes());
                }
            }
        }
        Frame {
            bytes,
            bounds,
            depth: PixelDepth::Float,
        }
    }
    fn byte(bounds: Rect, f: impl Fn(i32, i32) -> [u8; 4]) -> Frame {
        let mut bytes = Vec::with_capacity(4 * bounds.area());
        for y in bounds.y1..bounds.y2 {
            for x in bounds.x1..bounds.x2 {
                bytes.extend_from_slice(&f(x, y));
            }
        }
        Frame {
            bytes,
            bounds,
            depth: PixelDepth::Byte,
        }
    }
    fn filled(bounds: Rect, depth: PixelDepth, v: f32) -> Frame {
        match depth {
            PixelDepth::Float => Frame::float(bounds, |_, _| [v; 4]),
            PixelDepth::Byte => Frame::byte(bounds, |_, _| [(v * 255.0) as u8; 4]),
            _ => unimplemented!(),
        }
    }
    fn row_bytes(&self) -> isize {
        (self.bounds.width() as usize * 4 * self.depth.bytes_per_component()) as isize
    }
    fn view(&self) -> ImageView<'_> {
        ImageView::new(
            &self.bytes,
            0,
            self.row_bytes(),
            self.bounds,
            self.depth,
            Components::Rgba,
        )
        .unwrap()
    }
    fn view_mut(&mut self) -> ImageViewMut<'_> {
        let rb = self.row_bytes();
        ImageViewMut::new(
            &mut self.bytes,
            0,
            rb,
            self.bounds,
            self.depth,
            Components::Rgba,
        )
        .unwrap()
    }
    fn pixel(&self, x: i32, y: i32) -> [f32; 4] {
        self.view().pixel_rgba(x, y)
    }
}

fn pattern(x: i32, y: i32) -> [f32; 4] {
    let h = ((x * 7919 + y * 104_729) % 1000) as f32 / 1000.0;
    [
        h,
        (x as f32 * 0.031).sin() * 0.5 + 0.5,
        (y as f32 * 0.047).cos() * 0.5 + 0.5,
        0.25 + 0.5 * h,
    ]
}

fn pipeline(name: &str) -> InferencePipeline {
    init_runtime();
    let m = Manifest::for_model(&model(name)).unwrap();
    InferencePipeline::new(m, model(name), Provider::Cpu).unwrap()
}

fn pipeline_with(
    name: &str,
    edit: impl FnOnce(&mut Manifest),
) -> pixelspace_shared::error::Result<InferencePipeline> {
    init_runtime();
    let mut m = Manifest::for_model(&model(name)).unwrap();
    edit(&mut m);
    InferencePipeline::new(m, model(name), Provider::Cpu)
}

/// The first output, an image output in these models.
fn out0(m: &mut Manifest) -> &mut ImageOutput {
    m.outputs[0].as_image_mut().expect("image output")
}

struct Run {
    progress: Mutex<Vec<f64>>,
}

fn render(
    p: &InferencePipeline,
    src: &Frame,
    window: Rect,
    colour: ColourSpace,
    out: &mut Frame,
) -> pixelspace_shared::error::Result<Vec<f64>> {
    let run = Run {
        progress: Mutex::new(Vec::new()),
    };
    let progress = |f: f64| run.progress.lock().unwrap().push(f);
    let not_cancelled = || false;
    let req = RenderRequest {
        inputs: vec![InputImage {
            clip: "Source".into(),
            frame_offset: 0,
            image: src.view(),
        }],
        window,
        frame_colour: colour,
        is_cancelled: &not_cancelled,
        progress: &progress,
    };
    let mut view = out.view_mut();
    p.render(&req, &mut view)?;
    Ok(run.progress.into_inner().unwrap())
}

fn conv(w: &[Vec<f32>], b: &[f32], px: [f32; 4]) -> Vec<f32> {
    w.iter()
        .zip(b)
        .map(|(row, bias)| bias + row.iter().zip(&px[..3]).map(|(a, v)| a * v).sum::<f32>())
        .collect()
}

fn assert_close(a: f32, e: f32, tol: f32, what: &str) {
    assert!(
        (a - e).abs() <= tol,
        "{what}: got {a}, expected {e} (tolerance {tol})"
    );
}

#[test]
fn conv1x1_replace_matches_the_weights() {
    let p = pipeline("conv1x1");
    assert_eq!(p.provider_in_use(), Provider::Cpu);
    assert_eq!(p.required_inputs(), vec![("Source".to_string(), 0)]);
    let (w, b) = weights("conv1x1");
    let frame = Rect::new(0, 0, 37, 23);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, -9.0);
    let progress = render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    assert_eq!(progress.last(), Some(&1.0));
    for (x, y) in frame.pixels() {
        let s = pattern(x, y);
        let e = conv(&w, &b, s);
        let o = out.pixel(x, y);
        for c in 0..3 {
            assert_close(o[c], e[c], 1e-5, &format!("({x},{y}) channel {c}"));
        }
        assert_eq!(o[3], s[3], "alpha comes from the source");
    }
}

#[test]
fn linear_frames_are_converted_to_the_models_srgb_and_back() {
    let p = pipeline("conv1x1");
    let (w, b) = weights("conv1x1");
    let frame = Rect::new(-3, 5, 20, 17);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    render(&p, &src, frame, ColourSpace::Linear, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let s = pattern(x, y);
        let enc = [
            linear_to_srgb(s[0]),
            linear_to_srgb(s[1]),
            linear_to_srgb(s[2]),
            s[3],
        ];
        let e = conv(&w, &b, enc);
        let o = out.pixel(x, y);
        for c in 0..3 {
            assert_close(
                o[c],
                srgb_to_linear(e[c]),
                1e-5,
                &format!("({x},{y}) channel {c}"),
            );
        }
    }
}

#[test]
fn pad_to_multiple_model_works_on_odd_sizes() {
    let p = pipeline("conv_pad8");
    let (w, b) = weights("conv_pad8");
    for (wd, ht) in [(37, 23), (8, 8), (1, 1), (17, 9)] {
        let frame = Rect::new(2, 3, 2 + wd, 3 + ht);
        let src = Frame::float(frame, pattern);
        let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
        render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
        for (x, y) in frame.pixels() {
            let e = conv(&w, &b, pattern(x, y));
            let o = out.pixel(x, y);
            for c in 0..3 {
                assert_close(
                    o[c],
                    e[c],
                    1e-5,
                    &format!("{wd}x{ht} ({x},{y}) channel {c}"),
                );
            }
        }
    }
}

#[test]
fn tiled_equals_untiled_for_a_per_pixel_model() {
    let frame = Rect::new(0, 0, 70, 45);
    let src = Frame::float(frame, pattern);
    let untiled = pipeline("conv_pad8");
    let tiled = pipeline_with("conv_pad8", |m| {
        m.tiling = Some(Tiling {
            tile: 24,
            overlap: 6,
        })
    })
    .unwrap();
    let mut a = Frame::filled(frame, PixelDepth::Float, 0.0);
    let mut b = Frame::filled(frame, PixelDepth::Float, 0.0);
    let pa = render(&untiled, &src, frame, ColourSpace::Srgb, &mut a).unwrap();
    let pb = render(&tiled, &src, frame, ColourSpace::Srgb, &mut b).unwrap();
    assert_eq!(pa, vec![1.0]);
    assert!(pb.len() > 4, "expected several tiles, progress {pb:?}");
    assert!(
        pb.windows(2).all(|w| w[0] < w[1]) && *pb.last().unwrap() == 1.0,
        "{pb:?}"
    );
    let mut max = 0.0f32;
    for (x, y) in frame.pixels() {
        let (pa, pb) = (a.pixel(x, y), b.pixel(x, y));
        for c in 0..4 {
            max = max.max((pa[c] - pb[c]).abs());
        }
    }
    assert!(max <= 1e-6, "tiled differs from untiled by {max}");
}

#[test]
fn only_the_render_window_is_written() {
    let p = pipeline("conv1x1");
    let (w, b) = weights("conv1x1");
    let frame = Rect::new(0, 0, 30, 20);
    let window = Rect::new(5, 4, 17, 13);
    assert_eq!(p.region_of_interest(window, frame), window, "context 0");
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, -7.0);
    render(&p, &src, window, ColourSpace::Srgb, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let o = out.pixel(x, y);
        if window.contains(x, y) {
            let e = conv(&w, &b, pattern(x, y));
            assert_close(o[0], e[0], 1e-5, "inside the window");
        } else {
            assert_eq!(o, [-7.0; 4], "({x},{y}) outside the window was written");
        }
    }
}

#[test]
fn region_of_interest_follows_the_manifest() {
    let frame = Rect::new(0, 0, 100, 80);
    let window = Rect::new(2, 10, 40, 30);
    let p = pipeline_with("conv1x1", |m| m.context = Some(4)).unwrap();
    assert_eq!(p.region_of_interest(window, frame), Rect::new(0, 6, 44, 34));
    let p = pipeline_with("conv1x1", |m| m.context = None).unwrap();
    assert_eq!(p.region_of_interest(window, frame), frame);
    let p = pipeline("fixed256");
    assert_eq!(p.region_of_interest(window, frame), frame);
}

#[test]
fn alpha_output_replaces_alpha_only() {
    let p = pipeline("alpha_out");
    let (w, b) = weights("alpha_out");
    let frame = Rect::new(0, 0, 19, 11);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let s = pattern(x, y);
        let o = out.pixel(x, y);
        assert_eq!(&o[..3], &s[..3], "colour passes through at ({x},{y})");
        assert_close(o[3], conv(&w, &b, s)[0], 1e-5, "alpha");
    }
}

#[test]
fn residual_output_is_added_to_the_models_input() {
    let p = pipeline("residual");
    let (w, b) = weights("residual");
    let frame = Rect::new(0, 0, 13, 9);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    // Model and frame are both linear: no conversion.
    render(&p, &src, frame, ColourSpace::Linear, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let s = pattern(x, y);
        let d = conv(&w, &b, s);
        let o = out.pixel(x, y);
        for c in 0..3 {
            assert_close(o[c], s[c] + d[c], 1e-5, "residual");
        }
        assert_eq!(o[3], s[3]);
    }
}

#[test]
fn change_keeps_hdr_values_the_model_cannot_see() {
    let p = pipeline_with("conv1x1", |m| out0(m).apply = Apply::Change).unwrap();
    let (w, b) = weights("conv1x1");
    let frame = Rect::new(0, 0, 9, 7);
    let hdr = |x: i32, y: i32| {
        let mut px = pattern(x, y);
        if (x + y) % 3 == 0 {
            px[0] = 5.0 + x as f32; // far above 1
        }
        px
    };
    let src = Frame::float(frame, hdr);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let s = hdr(x, y);
        let clamped = [
            s[0].clamp(0.0, 1.0),
            s[1].clamp(0.0, 1.0),
            s[2].clamp(0.0, 1.0),
            s[3],
        ];
        let e = conv(&w, &b, clamped);
        let o = out.pixel(x, y);
        for c in 0..3 {
            assert_close(
                o[c],
                s[c] + (e[c] - clamped[c]),
                1e-5,
                &format!("({x},{y}) channel {c}"),
            );
        }
        if s[0] > 1.0 {
            assert!(o[0] > 4.0, "HDR value {} survived as {}", s[0], o[0]);
        }
    }
}

#[test]
fn fixed_size_model_is_resized_in_and_out() {
    let p = pipeline("fixed256");
    let (w, b) = weights("fixed256");
    let frame = Rect::new(0, 0, 100, 60);
    // A constant frame stays constant through both resizes, so the result is exact.
    let colour = [0.2, 0.6, 0.9, 1.0];
    let src = Frame::float(frame, |_, _| colour);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    let e = conv(&w, &b, colour);
    for (x, y) in frame.pixels() {
        let o = out.pixel(x, y);
        for c in 0..3 {
            assert_close(o[c], e[c], 1e-5, "constant through resize");
        }
    }
    // A smooth ramp survives the round trip closely.
    let ramp = |x: i32, y: i32| [x as f32 / 100.0, y as f32 / 60.0, 0.5, 1.0];
    let src = Frame::float(frame, ramp);
    render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    for (x, y) in frame.grow(-2).pixels() {
        let e = conv(&w, &b, ramp(x, y));
        assert_close(out.pixel(x, y)[0], e[0], 0.02, "ramp through resize");
    }
}

#[test]
fn byte_frames_round_trip_through_the_model() {
    let p = pipeline("conv1x1");
    let (w, b) = weights("conv1x1");
    let frame = Rect::new(0, 0, 16, 16);
    let px = |x: i32, y: i32| [(x * 16) as u8, (y * 16) as u8, ((x + y) * 8) as u8, 255];
    let src = Frame::byte(frame, px);
    let mut out = Frame::filled(frame, PixelDepth::Byte, 0.0);
    render(&p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        let s = px(x, y).map(|v| v as f32 / 255.0);
        let e = conv(&w, &b, s);
        let o = out.pixel(x, y);
        for c in 0..3 {
            // Quantised to the nearest of 256 levels (a value on a .5 boundary may go either way).
            assert_close(
                o[c],
                e[c].clamp(0.0, 1.0),
                0.5 / 255.0 + 1e-5,
                "byte output",
            );
            assert_eq!((o[c] * 255.0).round() / 255.0, o[c], "byte levels");
        }
    }
}

#[test]
fn non_finite_host_values_never_reach_the_output() {
    let p = pipeline("conv1x1");
    let frame = Rect::new(0, 0, 8, 8);
    let src = Frame::float(frame, |x, y| match (x + y) % 3 {
        0 => [f32::NAN, 0.5, 0.5, 1.0],
        1 => [f32::INFINITY, f32::NEG_INFINITY, 0.5, 1.0],
        _ => pattern(x, y),
    });
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    render(&p, &src, frame, ColourSpace::Linear, &mut out).unwrap();
    for (x, y) in frame.pixels() {
        assert!(
            out.pixel(x, y).iter().all(|v| v.is_finite()),
            "({x},{y}) {:?}",
            out.pixel(x, y)
        );
    }
}

#[test]
fn cancelled_render_writes_nothing() {
    let p = pipeline_with("conv1x1", |m| {
        m.tiling = Some(Tiling {
            tile: 16,
            overlap: 2,
        })
    })
    .unwrap();
    let frame = Rect::new(0, 0, 40, 40);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, 3.0);
    let calls = Mutex::new(0);
    let cancel_after_two = || {
        let mut c = calls.lock().unwrap();
        *c += 1;
        *c > 2
    };
    let progress = |_f: f64| {};
    let req = RenderRequest {
        inputs: vec![InputImage {
            clip: "Source".into(),
            frame_offset: 0,
            image: src.view(),
        }],
        window: frame,
        frame_colour: ColourSpace::Srgb,
        is_cancelled: &cancel_after_two,
        progress: &progress,
    };
    let err = p.render(&req, &mut out.view_mut()).unwrap_err();
    assert_eq!(err.message(), CANCELLED);
    assert!(frame.pixels().all(|(x, y)| out.pixel(x, y) == [3.0; 4]));
}

#[test]
fn missing_clip_in_the_request_is_an_error() {
    let p = pipeline("conv1x1");
    let frame = Rect::new(0, 0, 4, 4);
    let src = Frame::float(frame, pattern);
    let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
    let no = || false;
    let progress = |_f: f64| {};
    let req = RenderRequest {
        inputs: vec![InputImage {
            clip: "Mask".into(),
            frame_offset: 0,
            image: src.view(),
        }],
        window: frame,
        frame_colour: ColourSpace::Srgb,
        is_cancelled: &no,
        progress: &progress,
    };
    let err = p.render(&req, &mut out.view_mut()).unwrap_err();
    assert!(
        err.message()
            .contains("no image from clip 'Source' at frame offset 0"),
        "{err}"
    );
}

fn image_input_mut(m: &mut Manifest) -> &mut pixelspace_shared::manifest::ImageInput {
    match &mut m.inputs[0] {
        Input::Image(i) => i,
        Input::Constant(_) => panic!("first input is an image"),
    }
}

#[test]
fn a_manifest_that_does_not_fit_the_model_is_a_clear_error() {
    type Edit = Box<dyn FnOnce(&mut Manifest)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "conv1x1",
            Box::new(|m| image_input_mut(m).name = "image".into()),
            "model input 'input' is not described in the manifest",
        ),
        (
            "conv1x1",
            Box::new(|m| {
                let mut extra = m.inputs[0].clone();
                if let Input::Image(i) = &mut extra {
                    i.name = "second".into();
                }
                m.inputs.push(extra);
            }),
            "the model has no input 'second'; its inputs are 'input'",
        ),
        (
            "conv1x1",
            Box::new(|m| image_input_mut(m).channels = ChannelOrder::Rgba),
            "input 'input' has 3 channels",
        ),
        (
            "conv1x1",
            Box::new(|m| out0(m).name = "out".into()),
            "the model has no output 'out'; its outputs are 'output'",
        ),
        (
            "conv1x1",
            Box::new(|m| out0(m).channels = ChannelOrder::Alpha),
            "output 'output' has 3 channels",
        ),
        (
            "conv1x1",
            Box::new(|m| {
                m.size = Size::Fixed {
                    width: 64,
                    height: 64,
                    fit: Fit::Stretch,
                }
            }),
            "",
        ),
        (
            "fixed256",
            Box::new(|m| m.size = Size::Dynamic { multiple: 1 }),
            "has a fixed size",
        ),
        (
            "fixed256",
            Box::new(|m| {
                m.size = Size::Fixed {
                    width: 128,
                    height: 256,
                    fit: Fit::Stretch,
                }
            }),
            "fixed size is 128x256",
        ),
        (
            "conv1x1",
            Box::new(|m| m.sha256 = Some("ab".repeat(32))),
            "does not match its manifest",
        ),
        (
            "conv1x1",
            Box::new(|m| {
                m.inputs.push(Input::Constant(
                    pixelspace_shared::manifest::ConstantInput {
                        name: "timestep".into(),
                        value: vec![0.5],
                        role: None,
                    },
                ))
            }),
            "the model has no input 'timestep'",
        ),
    ];
    for (name, edit, needle) in cases {
        match pipeline_with(name, edit) {
            Ok(_) => assert!(
                needle.is_empty(),
                "{name}: expected an error containing '{needle}'"
            ),
            Err(e) => {
                assert!(!needle.is_empty(), "{name}: unexpected error {e}");
                assert!(
                    e.message().contains(needle),
                    "{name}: expected '{needle}' in: {e}"
                );
            }
        }
    }
}

#[test]
fn random_bytes_as_a_model_are_a_clear_error() {
    init_runtime();
    let dir = temp_dir("pipeline-garbage");
    let model_path: PathBuf = dir.join("conv1x1.onnx");
    let mut rng = Rng::new(11);
    let bytes: Vec<u8> = (0..2048).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(&model_path, &bytes).unwrap();
    let mut m = Manifest::for_model(&model("conv1x1")).unwrap();
    m.sha256 = Some(pixelspace_shared::manifest::sha256_file(&model_path).unwrap());
    let err = InferencePipeline::new(m, model_path, Provider::Cpu).unwrap_err();
    assert!(err.message().starts_with("cannot load model "), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn renders_in_parallel_share_one_pipeline() {
    let p = pipeline("conv_pad8");
    let (w, b) = weights("conv_pad8");
    std::thread::scope(|s| {
        for t in 0..4 {
            let p = &p;
            let (w, b) = (&w, &b);
            s.spawn(move || {
                let frame = Rect::new(t, 0, 21 + t * 3, 13);
                let src = Frame::float(frame, pattern);
                let mut out = Frame::filled(frame, PixelDepth::Float, 0.0);
                render(p, &src, frame, ColourSpace::Srgb, &mut out).unwrap();
                for (x, y) in frame.pixels() {
                    assert_close(
                        out.pixel(x, y)[1],
                        conv(w, b, pattern(x, y))[1],
                        1e-5,
                        "parallel",
                    );
                }
            });
        }
    });
}
