//! `org.pixelspace.Face` on a real talking head (`carphone`: 176x144, 120 frames, a man talking
//! in a moving car) with the installed default models, rendered by `pixelspace render` with the
//! `landmarks` output:
//!
//! * a face is found in every frame;
//! * the default smoothing at least halves landmark jitter (the mean length of the second
//!   difference over time of the 468 points) against smoothing 0;
//! * the smoothed track does not lag the raw one by more than one frame, over the whole clip
//!   and over its fastest head motion (the best-fitting shift of the smoothed face centre
//!   against the raw one, to a fraction of a frame; the measure is checked on the raw track
//!   delayed by a known two frames).
//!
//! Needs the real footage (`PIXELSPACE_TEST_FOOTAGE`; without it the test does not run) and the
//! bundle installed with the default face models.

use std::path::Path;

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
const CLIP: &str = "carphone";
const FRAMES: usize = 120;
/// Points of the face mesh.
const MESH_POINTS: usize = 468;
/// Largest shift tried when fitting one track to another, frames each way.
const MAX_SHIFT: i32 = 3;
/// Frames in the fastest-motion segment.
const SEGMENT: usize = 24;

/// One frame's smoothed landmarks (x, y in frame pixels) of the face mesh, empty where no face
/// was found: the first face's block of the `landmarks` output (468 points wrapped over
/// `ceil(468 / width)` rows, then its info row; see plugin/src/face.rs).
fn read_landmarks(path: &Path) -> Vec<[f64; 2]> {
    let img = read_image(path);
    let rows = MESH_POINTS.div_ceil(img.width);
    let count = img.pixel(2, rows)[1] as usize;
    if count != MESH_POINTS {
        return Vec::new();
    }
    (0..count)
        .map(|i| {
            let p = img.pixel(i % img.width, i / img.width);
            [p[0] as f64, p[1] as f64]
        })
        .collect()
}

/// The landmarks of every frame of the clip, rendered with `smoothing` frames each side (None:
/// the param's default).
fn render_track(clip: &Path, name: &str, smoothing: Option<u32>) -> Vec<Vec<[f64; 2]>> {
    let dir = scratch(name);
    let input = clip.join("%05d.png").display().to_string();
    let output = dir.join("%05d.exr").display().to_string();
    let frames = format!("0..{}", FRAMES - 1);
    let mut args = vec![
        "-i",
        &input,
        "-o",
        &output,
        "--frames",
        &frames,
        "--depth",
        "float",
        "--set",
        "output=landmarks",
        // PNG frames are sRGB-encoded whatever depth the host hands over.
        "--set",
        "colourSpace=srgb",
    ];
    let set = smoothing.map(|s| format!("smoothing={s}"));
    if let Some(s) = &set {
        args.extend(["--set", s.as_str()]);
    }
    render_effect_ok(FACE, &args);
    (0..FRAMES)
        .map(|t| read_landmarks(&dir.join(format!("{t:05}.exr"))))
        .collect()
}

/// Mean length of the second difference over time of every landmark (pixels per frame²).
fn jitter(track: &[Vec<[f64; 2]>]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for w in track.windows(3) {
        for ((a, b), c) in w[0].iter().zip(&w[1]).zip(&w[2]) {
            sum += (a[0] - 2.0 * b[0] + c[0]).hypot(a[1] - 2.0 * b[1] + c[1]);
            n += 1;
        }
    }
    sum / n as f64
}

/// The mean of each frame's landmarks.
fn centres(track: &[Vec<[f64; 2]>]) -> Vec<[f64; 2]> {
    track
        .iter()
        .map(|pts| {
            let n = pts.len() as f64;
            let s = pts
                .iter()
                .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
            [s[0] / n, s[1] / n]
        })
        .collect()
}

/// How many frames `late` trails `early` over frames `range` (which must leave MAX_SHIFT frames
/// either side): the integer shift `s` minimising the mean squared distance between `late[t]`
/// and `early[t - s]`, refined by a parabola through that minimum and its neighbours.
fn best_shift(late: &[[f64; 2]], early: &[[f64; 2]], range: std::ops::Range<usize>) -> f64 {
    let error = |s: i32| -> f64 {
        range
            .clone()
            .map(|t| {
                let e = early[(t as i32 - s) as usize];
                let l = late[t];
                (l[0] - e[0]).powi(2) + (l[1] - e[1]).powi(2)
            })
            .sum::<f64>()
            / range.len() as f64
    };
    let errors: Vec<f64> = (-MAX_SHIFT..=MAX_SHIFT).map(error).collect();
    let best = (0..errors.len())
        .min_by(|&a, &b| errors[a].total_cmp(&errors[b]))
        .unwrap();
    let shift = best as f64 - MAX_SHIFT as f64;
    if best == 0 || best + 1 == errors.len() {
        return shift;
    }
    let (a, b, c) = (errors[best - 1], errors[best], errors[best + 1]);
    let curve = a - 2.0 * b + c;
    if curve <= 0.0 {
        return shift;
    }
    shift + (0.5 * (a - c) / curve).clamp(-0.5, 0.5)
}

/// The `SEGMENT` frames (leaving MAX_SHIFT frames either side) over which the raw face centre
/// moves furthest.
fn fastest_segment(raw: &[[f64; 2]]) -> std::ops::Range<usize> {
    let m = MAX_SHIFT as usize;
    let start = (m..raw.len() - m - SEGMENT + 1)
        .max_by(|&a, &b| {
            let d = |s: usize| {
                let (p, q) = (raw[s], raw[s + SEGMENT - 1]);
                (p[0] - q[0]).hypot(p[1] - q[1])
            };
            d(a).total_cmp(&d(b))
        })
        .unwrap();
    start..start + SEGMENT
}

#[test]
fn default_smoothing_steadies_a_real_talking_head_without_lagging_it() {
    let Some(clip) = footage_clip(CLIP) else {
        return;
    };
    let raw = render_track(&clip, "face_steady_raw", Some(0));
    let smooth = render_track(&clip, "face_steady_default", None);

    let found = |track: &[Vec<[f64; 2]>]| track.iter().filter(|p| p.len() == MESH_POINTS).count();
    let (found_raw, found_smooth) = (found(&raw), found(&smooth));
    eprintln!(
        "{CLIP}: a face in {found_raw} of {FRAMES} frames (smoothing 0), {found_smooth} of {FRAMES} (default smoothing)"
    );
    assert_eq!(found_raw, FRAMES, "frames without a face, smoothing 0");
    assert_eq!(
        found_smooth, FRAMES,
        "frames without a face, default smoothing"
    );

    let (j_raw, j_smooth) = (jitter(&raw), jitter(&smooth));
    let ratio = j_smooth / j_raw;
    eprintln!(
        "{CLIP}: landmark jitter (mean |second difference|, px) {j_raw:.3} at smoothing 0, {j_smooth:.3} at the default (ratio {ratio:.2})"
    );
    assert!(
        ratio <= 0.5,
        "the default smoothing leaves {ratio:.2} of the jitter"
    );

    let (c_raw, c_smooth) = (centres(&raw), centres(&smooth));
    let m = MAX_SHIFT as usize;
    // The measure itself: the raw track delayed by two frames trails it by two.
    let delayed: Vec<[f64; 2]> = (0..FRAMES).map(|t| c_raw[t.saturating_sub(2)]).collect();
    let known = best_shift(&delayed, &c_raw, m..FRAMES - m);
    assert!(
        (known - 2.0).abs() < 0.05,
        "the shift measure gives {known:.2} for a two-frame delay"
    );
    let whole = best_shift(&c_smooth, &c_raw, m..FRAMES - m);
    let seg = fastest_segment(&c_raw);
    let moved = {
        let (p, q) = (c_raw[seg.start], c_raw[seg.end - 1]);
        (p[0] - q[0]).hypot(p[1] - q[1])
    };
    let fast = best_shift(&c_smooth, &c_raw, seg.clone());
    eprintln!(
        "{CLIP}: smoothed face centre trails the raw one by {whole:.2} frames over the clip, \
         {fast:.2} over its fastest motion (frames {}..{}, the face moves {moved:.1} px)",
        seg.start,
        seg.end - 1
    );
    assert!(whole.abs() <= 1.0, "lag {whole:.2} frames over the clip");
    assert!(
        fast.abs() <= 1.0,
        "lag {fast:.2} frames over the fastest motion"
    );
}
