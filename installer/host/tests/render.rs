//! Rendering through the host with the test effect (tests/fixtures/testfx.cpp):
//! depths, render scale, row order and padding, threads and tiles, params by
//! name, temporal access, time domain, what the full host reports and failures.

mod common;

use common::*;
use pixelspace_host::{
    Depth, Host, HostImage, Instance, MessageLevel, ParamKind, RenderOptions, RowOrder,
};

const GAIN: &str = "org.pixelspace.test.Gain";

fn instance() -> (Host, Instance, std::sync::Arc<Gradient>) {
    let host = Host::new(&[test_plugin_dir()]).unwrap();
    let mut fx = host.instance(GAIN).unwrap();
    let src = gradient();
    fx.connect("Source", src.clone()).unwrap();
    (host, fx, src)
}

fn check(img: &HostImage, tol: f32, want: impl Fn(u32, u32) -> [f32; 4]) {
    for y in 0..img.height {
        for x in 0..img.width {
            let (g, w) = (img.pixel(x, y), want(x, y));
            for c in 0..4 {
                assert!(
                    (g[c] - w[c]).abs() <= tol,
                    "({x},{y})[{c}]: got {} want {}",
                    g[c],
                    w[c]
                );
            }
        }
    }
}

#[test]
fn general_context_and_params() {
    let (_h, fx, _) = instance();
    assert_eq!(fx.context(), "OfxImageEffectContextGeneral");
    assert_eq!(fx.render_thread_safety(), "OfxImageEffectRenderFullySafe");
    assert!(fx.supports_tiles() && fx.supports_multi_resolution());
    let clips = fx.clips();
    assert!(clips.iter().any(|c| c.name == "Source" && !c.output));
    assert!(clips.iter().any(|c| c.name == "Output" && c.output));
    let params = fx.params();
    let p = |n: &str| params.iter().find(|p| p.name == n).unwrap().clone();
    assert_eq!(p("gain").kind, ParamKind::Double);
    assert_eq!(p("gain").default.as_deref(), Some("1"));
    assert_eq!(p("offset").kind, ParamKind::Integer);
    assert_eq!(p("invert").kind, ParamKind::Boolean);
    assert_eq!(p("invert").value.as_deref(), Some("false"));
    assert_eq!(p("note").kind, ParamKind::String);
    assert_eq!(p("note").value.as_deref(), Some("none"));
    let mode = p("mode");
    assert_eq!(mode.kind, ParamKind::Choice);
    assert_eq!(mode.options, vec!["Multiply", "Add", "sRGB (display)"]);
    assert_eq!(mode.option_names, vec!["multiply", "add", "srgb"]);
    assert_eq!(mode.value.as_deref(), Some("multiply"));
}

#[test]
fn set_param_by_name_label_and_index() {
    let (_h, mut fx, _) = instance();
    let value = |fx: &Instance, n: &str| {
        fx.params()
            .into_iter()
            .find(|p| p.name == n)
            .unwrap()
            .value
            .unwrap()
    };
    fx.set_param("mode", "add").unwrap();
    assert_eq!(value(&fx, "mode"), "add");
    fx.set_param("mode", "sRGB (display)").unwrap();
    assert_eq!(value(&fx, "mode"), "srgb");
    fx.set_param("mode", "Multiply").unwrap();
    assert_eq!(value(&fx, "mode"), "multiply");
    fx.set_param("mode", "1").unwrap();
    assert_eq!(value(&fx, "mode"), "add");
    let err = fx.set_param("mode", "divide").unwrap_err();
    assert!(err.message.contains("multiply, add, srgb"), "{err}");
    fx.set_param("gain", "0.25").unwrap();
    assert_eq!(value(&fx, "gain"), "0.25");
    assert!(fx.set_param("gain", "lots").is_err());
    fx.set_param("invert", "yes").unwrap();
    assert_eq!(value(&fx, "invert"), "true");
    fx.set_param("note", "/tmp/some file.png").unwrap();
    assert_eq!(value(&fx, "note"), "/tmp/some file.png");
    let err = fx.set_param("gian", "2").unwrap_err();
    assert!(
        err.message.contains("gain") && err.message.contains("gian"),
        "{err}"
    );
    let err = fx.connect("Sourc", gradient()).unwrap_err();
    assert!(err.message.contains("Source"), "{err}");
}

#[test]
fn byte_short_float_depths() {
    let (_h, mut fx, src) = instance();
    fx.set_param("gain", "0.5").unwrap();
    for (depth, levels, tol) in [
        (Depth::Byte, 255.0, 1e-6),
        (Depth::Short, 65535.0, 1e-6),
        (Depth::Float, 0.0, 1e-6),
    ] {
        let opts = RenderOptions {
            depth,
            ..Default::default()
        };
        let frames = render(&mut fx, &[2], &opts).unwrap();
        let img = &frames[0].1;
        assert_eq!((img.width, img.height), (37, 23));
        check(img, tol, |x, y| {
            let s = src.value(x, y, 2);
            // host: round half away from zero; the plugin uses lrintf (half to even)
            let q = |v: f32| if levels > 0.0 { quantize(v, levels) } else { v };
            let p = |v: f32| {
                if levels > 0.0 {
                    (v * levels).round_ties_even() / levels
                } else {
                    v
                }
            };
            [
                p(q(s[0]) * 0.5),
                p(q(s[1]) * 0.5),
                p(q(s[2]) * 0.5),
                p(q(s[3])),
            ]
        });
    }
}

/// Box filter by 2 with partial boxes at the odd right and top edges.
fn half(src: &Gradient, frame: i32, x: u32, y: u32) -> [f32; 4] {
    let mut acc = [0.0f32; 4];
    let mut n = 0.0;
    for yy in 2 * y..(2 * y + 2).min(src.height) {
        for xx in 2 * x..(2 * x + 2).min(src.width) {
            let v = src.value(xx, yy, frame);
            for c in 0..4 {
                acc[c] += v[c];
            }
            n += 1.0;
        }
    }
    acc.map(|a| a / n)
}

#[test]
fn render_scale_half_box_filters_sources() {
    let (_h, mut fx, src) = instance();
    fx.set_param("gain", "2").unwrap();
    let opts = RenderOptions {
        scale: 0.5,
        ..Default::default()
    };
    let frames = render(&mut fx, &[1], &opts).unwrap();
    let img = &frames[0].1;
    assert_eq!((img.width, img.height), (19, 12));
    check(img, 1e-5, |x, y| {
        let h = half(&src, 1, x, y);
        [h[0] * 2.0, h[1] * 2.0, h[2] * 2.0, h[3]]
    });
}

#[test]
fn top_down_rows_and_padding_give_the_same_pixels() {
    let (_h, mut fx, _) = instance();
    fx.set_param("invert", "true").unwrap();
    for depth in [Depth::Byte, Depth::Short, Depth::Float] {
        let base = RenderOptions {
            depth,
            ..Default::default()
        };
        let a = render(&mut fx, &[0, 4], &base).unwrap();
        let flipped = RenderOptions {
            row_order: RowOrder::TopDown,
            row_padding: 13,
            ..base.clone()
        };
        let b = render(&mut fx, &[0, 4], &flipped).unwrap();
        assert_eq!(a, b, "{depth:?}");
        let padded = RenderOptions {
            row_padding: 7,
            ..base
        };
        let c = render(&mut fx, &[0, 4], &padded).unwrap();
        assert_eq!(a, c, "{depth:?}");
    }
}

#[test]
fn one_and_four_threads_and_tiles_agree() {
    let (_h, mut fx, src) = instance();
    fx.set_param("gain", "0.75").unwrap();
    let frames: Vec<i32> = (0..=5).collect();
    let one = render(
        &mut fx,
        &frames,
        &RenderOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let four = render(
        &mut fx,
        &frames,
        &RenderOptions {
            threads: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let tiled = render(
        &mut fx,
        &frames,
        &RenderOptions {
            threads: 4,
            tile: Some((8, 5)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(one.len(), 6);
    assert_eq!(one, four);
    assert_eq!(one, tiled);
    check(&one[5].1, 1e-6, |x, y| {
        let s = src.value(x, y, 5);
        [s[0] * 0.75, s[1] * 0.75, s[2] * 0.75, s[3]]
    });
}

#[test]
fn temporal_offset_and_time_domain() {
    let (_h, mut fx, src) = instance();
    assert_eq!(fx.time_domain().unwrap(), (0.0, 5.0));
    fx.set_param("offset", "2").unwrap();
    assert_eq!(fx.time_domain().unwrap(), (-2.0, 3.0));
    assert!(
        fx.messages()
            .iter()
            .any(|m| m.contains("time domain asked"))
    );
    // Frame -1 reads source frame 1: a head extension before frame 0.
    let frames = render(&mut fx, &[-1], &RenderOptions::default()).unwrap();
    check(&frames[0].1, 1e-6, |x, y| src.value(x, y, 1));
    // Frame 4 would need source frame 6, which does not exist.
    let err = render(&mut fx, &[4], &RenderOptions::default()).unwrap_err();
    assert!(err.message.contains("no source image at frame 6"), "{err}");
    assert!(err.message.contains("has no frame 6"), "{err}");
}

#[test]
fn the_full_host_reports_temporal_access_tiles_scales_and_frame_ranges() {
    let (h, mut fx, _) = instance();
    assert_eq!(h.profile(), pixelspace_host::HostProfile::Full);
    fx.set_param("report", "true").unwrap();
    render(&mut fx, &[2], &RenderOptions::default()).unwrap();
    let reports: Vec<String> = fx
        .posted()
        .into_iter()
        .filter(|m| m.text.starts_with("report "))
        .map(|m| m.text)
        .collect();
    assert_eq!(
        reports,
        vec!["report temporal=1 tiles=1 multires=1 Source=0:0..5 Output=0:0..5"]
    );
}

#[test]
fn frames_needed_are_what_the_effect_declares() {
    let (_h, mut fx, _) = instance();
    assert_eq!(fx.frames_needed(3.0, "Source").unwrap(), vec![(3.0, 3.0)]);
    assert!(
        fx.messages()
            .iter()
            .any(|m| m.contains("frames needed asked"))
    );
    fx.set_param("offset", "2").unwrap();
    assert_eq!(fx.frames_needed(3.0, "Source").unwrap(), vec![(5.0, 5.0)]);
    assert_eq!(fx.frames_needed(-1.0, "Source").unwrap(), vec![(1.0, 1.0)]);
    let err = fx.frames_needed(0.0, "Nope").unwrap_err();
    assert!(err.message.contains("Nope"), "{err}");
}

#[test]
fn failed_render_returns_the_plugin_message_and_skips_the_sink() {
    let (_h, mut fx, _) = instance();
    fx.set_param("fail", "true").unwrap();
    let called = std::sync::atomic::AtomicUsize::new(0);
    let err = fx
        .render_frames(&[1, 2], &RenderOptions::default(), &|_, _| {
            called.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        })
        .unwrap_err();
    assert!(err.message.contains("deliberate failure at frame"), "{err}");
    assert!(err.message.contains("kOfxStatFailed"), "{err}");
    assert_eq!(called.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert!(
        fx.posted()
            .iter()
            .any(|m| m.level == MessageLevel::Error && m.text.contains("deliberate failure"))
    );
    assert!(
        fx.messages()
            .iter()
            .any(|m| m.starts_with("error: deliberate failure"))
    );

    // A C++ exception thrown by the plugin is a failed render, not a crash.
    fx.set_param("fail", "false").unwrap();
    fx.set_param("throw", "true").unwrap();
    let err = render(&mut fx, &[1], &RenderOptions::default()).unwrap_err();
    assert!(err.message.contains("deliberate exception"), "{err}");

    // And the instance still renders afterwards.
    fx.set_param("throw", "false").unwrap();
    assert_eq!(
        render(&mut fx, &[1], &RenderOptions::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn sink_errors_and_unconnected_clips_are_reported() {
    let host = Host::new(&[test_plugin_dir()]).unwrap();
    let mut fx = host.instance(GAIN).unwrap();
    let err = render(&mut fx, &[0], &RenderOptions::default()).unwrap_err();
    assert!(
        err.message.contains("Source") && err.message.contains("connected"),
        "{err}"
    );
    fx.connect("Source", gradient()).unwrap();
    let err = fx
        .render_frames(&[0], &RenderOptions::default(), &|_, _| {
            Err("disk full".into())
        })
        .unwrap_err();
    assert!(err.message.contains("disk full"), "{err}");
}

#[test]
fn cancelling_stops_the_render() {
    let (_h, mut fx, _) = instance();
    let cancel = fx.cancel_handle();
    let frames: Vec<i32> = (0..=5).collect();
    let err = fx
        .render_frames(&frames, &RenderOptions::default(), &|_, _| {
            cancel.cancel();
            Ok(())
        })
        .unwrap_err();
    assert!(err.message.contains("cancelled"), "{err}");
}

#[test]
fn invert_and_gain_side_by_side() {
    let host = Host::new(&[test_plugin_dir(), invert_plugin_dir()]).unwrap();
    let mut ids: Vec<String> = host.effects().into_iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            GAIN.to_string(),
            "uk.co.thefoundry.OfxInvertExample".to_string()
        ]
    );
}
