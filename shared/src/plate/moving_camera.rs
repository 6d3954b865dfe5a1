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
//! 5. With an automatic person matte (`PlateOptions::mattes_mark_people`), only movers that
//!    a person matte touches somewhere in the window are kept: a region of moving pixels is a
//!    person's when it overlaps its frame's matte, or overlaps (in the current frame's
//!    coordinates) a person's region of the frame before or after. So legs that the person
//!    models see in a few frames only are taken out in all of them, while a passing car, a
//!    reflection or parallax the alignment missed stays. Without person mattes every mover
//!    is kept.
//!
//! Each frame's matte comes from the same background, so the neighbours that `propagate`
//! carries into the hole have their own movers left out too. Sequential and a function of the
//! window's frames only: the same at any thread count and render order.

use super::align::{self, Affine2, Level};
use super::dilate;
use super::gather::full;
use super::motion::{NOISE_K, Small, clean, level, median, pyramid, regions};

/// A background pixel needs this many aligned frames that show it.
pub const MIN_SAMPLES: usize = 3;
/// Reach (working pixels) of the background colours a pixel is compared with.
pub const PARALLAX: usize = 2;
/// Blocks of this many pixels of the half-size level get their own shift over the affine.
pub const BLOCK: usize = 8;
/// Largest local shift searched, in pixels of the half-size level (every second shift, then
/// the ones around the best of those): a near post's parallax against a far wall reaches
/// about 10 working pixels over a 30-frame window of a slow drift.
pub const LOCAL_REACH: i32 = 6;
/// A block's shift must match at most this share of the difference with no shift...
pub const CLEARLY_BETTER: f32 = 0.8;
/// ...and within this many times the frame's typical block difference, plus
/// [`MATCH_FLOOR`] (grey, 0..1).
pub const MATCH_K: f32 = 4.0;
pub const MATCH_FLOOR: f32 = 1.0 / 255.0;
/// The smallest difference (0..1) that counts as motion under a moving camera; aligned frames
/// are resampled, so this is above the fixed camera's step.
pub const MIN_STEP: f32 = 10.0 / 255.0;
/// Opening radius (working pixels) that removes slivers along edges.
pub const OPENING: u32 = 2;

/// The moving pixels of each frame of the window (`smalls`, in window order; `ti` is the
/// current frame), grown by `grow` working pixels; `None` when fewer than `min_frames`
/// frames could be aligned. `with_person`: the frames' mattes mark people, and only movers
/// that a matte touches somewhere in the window are kept ([`touching_a_person`]).
pub(super) fn mattes(
    smalls: &[Small],
    ti: usize,
    lw: usize,
    lh: usize,
    grow: u32,
    min_frames: usize,
    with_person: bool,
) -> Option<Vec<Vec<u8>>> {
    let cur_pyr = pyramid(level(&smalls[ti], lw, lh));
    let warps: Vec<Option<Warp>> = smalls
        .iter()
        .enumerate()
        .map(|(k, sm)| {
            if k == ti {
                return Some(Warp::still(lw, lh));
            }
            let pyr = pyramid(level(sm, lw, lh));
            // Fitted on the half-size levels (the block shifts and the parallax reach take up
            // the rest), a quarter of the work of the full level.
            let fine = usize::from(cur_pyr.len() > 1 && pyr.len() > 1);
            let (affine, _) = align::estimate(&cur_pyr[fine..], &pyr[fine..], None)?;
            let affine = affine.rescaled((1 << fine) as f64);
            Some(Warp::matched(affine, &cur_pyr, &pyr))
        })
        .collect();
    if warps.iter().flatten().count() < min_frames {
        return None;
    }
    let background = background(smalls, &warps, lw, lh);
    let (lo, hi) = envelope(&background, lw, lh, PARALLAX);
    let differences: Vec<Option<Vec<f32>>> = smalls
        .iter()
        .zip(&warps)
        .map(|(sm, warp)| Some(difference(sm, warp.as_ref()?, &lo, &hi, lw, lh)))
        .collect();
    let mut current = differences[ti].clone()?;
    let threshold = (NOISE_K * median(&mut current)).max(MIN_STEP);
    let moving: Vec<Option<Vec<u8>>> = differences
        .iter()
        .map(|d| {
            let raw: Vec<f32> = d
                .as_ref()?
                .iter()
                .map(|&v| (v > threshold) as u8 as f32)
                .collect();
            let opened = open(&raw, lw, OPENING);
            let m: Vec<u8> = opened.iter().map(|&v| (v > 0.5) as u8).collect();
            Some(clean(&m, lw, lh, 0))
        })
        .collect();
    let moving = if with_person {
        touching_a_person(smalls, &warps, &moving, lw, lh)
    } else {
        moving
    };
    Some(
        moving
            .into_iter()
            .map(|m| match m {
                None => vec![0u8; lw * lh],
                Some(m) => {
                    let f: Vec<f32> = m.iter().map(|&v| v as f32).collect();
                    dilate(&f, lw, grow)
                        .iter()
                        .map(|&v| (v > 0.5) as u8)
                        .collect()
                }
            })
            .collect(),
    )
}

/// Of each frame's moving regions, those that belong to a mover some frame's matte touches.
/// The frames' moving pixels are carried into the current frame's coordinates and split into
/// regions; a region overlapping its frame's matte is a person's, and so is every region of
/// the previous or next frame that it overlaps, and so on through the window. The rest (a
/// reflection, a passing car, parallax the alignment missed) is dropped.
fn touching_a_person(
    smalls: &[Small],
    warps: &[Option<Warp>],
    moving: &[Option<Vec<u8>>],
    lw: usize,
    lh: usize,
) -> Vec<Option<Vec<u8>>> {
    // Each frame's moving pixels and matte in the current frame's coordinates.
    let carried: Vec<Option<(Vec<u8>, Vec<bool>)>> = smalls
        .iter()
        .zip(warps)
        .zip(moving)
        .map(|((sm, warp), m)| {
            let (warp, m) = (warp.as_ref()?, m.as_ref()?);
            let mut moves = vec![0u8; lw * lh];
            let mut matted = vec![false; lw * lh];
            for y in 0..lh {
                for x in 0..lw {
                    let (u, v) = warp.apply(x as f64 + 0.5, y as f64 + 0.5);
                    let (u, v) = (u.floor(), v.floor());
                    if u < 0.0 || v < 0.0 || u >= lw as f64 || v >= lh as f64 {
                        continue;
                    }
                    let j = v as usize * lw + u as usize;
                    moves[y * lw + x] = m[j];
                    matted[y * lw + x] = sm.valid[j] < 0.5;
                }
            }
            Some((moves, matted))
        })
        .collect();
    // Regions per frame: a region id per pixel (usize::MAX: not moving) and whether the matte
    // touches each region.
    let mut ids: Vec<Vec<usize>> = Vec::with_capacity(carried.len());
    let mut first_id = Vec::with_capacity(carried.len());
    let mut seeded: Vec<bool> = Vec::new();
    for c in &carried {
        let mut id = vec![usize::MAX; lw * lh];
        first_id.push(seeded.len());
        if let Some((moves, matted)) = c {
            for (region, _) in regions(moves, lw, lh, 1, true) {
                let touched = region.iter().any(|&i| matted[i]);
                for &i in &region {
                    id[i] = seeded.len();
                }
                seeded.push(touched);
            }
        }
        ids.push(id);
    }
    // Regions of neighbouring frames that overlap are one mover: spread the seeds both ways
    // until nothing changes.
    let mut links: Vec<Vec<usize>> = vec![Vec::new(); seeded.len()];
    for k in 1..ids.len() {
        for i in 0..lw * lh {
            let (a, b) = (ids[k - 1][i], ids[k][i]);
            if a != usize::MAX && b != usize::MAX && !links[a].contains(&b) {
                links[a].push(b);
                links[b].push(a);
            }
        }
    }
    let mut kept = seeded.clone();
    let mut stack: Vec<usize> = (0..kept.len()).filter(|&r| kept[r]).collect();
    while let Some(r) = stack.pop() {
        for &n in &links[r] {
            if !kept[n] {
                kept[n] = true;
                stack.push(n);
            }
        }
    }
    // Back in each frame's own coordinates: a moving pixel stays when the current frame's
    // pixel it maps to is in a kept region of that frame.
    moving
        .iter()
        .zip(warps)
        .zip(&ids)
        .map(|((m, warp), id)| {
            let (m, warp) = (m.as_ref()?, warp.as_ref()?);
            let back = warp.affine.inverse()?;
            let mut out = vec![0u8; lw * lh];
            for y in 0..lh {
                for x in 0..lw {
                    if m[y * lw + x] == 0 {
                        continue;
                    }
                    let (u, v) = back.apply(x as f64 + 0.5, y as f64 + 0.5);
                    let [sx, sy] = warp.shift_at(u, v);
                    let (u, v) = ((u - sx as f64).floor(), (v - sy as f64).floor());
                    if u < 0.0 || v < 0.0 || u >= lw as f64 || v >= lh as f64 {
                        continue;
                    }
                    let r = id[v as usize * lw + u as usize];
                    if r != usize::MAX && kept[r] {
                        out[y * lw + x] = 1;
                    }
                }
            }
            Some(out)
        })
        .collect()
}

/// The window's background in the current frame's coordinates: per channel, the median of
/// what the aligned frames show (bilinear, unmatted samples only); `None` where fewer than
/// [`MIN_SAMPLES`] frames show a pixel.
fn background(
    smalls: &[Small],
    warps: &[Option<Warp>],
    lw: usize,
    lh: usize,
) -> Vec<Option<[f32; 3]>> {
    let mut samples: Vec<[f32; 3]> = Vec::with_capacity(smalls.len());
    let mut channel = vec![0f32; smalls.len()];
    let mut out = Vec::with_capacity(lw * lh);
    for y in 0..lh {
        for x in 0..lw {
            samples.clear();
            for (sm, warp) in smalls.iter().zip(warps) {
                let Some(warp) = warp else { continue };
                let (u, v) = warp.apply(x as f64 + 0.5, y as f64 + 0.5);
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
    let rows = line_extreme(v, w, h, reach, pick, true);
    line_extreme(&rows, w, h, reach, pick, false)
}

/// `pick` over the `reach` pixels each side along rows (`along_rows`) or along columns.
fn line_extreme(
    v: &[[f32; 3]],
    w: usize,
    h: usize,
    reach: usize,
    pick: fn(f32, f32) -> f32,
    along_rows: bool,
) -> Vec<[f32; 3]> {
    let mut out = v.to_vec();
    for y in 0..h {
        for x in 0..w {
            let (at, len, stride) = if along_rows { (x, w, 1) } else { (y, h, w) };
            let start = y * w + x - at * stride;
            let mut acc = v[y * w + x];
            for k in at.saturating_sub(reach)..(at + reach + 1).min(len) {
                for c in 0..3 {
                    acc[c] = pick(acc[c], v[start + k * stride][c]);
                }
            }
            out[y * w + x] = acc;
        }
    }
    out
}

/// How far each pixel of `sm` lies outside the background's range where `warp` (the current
/// frame's coordinates to this frame's) takes it back: the largest channel's distance, 0 where
/// the background is unknown or the warp cannot be undone.
fn difference(
    sm: &Small,
    warp: &Warp,
    lo: &[[f32; 3]],
    hi: &[[f32; 3]],
    lw: usize,
    lh: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; lw * lh];
    let Some(back) = warp.affine.inverse() else {
        return out;
    };
    for y in 0..lh {
        for x in 0..lw {
            let (u, v) = back.apply(x as f64 + 0.5, y as f64 + 0.5);
            // The local shift is small and smooth: taken where the affine alone lands.
            let [sx, sy] = warp.shift_at(u, v);
            let (u, v) = (u - sx as f64, v - sy as f64);
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

/// Where a window frame shows a pixel of the current frame: the frame's affine, plus a shift
/// per block found by matching (the near and far parts of a scene move differently when the
/// camera travels), interpolated between block centres.
struct Warp {
    affine: Affine2,
    /// Block grid: columns, rows, block size (working pixels) and shift (working pixels).
    cols: usize,
    rows: usize,
    size: f64,
    shifts: Vec<[f32; 2]>,
}

impl Warp {
    /// The current frame itself.
    fn still(lw: usize, lh: usize) -> Warp {
        Warp {
            affine: Affine2::IDENTITY,
            cols: 1,
            rows: 1,
            size: lw.max(lh) as f64,
            shifts: vec![[0.0; 2]],
        }
    }

    /// `affine` refined per block on the half-size levels of both pyramids (level 1).
    fn matched(affine: Affine2, cur_pyr: &[Level], pyr: &[Level]) -> Warp {
        let (Some(cur), Some(nb)) = (cur_pyr.get(1), pyr.get(1)) else {
            return Warp {
                affine,
                ..Warp::still(cur_pyr[0].w, cur_pyr[0].h)
            };
        };
        let half = affine.rescaled(0.5);
        let (cols, rows) = (cur.w.div_ceil(BLOCK), cur.h.div_ceil(BLOCK));
        let mut found = Vec::with_capacity(cols * rows);
        for by in 0..rows {
            for bx in 0..cols {
                found.push(block_shift(cur, nb, &half, bx * BLOCK, by * BLOCK));
            }
        }
        // A shift counts only where it really matches: not where something moves in either
        // frame, which no shift matches well.
        let mut costs: Vec<f32> = found.iter().filter_map(|f| f.map(|f| f.cost)).collect();
        let typical = if costs.is_empty() {
            0.0
        } else {
            median(&mut costs)
        };
        // Half-size pixels to working pixels.
        let shifts = found
            .iter()
            .map(|f| match f {
                Some(f) if f.cost <= MATCH_K * typical + MATCH_FLOOR => {
                    [2.0 * f.shift[0], 2.0 * f.shift[1]]
                }
                _ => [0.0; 2],
            })
            .collect();
        Warp {
            affine,
            cols,
            rows,
            size: (2 * BLOCK) as f64,
            shifts,
        }
    }

    /// The block shift at working coordinates `(x, y)` (bilinear between block centres).
    fn shift_at(&self, x: f64, y: f64) -> [f32; 2] {
        let fx = (x / self.size - 0.5).clamp(0.0, (self.cols - 1) as f64);
        let fy = (y / self.size - 0.5).clamp(0.0, (self.rows - 1) as f64);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.cols - 1), (y0 + 1).min(self.rows - 1));
        let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
        let at = |x: usize, y: usize| self.shifts[y * self.cols + x];
        let mut out = [0f32; 2];
        for c in 0..2 {
            let top = at(x0, y0)[c] * (1.0 - wx) + at(x1, y0)[c] * wx;
            let bottom = at(x0, y1)[c] * (1.0 - wx) + at(x1, y1)[c] * wx;
            out[c] = top * (1.0 - wy) + bottom * wy;
        }
        out
    }

    /// Where the frame shows the current frame's working point `(x, y)`.
    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let (u, v) = self.affine.apply(x, y);
        let [sx, sy] = self.shift_at(x, y);
        (u + sx as f64, v + sy as f64)
    }
}

/// A block's best shift over the affine and how well it matches.
#[derive(Clone, Copy)]
struct BlockMatch {
    shift: [f32; 2],
    /// Mean absolute grey difference at that shift.
    cost: f32,
}

/// The integer shift (half-size pixels, within [`LOCAL_REACH`], searched coarse to fine) over
/// `affine` that best
/// matches the block at `(x0, y0)` of `cur` in `nb` (mean absolute grey difference over the
/// pixels valid in both), or `None` where too few pixels are valid; no shift unless it
/// matches clearly better than none.
fn block_shift(
    cur: &Level,
    nb: &Level,
    affine: &Affine2,
    x0: usize,
    y0: usize,
) -> Option<BlockMatch> {
    let pixels: Vec<(usize, (f64, f64))> = (y0..(y0 + BLOCK).min(cur.h))
        .flat_map(|y| (x0..(x0 + BLOCK).min(cur.w)).map(move |x| (x, y)))
        .filter(|&(x, y)| cur.valid[y * cur.w + x] > 0.5)
        .map(|(x, y)| (y * cur.w + x, affine.apply(x as f64 + 0.5, y as f64 + 0.5)))
        .collect();
    if pixels.len() < BLOCK * BLOCK / 2 {
        return None;
    }
    let cost = |dx: i32, dy: i32| -> Option<f32> {
        let (mut sum, mut n) = (0f32, 0usize);
        for &(i, (u, v)) in &pixels {
            let (u, v) = (u + dx as f64, v + dy as f64);
            if nb.sample(&nb.valid, u, v).is_some_and(|ok| ok > 0.99) {
                let g = nb.sample(&nb.grey, u, v).expect("inside, as valid was");
                sum += (cur.grey[i] - g).abs();
                n += 1;
            }
        }
        (2 * n >= pixels.len()).then(|| sum / n as f32)
    };
    let still = cost(0, 0)?;
    let mut best = BlockMatch {
        shift: [0.0; 2],
        cost: still,
    };
    // Every second shift within the reach (step 2), then the shifts around the best of
    // those (step 1).
    let mut centre = [0i32; 2];
    for (reach, step) in [(LOCAL_REACH, 2), (1, 1)] {
        for dy in (-reach..=reach).step_by(step) {
            for dx in (-reach..=reach).step_by(step) {
                let (dx, dy) = (centre[0] + dx, centre[1] + dy);
                if dx.abs() > LOCAL_REACH || dy.abs() > LOCAL_REACH {
                    continue;
                }
                if let Some(c) = cost(dx, dy)
                    && c < best.cost
                {
                    best = BlockMatch {
                        shift: [dx as f32, dy as f32],
                        cost: c,
                    };
                }
            }
        }
        centre = best.shift.map(|v| v as i32);
    }
    if best.cost < CLEARLY_BETTER * still {
        Some(best)
    } else {
        Some(BlockMatch {
            shift: [0.0; 2],
            cost: still,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_extremes_match_a_direct_search() {
        let (w, h, reach) = (7, 5, 2);
        let v: Vec<[f32; 3]> = (0..w * h)
            .map(|i| {
                let a = ((i * 37 + 11) % 23) as f32;
                [a, 23.0 - a, ((i * 7) % 5) as f32]
            })
            .collect();
        for (pick, name) in [(f32::min as fn(f32, f32) -> f32, "min"), (f32::max, "max")] {
            let got = square_extreme(&v, w, h, reach, pick);
            for y in 0..h {
                for x in 0..w {
                    for c in 0..3 {
                        let mut want = v[y * w + x][c];
                        for yy in y.saturating_sub(reach)..(y + reach + 1).min(h) {
                            for xx in x.saturating_sub(reach)..(x + reach + 1).min(w) {
                                want = pick(want, v[yy * w + xx][c]);
                            }
                        }
                        assert_eq!(got[y * w + x][c], want, "{name} at ({x}, {y}) channel {c}");
                    }
                }
            }
        }
    }
}
