//! Face `retouch` keeps skin texture: on real portraits (scikit-image's astronaut photo, and the
//! 24 frames of the face shot where it moves, turns and scales, tests/data/make_face_shots.py),
//! rendered through `pixelspace render`, the reference host and the installed bundle with the
//! real face models, the skin is split into bands relative to the face size s (twice the
//! distance between the outer eye corners):
//!
//! * fine band (pores, grain: detail below about 1 % of s): the image less its Gaussian blur of
//!   sigma 0.5 % of s;
//! * wrinkle band (wrinkles, blotches: detail of about 2-5 % of s): the Gaussian blur of sigma
//!   1 % of s less that of 2.5 %.
//!
//! Gaussian bands overlap, so a gap is left between the two. The skin measured is where the
//! face matte is 1 and at least 8 % of s from every eye, brow, lip, nostril and face-outline
//! landmark. The blurs are taken within that skin only (normalised by the blurred skin mask),
//! so the features', hair's and background's edges do not spill into the skin's bands, and the
//! energies are summed where the skin fills at least 70 % of the widest blur (at the skin's
//! edge a one-sided blur turns plain shading into band energy).
//!
//! Over all frames, against the source: at amount 1 at least 70 % of the fine band's energy
//! (sum of squares, RGB) is kept and at least 80 % of the wrinkle band's is gone; at amounts 0.25
//! and 0.5 the wrinkle band loses the amount +- 15 points and the fine band keeps more than at 1.
//!
//! Needs what tests/tests/face.rs needs: `PIXELSPACE_MODELS_DIR` with face_detector and
//! face_landmarks, and python3 with scikit-image.

use std::path::Path;

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
/// Face mesh indices (MediaPipe's face mesh, the loops of shared/src/face/regions.rs) that the
/// measured skin keeps clear of: eye outlines, brows, the outer lip outline, the ring around the
/// nostrils and the face outline.
const EYES: [usize; 32] = [
    7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 249, 263, 466,
    388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390,
];
const BROWS: [usize; 20] = [
    46, 53, 52, 65, 55, 107, 66, 105, 63, 70, 276, 283, 282, 295, 285, 336, 296, 334, 293, 300,
];
const LIPS: [usize; 20] = [
    0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267,
];
const NOSTRILS: [usize; 12] = [64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 2];
const OUTLINE: [usize; 36] = [
    10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377,
    400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338,
];
/// Band edges as Gaussian sigmas, fractions of the face size.
const FINE_SIGMA: f64 = 0.005;
const WRINKLE_SIGMAS: (f64, f64) = (0.01, 0.025);
/// The share of the widest blur that must fall on the skin for a pixel to be counted.
const INTERIOR: f64 = 0.7;
/// How far the measured skin keeps from those landmarks, a fraction of the face size.
const FEATURE_CLEARANCE: f64 = 0.08;

fn render_face(input: &str, output: &str, frames: &str, extra: &[&str]) {
    let sets = [
        "--set".to_string(),
        format!("detector={}", real_model("face_detector").display()),
        "--set".to_string(),
        format!("landmarker={}", real_model("face_landmarks").display()),
        // PNG frames are sRGB-encoded whatever depth the host hands over.
        "--set".to_string(),
        "colourSpace=srgb".to_string(),
    ];
    let mut args: Vec<&str> = vec!["-i", input, "-o", output, "--frames", frames];
    args.extend(sets.iter().map(|s| s.as_str()));
    args.extend_from_slice(extra);
    render_effect_ok(FACE, &args);
}

/// The face mesh of one frame from the `landmarks` output, frame pixels y DOWN.
fn read_points(path: &Path) -> Vec<[f64; 2]> {
    let img = read_image(path);
    let h = img.height as f64;
    let count = img.pixel(2, 1)[1] as usize;
    assert_eq!(count, 468, "no face tracked in {}", path.display());
    (0..count)
        .map(|i| {
            let p = img.pixel(i, 0);
            [p[0] as f64, h - p[1] as f64]
        })
        .collect()
}

/// Normalised Gaussian taps out to 3 sigma.
fn taps(sigma: f64) -> Vec<f64> {
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    k.into_iter().map(|v| v / total).collect()
}

/// Gaussian blur of a w x h plane, zeros outside.
fn blur(v: &[f64], w: usize, h: usize, sigma: f64) -> Vec<f64> {
    let k = taps(sigma);
    let r = (k.len() / 2) as i64;
    let pass = |src: &[f64], horizontal: bool| -> Vec<f64> {
        let mut out = vec![0.0; w * h];
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let (sx, sy) = if horizontal {
                        (x + j as i64 - r, y)
                    } else {
                        (x, y + j as i64 - r)
                    };
                    if sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64 {
                        acc += kv * src[sy as usize * w + sx as usize];
                    }
                }
                out[y as usize * w + x as usize] = acc;
            }
        }
        out
    };
    pass(&pass(v, true), false)
}

/// Gaussian blur within the skin: blur(skin * v) / blur(skin).
fn skin_blur(v: &[f64], skin: &[f64], w: usize, h: usize, sigma: f64) -> Vec<f64> {
    let masked: Vec<f64> = v.iter().zip(skin).map(|(a, b)| a * b).collect();
    let num = blur(&masked, w, h, sigma);
    let den = blur(skin, w, h, sigma);
    num.iter()
        .zip(&den)
        .map(|(n, d)| n / d.max(1e-12))
        .collect()
}

/// Fine- and wrinkle-band energies (sums of squares over the skin, RGB).
#[derive(Clone, Copy, Debug, Default)]
struct Energies {
    fine: f64,
    wrinkle: f64,
}

impl std::ops::AddAssign for Energies {
    fn add_assign(&mut self, o: Energies) {
        self.fine += o.fine;
        self.wrinkle += o.wrinkle;
    }
}

/// The skin of one frame: a crop around the face (x0, y0 top-left y down, w, h), its mask (1 on
/// the skin), where the energies are summed and the face size.
struct Skin {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    mask: Vec<f64>,
    counted: Vec<bool>,
    size: f64,
}

fn skin_of(matte: &Image, points: &[[f64; 2]]) -> Skin {
    let size = 2.0 * (points[33][0] - points[263][0]).hypot(points[33][1] - points[263][1]);
    let margin = size * (0.1 + 3.0 * WRINKLE_SIGMAS.1);
    let (mut x1, mut y1, mut x2, mut y2) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in points {
        x1 = x1.min(p[0]);
        y1 = y1.min(p[1]);
        x2 = x2.max(p[0]);
        y2 = y2.max(p[1]);
    }
    let clamp = |v: f64, hi: usize| v.clamp(0.0, hi as f64) as usize;
    let (x0, y0) = (
        clamp(x1 - margin, matte.width),
        clamp(y1 - margin, matte.height),
    );
    let (xe, ye) = (
        clamp(x2 + margin, matte.width),
        clamp(y2 + margin, matte.height),
    );
    let (w, h) = (xe - x0, ye - y0);
    let keep_clear: Vec<[f64; 2]> = [&EYES[..], &BROWS, &LIPS, &NOSTRILS, &OUTLINE]
        .concat()
        .iter()
        .map(|&k| points[k])
        .collect();
    let mut mask = vec![0.0; w * h];
    for j in 0..h {
        for i in 0..w {
            let (x, y) = (x0 + i, y0 + j);
            let alpha = matte.pixel(x, matte.height - 1 - y)[3];
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            let clear = keep_clear
                .iter()
                .all(|p| (p[0] - cx).hypot(p[1] - cy) >= FEATURE_CLEARANCE * size);
            if alpha >= 0.999 && clear {
                mask[j * w + i] = 1.0;
            }
        }
    }
    let cover = blur(&mask, w, h, WRINKLE_SIGMAS.1 * size);
    let counted = mask
        .iter()
        .zip(&cover)
        .map(|(m, c)| *m > 0.0 && *c >= INTERIOR)
        .collect();
    Skin {
        x0,
        y0,
        w,
        h,
        mask,
        counted,
        size,
    }
}

/// Band energies of `img` over `skin`.
fn energies(img: &Image, skin: &Skin) -> Energies {
    let (w, h) = (skin.w, skin.h);
    let mut e = Energies::default();
    for c in 0..3 {
        let v: Vec<f64> = (0..w * h)
            .map(|k| {
                let (x, y) = (skin.x0 + k % w, skin.y0 + k / w);
                img.pixel(x, img.height - 1 - y)[c] as f64
            })
            .collect();
        let fine = skin_blur(&v, &skin.mask, w, h, FINE_SIGMA * skin.size);
        let a = skin_blur(&v, &skin.mask, w, h, WRINKLE_SIGMAS.0 * skin.size);
        let b = skin_blur(&v, &skin.mask, w, h, WRINKLE_SIGMAS.1 * skin.size);
        for k in 0..w * h {
            if skin.counted[k] {
                e.fine += (v[k] - fine[k]).powi(2);
                e.wrinkle += (a[k] - b[k]).powi(2);
            }
        }
    }
    e
}

/// One portrait sequence: its source pattern, frames and name.
struct Portrait {
    name: &'static str,
    pattern: String,
    first: usize,
    last: usize,
}

#[test]
fn retouch_keeps_the_skins_fine_band_and_takes_the_wrinkle_band_by_the_amount() {
    let portraits = [
        Portrait {
            name: "astronaut photo",
            pattern: photo_pattern("astronaut"),
            first: 1,
            last: 1,
        },
        Portrait {
            name: "astronaut shot",
            pattern: face_shots()
                .join("astronaut_move/%04d.png")
                .display()
                .to_string(),
            first: 0,
            last: 23,
        },
    ];
    let amounts = [0.25, 0.5, 1.0];
    // [portrait][amount] -> (source, output) energies over all frames.
    let mut totals = vec![vec![(Energies::default(), Energies::default()); amounts.len()]; 2];
    for (n, portrait) in portraits.iter().enumerate() {
        let dir = scratch(&format!("face_texture_{n}"));
        let frames = format!("{}..{}", portrait.first, portrait.last);
        let data = dir.join("data/%04d.exr").display().to_string();
        let matte = dir.join("matte/%04d.exr").display().to_string();
        let common = ["--set", "smoothing=0", "--threads", "2"];
        let mut extra = vec!["--set", "output=landmarks", "--depth", "float"];
        extra.extend_from_slice(&common);
        render_face(&portrait.pattern, &data, &frames, &extra);
        let mut extra = vec!["--set", "output=matte", "--depth", "float"];
        extra.extend_from_slice(&common);
        render_face(&portrait.pattern, &matte, &frames, &extra);
        for (k, amount) in amounts.iter().enumerate() {
            let comp = dir.join(format!("comp{k}/%04d.png")).display().to_string();
            let set = format!("amount={amount}");
            let mut extra = vec!["--set", set.as_str()];
            extra.extend_from_slice(&common);
            render_face(&portrait.pattern, &comp, &frames, &extra);
        }
        for t in portrait.first..=portrait.last {
            let src = read_image(Path::new(
                &portrait.pattern.replace("%04d", &format!("{t:04}")),
            ));
            let points = read_points(&dir.join(format!("data/{t:04}.exr")));
            let skin = skin_of(&read_image(&dir.join(format!("matte/{t:04}.exr"))), &points);
            let before = energies(&src, &skin);
            for (k, total) in totals[n].iter_mut().enumerate() {
                let out = read_image(&dir.join(format!("comp{k}/{t:04}.png")));
                total.0 += before;
                total.1 += energies(&out, &skin);
            }
            if t == portrait.first {
                eprintln!(
                    "{} frame {t}: face size {:.1} px, {} skin pixels, {} of them counted",
                    portrait.name,
                    skin.size,
                    skin.mask.iter().filter(|&&m| m > 0.0).count(),
                    skin.counted.iter().filter(|&&c| c).count()
                );
            }
        }
    }
    // Every figure first, then the checks.
    let figures: Vec<Vec<(f64, f64)>> = totals
        .iter()
        .map(|per_amount| {
            per_amount
                .iter()
                .map(|(before, after)| {
                    (
                        after.fine / before.fine,
                        1.0 - after.wrinkle / before.wrinkle,
                    )
                })
                .collect()
        })
        .collect();
    for (portrait, per_amount) in portraits.iter().zip(&figures) {
        for (amount, (kept, removed)) in amounts.iter().zip(per_amount) {
            eprintln!(
                "{}: amount {amount}: fine band kept {:.1} %, wrinkle band removed {:.1} %",
                portrait.name,
                100.0 * kept,
                100.0 * removed
            );
        }
    }
    for (portrait, per_amount) in portraits.iter().zip(&figures) {
        let name = portrait.name;
        for (k, (amount, &(kept, removed))) in amounts.iter().zip(per_amount).enumerate() {
            if *amount == 1.0 {
                assert!(kept >= 0.7, "{name}: fine band kept {kept:.3} at amount 1");
                assert!(
                    removed >= 0.8,
                    "{name}: wrinkle band removed {removed:.3} at amount 1"
                );
            }
            if *amount < 1.0 {
                assert!(
                    (removed - amount).abs() <= 0.15,
                    "{name}: wrinkle band removed {removed:.3} at amount {amount}"
                );
            }
            // Less taken, more of the fine band kept (within the frames' 8-bit rounding, which
            // moves the figures by a point or two between nearby amounts).
            let at_one = per_amount[amounts.len() - 1].0;
            if k + 1 < amounts.len() {
                assert!(
                    kept > at_one,
                    "{name}: fine band kept {kept:.3} at amount {amount}, {at_one:.3} at 1"
                );
            }
        }
    }
}
