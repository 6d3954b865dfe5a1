//! The restricted host profile (what MLT's host offers) with the test effect
//! (tests/fixtures/testfx.cpp): the filter context only, no temporal access
//! (every image fetch gives the frame being rendered), no clip frame ranges,
//! no time-domain or frames-needed actions, whole frames at scale 1.
//!
//! A process uses one host profile, so every test here makes restricted hosts
//! and this file is a test binary of its own.

mod common;

use common::*;
use pixelspace_host::{Host, HostProfile, Instance, RenderOptions};

const GAIN: &str = "org.pixelspace.test.Gain";
const FILTER: &str = "OfxImageEffectContextFilter";
/// What reading an undefined property returns.
const OFX_STAT_ERR_UNKNOWN: i32 = 3;

fn restricted(dirs: &[std::path::PathBuf]) -> Host {
    let host = Host::with_profile(dirs, HostProfile::Restricted).unwrap();
    assert_eq!(host.profile(), HostProfile::Restricted);
    host
}

fn instance() -> (Host, Instance, std::sync::Arc<Gradient>) {
    let host = restricted(&[test_plugin_dir()]);
    let mut fx = host.instance(GAIN).unwrap();
    let src = gradient();
    fx.connect("Source", src.clone()).unwrap();
    (host, fx, src)
}

/// The "report ..." messages the effect posted (one per render action when its `report` param is on).
fn reports(fx: &Instance) -> Vec<String> {
    fx.posted()
        .into_iter()
        .filter(|m| m.text.starts_with("report "))
        .map(|m| m.text)
        .collect()
}

#[test]
fn instances_are_made_in_the_filter_context() {
    // The test effect has the general context too; the restricted host offers only filter.
    let (_h, fx, _) = instance();
    assert_eq!(fx.context(), FILTER);
    let host = restricted(&[invert_plugin_dir()]);
    let fx = host.instance("uk.co.thefoundry.OfxInvertExample").unwrap();
    assert_eq!(fx.context(), FILTER);
}

#[test]
fn an_effect_without_the_filter_context_is_refused() {
    let host = restricted(&[general_only_plugin_dir()]);
    let err = host.instance(GAIN).err().unwrap();
    assert!(
        err.message.contains("no filter context")
            && err.message.contains("restricted")
            && err.message.contains("OfxImageEffectContextGeneral"),
        "{err}"
    );
}

#[test]
fn the_host_reports_no_temporal_access_and_clip_frame_ranges_fail() {
    let (_h, mut fx, _) = instance();
    fx.set_param("report", "true").unwrap();
    render(&mut fx, &[2], &RenderOptions::default()).unwrap();
    let e = OFX_STAT_ERR_UNKNOWN;
    assert_eq!(
        reports(&fx),
        vec![format!(
            "report temporal=0 tiles=0 multires=0 Source={e}:0..0 Output={e}:0..0"
        )]
    );
}

#[test]
fn an_image_asked_for_another_time_is_the_frame_being_rendered() {
    let (_h, mut fx, src) = instance();
    let frames: Vec<i32> = (0..=5).collect();
    // The effect asks for frame t + offset; in a full host frames 4 and 5 (offset 2) and
    // 0..2 (offset -3) do not exist.
    for offset in ["2", "-3"] {
        fx.set_param("offset", offset).unwrap();
        let out = render(&mut fx, &frames, &RenderOptions::default()).unwrap();
        assert_eq!(out.len(), 6);
        for (f, img) in &out {
            for y in 0..img.height {
                for x in 0..img.width {
                    assert_eq!(
                        img.pixel(x, y),
                        src.value(x, y, *f),
                        "offset {offset} frame {f} ({x},{y})"
                    );
                }
            }
        }
    }
}

#[test]
fn time_domain_and_frames_needed_are_never_asked() {
    let (_h, mut fx, _) = instance();
    let err = fx.time_domain().unwrap_err();
    assert!(err.message.contains("restricted"), "{err}");
    let err = fx.frames_needed(1.0, "Source").unwrap_err();
    assert!(err.message.contains("restricted"), "{err}");
    render(&mut fx, &[0, 1, 2], &RenderOptions::default()).unwrap();
    let asked: Vec<String> = fx
        .messages()
        .into_iter()
        .filter(|m| m.contains("asked"))
        .collect();
    assert!(asked.is_empty(), "{asked:?}");
}

#[test]
fn frames_are_rendered_whole_and_at_scale_one() {
    let (_h, mut fx, _) = instance();
    fx.set_param("report", "true").unwrap();
    // Tiles asked for: one render action for the whole frame all the same.
    let tiled = RenderOptions {
        tile: Some((8, 5)),
        ..Default::default()
    };
    let out = render(&mut fx, &[3], &tiled).unwrap();
    assert_eq!((out[0].1.width, out[0].1.height), (37, 23));
    assert_eq!(reports(&fx).len(), 1);
    let half = RenderOptions {
        scale: 0.5,
        ..Default::default()
    };
    let err = render(&mut fx, &[3], &half).unwrap_err();
    assert!(err.message.contains("scale 1"), "{err}");
}

#[test]
fn a_full_host_in_the_same_process_is_refused() {
    // Plugins keep the host they were loaded by: one process, one profile.
    let _restricted = restricted(&[test_plugin_dir()]);
    let err = Host::new(&[test_plugin_dir()]).err().unwrap();
    assert!(
        err.message.contains("restricted") && err.message.contains("full"),
        "{err}"
    );
}
