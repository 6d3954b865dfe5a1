//! `org.pixelspace.CleanPlate` on real footage holds still and fills with texture, through
//! `pixelspace render`, the reference OFX host and the installed bundle:
//! - on the fixed-camera clip `pedestrians_static` the plate flickers no more than the source
//!   itself in the static background (the shot's own noise);
//! - the built-in fill for background no frame shows has the grain of the background around it
//!   (the median gradient energy of the fill against a ring of background around the hole),
//!   on a synthetic field of grain and on the clip's real grass.
//!
//! The fill is the same on one or two render threads.
//!
//! Needs the real footage (`PIXELSPACE_TEST_FOOTAGE`, see `footage_dir`; without it the
//! footage tests do not run) and `PIXELSPACE_MODELS_DIR` with the default models.

use std::path::Path;

use pixelspace_tests::*;

const EFFECT: &str = "org.pixelspace.CleanPlate";
/// The frames of `pedestrians_static` measured: people walk through and stand still.
const FIRST: i32 = 575;
const LAST: i32 = 594;
/// A static pixel stays within this many 8-bit steps of the shot's background in every frame.
const STATIC_STEP: f32 = 40.0;

fn clip_frame(clip: &Path, n: i32) -> Image {
    read_image(&clip.join(format!("{n:05}.png")))
}

/// The shot's per-pixel, per-channel median over every third of its `frames` frames (8-bit
/// units, the order of [`Image`] pixels), computed a band of rows at a time.
fn shot_background(clip: &Path, frames: i32) -> (Vec<[f32; 3]>, usize, usize) {
    let first = clip_frame(clip, 0);
    let (w, h) = (first.width, first.height);
    let picks: Vec<i32> = (0..frames).step_by(3).collect();
    let mut bg = vec![[0f32; 3]; w * h];
    let band = 96;
    for y0 in (0..h).step_by(band) {
        let y1 = (y0 + band).min(h);
        let n = (y1 - y0) * w;
        let mut samples: Vec<Vec<[u8; 3]>> = vec![Vec::with_capacity(picks.len()); n];
        for &k in &picks {
            let img = clip_frame(clip, k);
            for (j, s) in samples.iter_mut().enumerate() {
                let i = y0 * w + j;
                let p = &img.data[4 * i..4 * i + 3];
                s.push([0, 1, 2].map(|c| (p[c] * 255.0).round() as u8));
            }
        }
        for (j, s) in samples.iter_mut().enumerate() {
            for c in 0..3 {
                let mut v: Vec<u8> = s.iter().map(|p| p[c]).collect();
                v.sort_unstable();
                bg[y0 * w + j][c] = v[v.len() / 2] as f32;
            }
        }
    }
    (bg, w, h)
}

/// Shrinks a mask by `r` pixels (a square).
fn erode(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            mask[i]
                && (y.saturating_sub(r)..(y + r + 1).min(h))
                    .all(|yy| (x.saturating_sub(r)..(x + r + 1).min(w)).all(|xx| mask[yy * w + xx]))
                && x >= r
                && y >= r
                && x + r < w
                && y + r < h
        })
        .collect()
}

/// The temporal standard deviation (8-bit units, population, mean of the three channels)
/// of each pixel over `frames`, averaged over the pixels `select` marks.
fn temporal_std(frames: &[Image], select: &[bool]) -> f64 {
    let n = frames.len() as f64;
    let (mut total, mut count) = (0f64, 0usize);
    for (i, _) in select.iter().enumerate().filter(|(_, s)| **s) {
        let mut s = 0.0;
        for c in 0..3 {
            let v: Vec<f64> = frames
                .iter()
                .map(|f| f.data[4 * i + c] as f64 * 255.0)
                .collect();
            let mean = v.iter().sum::<f64>() / n;
            s += (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        }
        total += s / 3.0;
        count += 1;
    }
    total / count.max(1) as f64
}

#[test]
fn pedestrians_static_plate_flickers_no_more_than_the_source_in_the_static_background() {
    let Some(clip) = footage_clip("pedestrians_static") else {
        return;
    };
    real_model("selfie_segmentation");
    let dir = scratch("plate_steady_pedestrians");
    let input = clip.join("%05d.png").display().to_string();
    let output = dir.join("out").join("%05d.png").display().to_string();
    let frames = format!("{FIRST}..{LAST}");
    let start = std::time::Instant::now();
    render_effect_ok(
        EFFECT,
        &[
            "-i",
            &input,
            "-o",
            &output,
            "--frames",
            &frames,
            "--set",
            "method=auto",
            "--set",
            "window=30",
        ],
    );
    let seconds = start.elapsed().as_secs_f64() / (LAST - FIRST + 1) as f64;
    let (bg, w, h) = shot_background(&clip, 795);
    let source: Vec<Image> = (FIRST..=LAST).map(|k| clip_frame(&clip, k)).collect();
    let plate: Vec<Image> = (FIRST..=LAST)
        .map(|k| read_image(&dir.join("out").join(format!("{k:05}.png"))))
        .collect();
    // Static: within STATIC_STEP of the background in every frame of the range, 3 px in.
    let close: Vec<bool> = (0..w * h)
        .map(|i| {
            source.iter().all(|f| {
                (0..3).all(|c| (f.data[4 * i + c] * 255.0 - bg[i][c]).abs() <= STATIC_STEP)
            })
        })
        .collect();
    let statics = erode(&close, w, h, 3);
    let n = statics.iter().filter(|&&s| s).count();
    let changed = (0..w * h)
        .filter(|&i| {
            statics[i]
                && plate
                    .iter()
                    .zip(&source)
                    .any(|(p, s)| p.data[4 * i..4 * i + 3] != s.data[4 * i..4 * i + 3])
        })
        .count();
    let s_plate = temporal_std(&plate, &statics);
    let s_source = temporal_std(&source, &statics);
    eprintln!(
        "pedestrians_static {FIRST}..{LAST}: temporal std over {n} static pixels ({changed} of \
         them filled in some frame): plate {s_plate:.3}, source {s_source:.3} (8-bit); \
         {seconds:.1} s a frame"
    );
    assert!(n > w * h / 2, "only {n} static pixels");
    assert!(changed > 5000, "only {changed} static pixels ever filled");
    assert!(
        s_plate <= s_source,
        "the plate flickers more than the source: {s_plate:.3} against {s_source:.3}"
    );
}

/// Gradient energy over the pixels `select` marks: the median over them of each pixel's
/// squared RGB differences from its right and lower neighbours (both inside the selection).
/// The median: a texture measure that a few strong edges in a ring (a stone, a kerb) do not
/// decide.
fn gradient_energy(img: &Image, select: &[bool]) -> f64 {
    let w = img.width;
    let mut per_pixel: Vec<f64> = Vec::new();
    for i in 0..select.len() {
        let (right, down) = (i + 1, i + w);
        if !select[i] || down >= select.len() || right % w == 0 || !select[right] || !select[down] {
            continue;
        }
        let mut e = 0.0;
        for j in [right, down] {
            for c in 0..3 {
                e += ((img.data[4 * i + c] - img.data[4 * j + c]) as f64).powi(2);
            }
        }
        per_pixel.push(e);
    }
    if per_pixel.is_empty() {
        return 0.0;
    }
    let mid = per_pixel.len() / 2;
    *per_pixel
        .select_nth_unstable_by(mid, |a, b| a.total_cmp(b))
        .1
}

/// Renders one frame of `input` with `mask` as the Mask clip and `method=inpaint` (the
/// built-in fill alone), and compares the gradient energy inside the hole with a ring of
/// `ring` pixels of background around it; returns (fill, ring) energies and the render.
fn inpaint_texture(
    dir: &Path,
    input: &str,
    frame: i32,
    hole: &[bool],
    w: usize,
    h: usize,
    ring: usize,
) -> (f64, f64, Image) {
    let mut mask = Image {
        width: w,
        height: h,
        data: vec![0.0; 4 * w * h],
    };
    for (i, _) in hole.iter().enumerate().filter(|(_, u)| **u) {
        mask.data[4 * i..4 * i + 4].copy_from_slice(&[1.0; 4]);
    }
    std::fs::create_dir_all(dir.join("mask")).unwrap();
    write_png16(&dir.join("mask").join(format!("{frame:05}.png")), &mask);
    let mask_pattern = format!("Mask={}", dir.join("mask").join("%05d.png").display());
    let output = dir.join("out").join("%05d.png").display().to_string();
    let frames = format!("{frame}..{frame}");
    render_effect_ok(
        EFFECT,
        &[
            "-i",
            input,
            "-o",
            &output,
            "--frames",
            &frames,
            "--clip",
            &mask_pattern,
            "--set",
            "method=inpaint",
            "--set",
            "dilate=0",
            "--set",
            "inpaintModel=none",
        ],
    );
    let out = read_image(&dir.join("out").join(format!("{frame:05}.png")));
    let not_hole: Vec<bool> = hole.iter().map(|u| !u).collect();
    let far = erode(&not_hole, w, h, ring);
    let ring_px: Vec<bool> = (0..w * h).map(|i| !hole[i] && !far[i]).collect();
    let input_img = read_image(Path::new(&input.replace("%05d", &format!("{frame:05}"))));
    (
        gradient_energy(&out, hole),
        gradient_energy(&input_img, &ring_px),
        out,
    )
}

/// The mean of each channel over `select`.
fn mean_rgb(img: &Image, select: &[bool]) -> [f64; 3] {
    let n = select.iter().filter(|&&s| s).count().max(1) as f64;
    let mut m = [0f64; 3];
    for (i, _) in select.iter().enumerate().filter(|(_, s)| **s) {
        for c in 0..3 {
            m[c] += img.data[4 * i + c] as f64 / n;
        }
    }
    m
}

#[test]
fn a_large_hole_in_synthetic_grain_is_filled_with_grain() {
    let dir = scratch("plate_steady_grain");
    let (w, h) = (320usize, 240usize);
    // Hashed grain over a gentle vertical gradient, like grass.
    let mut img = Image {
        width: w,
        height: h,
        data: vec![1.0; 4 * w * h],
    };
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..w * h {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let n = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let base = 0.3 + 0.2 * (i / w) as f32 / h as f32;
        img.data[4 * i..4 * i + 3].copy_from_slice(&[
            base + 0.15 * n,
            base + 0.1 + 0.2 * n,
            base - 0.1 + 0.1 * n,
        ]);
    }
    std::fs::create_dir_all(dir.join("shot")).unwrap();
    write_png16(&dir.join("shot").join("00000.png"), &img);
    // A hole 96 x 120 px: a standing person's size at this scale.
    let hole: Vec<bool> = (0..w * h)
        .map(|i| (112..208).contains(&(i % w)) && (60..180).contains(&(i / w)))
        .collect();
    let input = dir.join("shot").join("%05d.png").display().to_string();
    let (e_fill, e_ring, out) = inpaint_texture(&dir, &input, 0, &hole, w, h, 16);
    let (m_fill, m_src) = (mean_rgb(&out, &hole), mean_rgb(&img, &hole));
    eprintln!(
        "synthetic grain, hole of 11520 px: gradient energy fill {e_fill:.5}, ring {e_ring:.5} \
         ({:.2}); mean fill {m_fill:.3?} vs truth {m_src:.3?}",
        e_fill / e_ring
    );
    assert!(out.data.iter().all(|v| v.is_finite()));
    assert!(
        e_fill >= 0.5 * e_ring,
        "the fill is smoother than the background: {e_fill:.5} against {e_ring:.5}"
    );
    for c in 0..3 {
        assert!(
            (m_fill[c] - m_src[c]).abs() < 0.03,
            "colour {m_fill:?} vs {m_src:?}"
        );
    }
}

#[test]
fn a_large_hole_in_the_real_grass_of_pedestrians_static_is_filled_with_grass() {
    let Some(clip) = footage_clip("pedestrians_static") else {
        return;
    };
    let dir = scratch("plate_steady_grass");
    let (w, h) = (768usize, 576usize);
    // Grass on the left of frame 580 (rows counted bottom-up, as in Image): a hole 70 x 110 px
    // where no one walks in that frame.
    let hole: Vec<bool> = (0..w * h)
        .map(|i| (40..110).contains(&(i % w)) && (170..280).contains(&(i / w)))
        .collect();
    let input = clip.join("%05d.png").display().to_string();
    let (e_fill, e_ring, out) = inpaint_texture(&dir, &input, 580, &hole, w, h, 24);
    let truth = clip_frame(&clip, 580);
    let e_truth = gradient_energy(&truth, &hole);
    let (m_fill, m_src) = (mean_rgb(&out, &hole), mean_rgb(&truth, &hole));
    eprintln!(
        "real grass, hole of 7700 px: gradient energy fill {e_fill:.6}, ring {e_ring:.6} ({:.2}), \
         the hidden grass itself {e_truth:.6}; mean fill {m_fill:.3?} vs hidden {m_src:.3?}",
        e_fill / e_ring
    );
    assert!(
        e_fill >= 0.5 * e_ring,
        "the fill is smoother than the grass: {e_fill:.6} against {e_ring:.6}"
    );
    for c in 0..3 {
        assert!(
            (m_fill[c] - m_src[c]).abs() < 0.04,
            "colour {m_fill:?} vs {m_src:?}"
        );
    }
}

#[test]
fn the_fill_is_the_same_on_one_or_two_threads() {
    let dir = scratch("plate_steady_threads");
    let (w, h) = (240usize, 160usize);
    // Two frames of grain, each with its own hole.
    std::fs::create_dir_all(dir.join("shot")).unwrap();
    std::fs::create_dir_all(dir.join("mask")).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for t in 0..2usize {
        let mut img = Image {
            width: w,
            height: h,
            data: vec![1.0; 4 * w * h],
        };
        let mut mask = Image {
            width: w,
            height: h,
            data: vec![0.0; 4 * w * h],
        };
        for i in 0..w * h {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let n = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            img.data[4 * i..4 * i + 3].copy_from_slice(&[0.3 + 0.1 * n, 0.45 + 0.2 * n, 0.2]);
            let (x, y) = (i % w, i / w);
            if (60 + 20 * t..120 + 20 * t).contains(&x) && (40..120).contains(&y) {
                mask.data[4 * i..4 * i + 4].copy_from_slice(&[1.0; 4]);
            }
        }
        write_png16(&dir.join("shot").join(format!("{t:05}.png")), &img);
        write_png16(&dir.join("mask").join(format!("{t:05}.png")), &mask);
    }
    let input = dir.join("shot").join("%05d.png").display().to_string();
    let mask = format!("Mask={}", dir.join("mask").join("%05d.png").display());
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let output = dir.join(threads).join("%05d.png").display().to_string();
        render_effect_ok(
            EFFECT,
            &[
                "-i",
                &input,
                "-o",
                &output,
                "--frames",
                "0..1",
                "--clip",
                &mask,
                "--threads",
                threads,
                "--set",
                "method=inpaint",
                "--set",
                "inpaintModel=none",
            ],
        );
        outs.push(
            (0..2)
                .map(|t| read_image(&dir.join(threads).join(format!("{t:05}.png"))))
                .collect::<Vec<_>>(),
        );
    }
    let src = read_image(&dir.join("shot").join("00000.png"));
    assert!(outs[0][0] != src, "nothing was filled");
    assert!(outs[0] == outs[1], "--threads 1 and 2 give different fills");
}
