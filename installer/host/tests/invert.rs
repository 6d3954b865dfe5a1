//! The OpenFX `Invert` example plugin rendered through the host: discovery,
//! filter-context fallback, byte clip preferences, pixel values.

mod common;

use common::*;
use pixelspace_host::{Depth, Host, RenderOptions};

#[test]
fn finds_the_invert_example() {
    let host = Host::new(&[invert_plugin_dir()]).unwrap();
    let effects = host.effects();
    assert_eq!(effects.len(), 1, "{effects:?}");
    let e = &effects[0];
    assert_eq!(e.id, "uk.co.thefoundry.OfxInvertExample");
    assert_eq!(e.label, "OFX Invert Example");
    assert_eq!(e.group, "OFX Example");
    assert_eq!(e.version, "1.0");
    assert_eq!(e.contexts, vec!["OfxImageEffectContextFilter".to_string()]);
    assert!(
        e.bundle_path.ends_with("invert.ofx.bundle"),
        "{:?}",
        e.bundle_path
    );
}

#[test]
fn renders_invert_in_bytes() {
    let host = Host::new(&[invert_plugin_dir()]).unwrap();
    let mut fx = host.instance("uk.co.thefoundry.OfxInvertExample").unwrap();
    assert_eq!(fx.context(), "OfxImageEffectContextFilter");
    let src = gradient();
    fx.connect("Source", src.clone()).unwrap();
    assert_eq!(fx.time_domain().unwrap(), (0.0, 5.0));
    // The host offers float; the plugin only takes bytes, so clip preferences map to byte.
    let opts = RenderOptions {
        depth: Depth::Float,
        ..Default::default()
    };
    let frames = render(&mut fx, &[0, 3], &opts).unwrap();
    assert_eq!(frames.len(), 2);
    for (f, img) in &frames {
        assert_eq!((img.width, img.height), (37, 23));
        for y in 0..23 {
            for x in 0..37 {
                let s = src.value(x, y, *f);
                let got = img.pixel(x, y);
                for c in 0..4 {
                    let want = 1.0 - quantize(s[c], 255.0);
                    assert!(
                        (got[c] - want).abs() < 1e-6,
                        "frame {f} ({x},{y})[{c}]: {} vs {}",
                        got[c],
                        want
                    );
                }
            }
        }
    }
}

#[test]
fn unknown_effect_names_the_known_ones() {
    let host = Host::new(&[invert_plugin_dir()]).unwrap();
    let err = host.instance("org.example.Nope").err().unwrap();
    assert!(err.message.contains("org.example.Nope"), "{err}");
    assert!(
        err.message.contains("uk.co.thefoundry.OfxInvertExample"),
        "{err}"
    );
}

#[test]
fn empty_directory_has_no_effects() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let host = Host::new(&[dir]).unwrap();
    assert!(host.effects().is_empty());
}
