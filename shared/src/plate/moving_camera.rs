//! Moving things under a moving camera: the motion matte of [`super::motion`] when the camera
//! drifts or pans, found against a background that follows the camera.
//!
//! 1. Every frame of the window is aligned to the current one ([`super::align::estimate`] on
//!    the pixels no matte covers); a frame that cannot be aligned takes no part.
//! 2. The background, in the current frame's coordinates, is the per-channel median of what the
//!    aligned frames show at each pixel (at least [`MIN_SAMPLES`] of them, matted pixels left
//!    out). Where fewer frames see a pixel (the edge the camera reveals), nothing there moves.
//! 3. Parallax: one affine per frame cannot align a near post and a far wall at once, so a
//!    frame's pixel is compared with the range of background colours within [`PARALLAX`]
//!    working pixels of where the camera puts it, per channel; its difference is how far it
//!    lies outside that range. A near object's edge finds its own colour a pixel or two away;
//!    a person walking in front of the wall does not.
//! 4. The threshold is [`super::motion::NOISE_K`] times the current frame's median difference,
//!    and at least [`MIN_STEP`]; what is left of a frame's moving pixels after an opening by
//!    [`OPENING`] pixels (thin slivers along edges go) is cleaned like the fixed camera's.
//!
//! Each frame's matte comes from the same background, so the neighbours that `propagate`
//! carries into the hole have their own movers left out too. Sequential and a function of the
//! window's frames only: the same at any thread count and render order.

use super::align::{self, Affine2};
use super::dilate;
use super::gather::full;
use super::motion::{NOISE_K, Small, clean, level, median, pyramid};

/// A background pixel needs this many aligned frames that show it.
pub const MIN_SAMPLES: usize = 3;
/// Reach (working pixels) of the background colours a pixel is compared with.
pub const PARALLAX: usize = 2;
/// The smallest difference (0..1) that counts as motion under a moving camera; aligned frames
/// are resampled, so this is above the fixed camera's step.
pub const MIN_STEP: f32 = 10.0 / 255.0;
/// Opening radius (working pixels) that removes slivers along edges.
pub const OPENING: u32 = 2;

/// The moving pixels of each frame of the window (`smalls`, in window order; `ti` is the
/// current frame), grown by `grow` working pixels; `None` when fewer than `min_frames`
/// frames could be aligned.
pub(super) fn mattes(
    smalls: &[Small],
    ti: usize,
    lw: usize,
    lh: usize,
    grow: u32,
    min_frames: usize,
) -> Option<Vec<Vec<u8>>> {
    let cur_pyr = pyramid(level(&smalls[ti], lw, lh));
    let maps: Vec<Option<Affine2>> = smalls
        .iter()
        .enumerate()
        .map(|(k, sm)| {
            if k == ti {
                return Some(Affine2::IDENTITY);
            }
            align::estimate(&cur_pyr, &pyramid(level(sm, lw, lh)), None).map(|(a, _)| a)
        })
        .collect();
    if maps.iter().flatten().count() < min_frames {
        return None;
    }
    let background = background(smalls, &maps, lw, lh);
    let (lo, hi) = envelope(&background, lw, lh, PARALLAX);
    let differences: Vec<Option<Vec<f32>>> = smalls
        .iter()
        .zip(&maps)
        .map(|(sm, map)| {
            let back = map.as_ref()?.inverse()?;
            Some(difference(sm, &back, &lo, &hi, lw, lh))
        })
        .collect();
    let mut current = differences[ti].clone()?;
    let threshold = (NOISE_K * median(&mut current)).max(MIN_STEP);
    Some(
        differences
            .iter()
            .map(|d| match d {
                None => vec![0u8; lw * lh],
                Some(d) => {
                    let raw: Vec<f32> = d.iter().map(|&v| (v > threshold) as u8 as f32).collect();
                    let opened = open(&raw, lw, OPENING);
                    let m: Vec<u8> = opened.iter().map(|&v| (v > 0.5) as u8).collect();
                    clean(&m, lw, lh, grow)
                }
            })
            .collect(),
    )
}

/// The window's background in the current frame's coordinates: per channel, the median of
/// what the aligned frames show (bilinear, unmatted samples only); `None` where fewer than
/// [`MIN_SAMPLES`] frames show a pixel.
fn background(
    smalls: &[Small],
    maps: &[Option<Affine2>],
    lw: usize,
    lh: usize,
) -> Vec<Option<[f32; 3]>> {
    let mut samples: Vec<[f32; 3]> = Vec::with_capacity(smalls.len());
    let mut channel = vec![0f32; smalls.len()];
    let mut out = Vec::with_capacity(lw * lh);
    for y in 0..lh {
        for x in 0..lw {
            samples.clear();
            for (sm, map) in smalls.iter().zip(maps) {
                let Some(map) = map else { continue };
                let (u, v) = map.apply(x as f64 + 0.5, y as f64 + 0.5);
                if let Some(p) = sample(sm, lw, lh, u, v) {
                    samples.push(p);
                }
            }
            if samples.len() < MIN_SAMPLES {
                out.push(None);
                continue;
            }
            let mut px = [0f32; 3];
            for c in 0..3 {
                let vals = &mut channel[..samples.len()];
                for (v, s) in vals.iter_mut().zip(&samples) {
                    *v = s[c];
                }
                px[c] = median(vals);
            }
            out.push(Some(px));
        }
    }
    out
}

/// Bilinear RGB of `sm` at continuous `(u, v)` (pixel centres at `i + 0.5`); `None` outside
/// the frame or where a matted pixel takes part.
fn sample(sm: &Small, lw: usize, lh: usize, u: f64, v: f64) -> Option<[f32; 3]> {
    let (fx, fy) = (u - 0.5, v - 0.5);
    if !(fx >= 0.0 && fy >= 0.0 && fx <= (lw - 1) as f64 && fy <= (lh - 1) as f64) {
        return None;
    }
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(lw - 1), (y0 + 1).min(lh - 1));
    let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
    let corners = [
        (y0 * lw + x0, (1.0 - wx) * (1.0 - wy)),
        (y0 * lw + x1, wx * (1.0 - wy)),
        (y1 * lw + x0, (1.0 - wx) * wy),
        (y1 * lw + x1, wx * wy),
    ];
    let mut out = [0f32; 3];
    for (i, wt) in corners {
        if sm.valid[i] < 0.5 {
            return None;
        }
        for c in 0..3 {
            out[c] += wt * full(sm.rgb[i][c]);
        }
    }
    Some(out)
}

/// Per channel, the least and greatest background value within `reach` pixels (a square);
/// unknown pixels take no part, and a pixel with no known neighbour gets an empty range
/// (low above high).
fn envelope(
    bg: &[Option<[f32; 3]>],
    w: usize,
    h: usize,
    reach: usize,
) -> (Vec<[f32; 3]>, Vec<[f32; 3]>) {
    let lo: Vec<[f32; 3]> = bg.iter().map(|p| p.unwrap_or([f32::INFINITY; 3])).collect();
    let hi: Vec<[f32; 3]> = bg
        .iter()
        .map(|p| p.unwrap_or([f32::NEG_INFINITY; 3]))
        .collect();
    let lo = square_extreme(&lo, w, h, reach, f32::min);
    let hi = square_extreme(&hi, w, h, reach, f32::max);
    (lo, hi)
}

/// `pick` (min or max) over a square of `reach` pixels around each pixel, per channel
/// (separable: rows, then columns).
fn square_extreme(
    v: &[[f32; 3]],
    w: usize,
    h: usize,
    reach: usize,
    pick: fn(f32, f32) -> f32,
) -> Vec<[f32; 3]> {
    let mut rows = v.to_vec();
    for y in 0..h {
        for x in 0..w {
            let mut acc = v[y * w + x];
            for xx in x.saturating_sub(reach)..(x + reach + 1).min(w) {
                for c in 0..3 {
                    acc[c] = pick(acc[c], v[y * w + xx][c]);
                }
            }
            rows[y * w + x] = acc;
        }
    }
    let mut out = rows.clone();
    for y in 0..h {
        for x in 0..w {
            let mut acc = rows[y * w + x];
            for yy in y.saturating_sub(reach)..(y + reach + 1).min(h) {
                for c in 0..3 {
                    acc[c] = pick(acc[c], rows[yy * w + x][c]);
                }
            }
            out[y * w + x] = acc;
        }
    }
    out
}

/// How far each pixel of `sm` lies outside the background's range where `back` (the frame's
/// coordinates to the current frame's) puts it: the largest channel's distance, 0 where the
/// background is unknown.
fn difference(
    sm: &Small,
    back: &Affine2,
    lo: &[[f32; 3]],
    hi: &[[f32; 3]],
    lw: usize,
    lh: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; lw * lh];
    for y in 0..lh {
        for x in 0..lw {
            let (u, v) = back.apply(x as f64 + 0.5, y as f64 + 0.5);
            let (bx, by) = (u.floor(), v.floor());
            if bx < 0.0 || by < 0.0 || bx >= lw as f64 || by >= lh as f64 {
                continue;
            }
            let j = by as usize * lw + bx as usize;
            let i = y * lw + x;
            let mut d = 0f32;
            for c in 0..3 {
                if lo[j][c] > hi[j][c] {
                    d = 0.0;
                    break;
                }
                let p = full(sm.rgb[i][c]);
                d = d.max(lo[j][c] - p).max(p - hi[j][c]);
            }
            out[i] = d;
        }
    }
    out
}

/// Opening (erode, then dilate) of a 0/1 matte by `radius` pixels.
fn open(m: &[f32], w: usize, radius: u32) -> Vec<f32> {
    let inv: Vec<f32> = m.iter().map(|v| 1.0 - v).collect();
    let eroded: Vec<f32> = dilate(&inv, w, radius).iter().map(|v| 1.0 - v).collect();
    dilate(&eroded, w, radius)
}
