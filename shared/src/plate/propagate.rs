//! Moving camera: each neighbour in the window is aligned to the current frame, every hole
//! pixel looks up where its background sits in the neighbour, and the candidates that agree
//! across the neighbours are kept.
//!
//! Alignment: a global affine ([`super::align`]) and, with a flow model, a per-pixel map
//! ([`super::flow`]): the model's flow where it is trusted, filled smoothly into the subject's
//! matte and wherever else it is not. The per-pixel map is then snapped to the nearest of the
//! parametric maps (the affine and one affine per depth layer of the background), which are
//! exact where the smooth fill is only close, and where it lies between two of them (filled
//! across a depth edge) both are tried. Each neighbour offers, for a hole pixel, its
//! background under those maps wherever no matte covers it there; where they all land on the
//! neighbour's own subject, it offers the other layers' maps instead, with less weight
//! ([`OTHER_LAYER`]). Of all the neighbours' candidates, the group that agrees within
//! [`AGREE`] with the most weight wins and its median is kept: a wrong map shows different
//! background in different neighbours, the right one shows the same. A group below
//! [`MIN_SUPPORT`] leaves the pixel to inpainting. Neighbours whose alignment does not fit
//! (robust RMS residual of the affine above [`MAX_RMS`], and the flow trusted on less than
//! [`MIN_TRUSTED`] of the background) offer nothing.
//!
//! Without a flow model only the global affine aligns the frames (started by a translation
//! search); a background at several depths is then rebuilt only where the affine holds.

use super::align::{Affine2, affine_from_map, estimate, pyramid};
use super::flow::{DenseMap, MAX_ROUND_TRIP, dense_map, flow_level, model_map};
use super::gather::{Crop, Span, bounding_box, gather};
use super::{HOLE_THRESHOLD, PlateOptions, ShotFrame, ShotSource, median_rgb, window_frames};
use crate::error::Result;

/// Largest robust RMS grey residual (0..1 scale) of a global alignment used on its own.
pub const MAX_RMS: f64 = 0.08;

/// Least share of the background where the flow must be trusted for its map to be used.
pub const MIN_TRUSTED: f64 = 0.3;

/// Largest per-channel difference between two candidates that agree.
pub const AGREE: f32 = 0.04;

/// Candidates a neighbour offers a pixel at most (see [`snapped`]: up to three, then the
/// other layers while there is room).
const PER_FRAME: usize = 5;

/// Weight in the vote of a layer's map that the per-pixel map does not point to.
pub const OTHER_LAYER: f32 = 0.35;

/// Least weight of a group of agreeing candidates that is used (one candidate of a map the
/// per-pixel map points to, or two of other layers' maps).
pub const MIN_SUPPORT: f32 = 0.6;

/// Farthest (level pixels) a layer's map may be from the per-pixel map to stand for it.
pub const SNAP: f64 = 4.0;

/// How one neighbour maps onto the current frame.
pub struct NeighbourMap {
    pub affine: Affine2,
    pub dense: Option<DenseMap>,
}

/// Aligns `nb` to `cur` (whose pyramid is `cur_pyr`); `None` when it does not fit.
pub fn align_neighbour(
    cur: &ShotFrame,
    cur_pyr: &[super::align::Level],
    nb: &ShotFrame,
    opts: &PlateOptions,
) -> Result<Option<NeighbourMap>> {
    let nb_pyr = pyramid(nb, 24);
    let mut start = None;
    let mut flow_map = None;
    if let Some(flow) = opts.flow {
        let level = flow_level(cur_pyr).min(nb_pyr.len() - 1);
        let (map, round_trip) = model_map(
            flow,
            cur,
            &cur_pyr[level],
            nb,
            &nb_pyr[level],
            level,
            opts.frame_colour,
        )?;
        start = affine_from_map(&cur_pyr[level], (1u64 << level) as f64, &map, |i| {
            round_trip[i] <= MAX_ROUND_TRIP
        });
        flow_map = Some((level, map, round_trip));
    }
    let Some((affine, rms)) = estimate(cur_pyr, &nb_pyr, start) else {
        return Ok(None);
    };
    let dense = flow_map
        .map(|(level, map, rt)| {
            dense_map(&cur_pyr[level], &nb_pyr[level], level, &map, &rt, &affine)
        })
        .filter(|d| d.trusted >= MIN_TRUSTED);
    if dense.is_none() && rms > MAX_RMS {
        return Ok(None);
    }
    Ok(Some(NeighbourMap { affine, dense }))
}

/// Propagation fill of the `open` pixels of frame `t` (see [`super::median::fill`]).
pub fn fill(
    source: &dyn ShotSource,
    t: i32,
    current: &ShotFrame,
    open: &[usize],
    opts: &PlateOptions,
) -> Result<Vec<Option<[f32; 3]>>> {
    let frames: Vec<i32> = window_frames(t, opts.window, source.range())
        .into_iter()
        .filter(|&k| k != t)
        .collect();
    let cur_pyr = pyramid(current, 24);
    let w = current.image.width() as usize;
    let h = current.image.height() as usize;
    let hole_box = bounding_box(open, w);
    gather(
        source,
        t,
        current,
        &frames,
        open,
        opts,
        PER_FRAME,
        |cur, nb| align_neighbour(cur, &cur_pyr, nb, opts),
        |state: &Option<NeighbourMap>| match state {
            Some(m) => reach(m, hole_box),
            None => Span {
                x0: 0,
                y0: 0,
                x1: 0,
                y1: 0,
            },
        },
        |state: &Option<NeighbourMap>, frame: &Crop, i, out| {
            let Some(m) = state.as_ref() else {
                return 0;
            };
            let (x, y) = ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5);
            let (ax, ay) = m.affine.apply(x, y);
            let mut n = 0;
            let mut offer = |p: (f64, f64), weight: f32| {
                if n < out.len()
                    && let Some(rgb) = sample_clear(frame, w, h, p.0, p.1)
                {
                    out[n] = [rgb[0], rgb[1], rgb[2], weight];
                    n += 1;
                    return true;
                }
                false
            };
            match &m.dense {
                Some(d) => {
                    let r = d.residual_at(x, y);
                    let target = (ax + r[0] as f64, ay + r[1] as f64);
                    let first = snapped(target, x, y, &m.affine, d);
                    let mut shown = false;
                    for &(p, weight) in &first {
                        shown |= offer(p, weight);
                    }
                    // Where those show this neighbour's subject, the other layers, weaker.
                    if shown {
                        return n;
                    }
                    for a in std::iter::once(&m.affine).chain(d.layers.iter()) {
                        let p = a.apply(x, y);
                        if first
                            .iter()
                            .all(|(f, _)| (f.0 - p.0).hypot(f.1 - p.1) > 0.5)
                        {
                            offer(p, OTHER_LAYER);
                        }
                    }
                }
                None => {
                    offer((ax, ay), 1.0);
                }
            }
            n
        },
        consensus,
    )
}

/// Where pixel `(x, y)` is looked up in a neighbour first, with the weight of each in the
/// vote: the layer map (the global affine or one of the background's layers) nearest to the
/// per-pixel map's `target`, and the second nearest too, weaker, when the per-pixel map lies
/// about as close to it (between two layers, as where it was filled across a depth edge); the
/// per-pixel target itself too when no layer comes within [`SNAP`] level pixels of it.
fn snapped(
    target: (f64, f64),
    x: f64,
    y: f64,
    affine: &Affine2,
    d: &DenseMap,
) -> Vec<((f64, f64), f32)> {
    let mut maps: Vec<(f64, (f64, f64))> = std::iter::once(affine)
        .chain(d.layers.iter())
        .map(|a| {
            let p = a.apply(x, y);
            ((p.0 - target.0).hypot(p.1 - target.1), p)
        })
        .collect();
    maps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (best, p0) = maps[0];
    let mut out = if best > SNAP * d.scale {
        vec![(target, 1.0), (p0, 1.0)]
    } else {
        vec![(p0, 1.0)]
    };
    if let Some(&(second, p1)) = maps.get(1)
        && second <= 3.0 * best + 2.0 * d.scale
        && (p1.0 - p0.0).hypot(p1.1 - p0.1) > 0.5
    {
        out.push((p1, 0.7));
    }
    out
}

/// The median of the group of candidates that agree within [`AGREE`] with the most weight
/// (reorders them); `None` when no group weighs [`MIN_SUPPORT`].
pub fn consensus(s: &mut [[f32; 4]]) -> Option<[f32; 3]> {
    let n = s.len();
    let close = |a: &[f32; 4], b: &[f32; 4]| (0..3).all(|c| (a[c] - b[c]).abs() <= AGREE);
    let mut best = (0f32, 0usize);
    for i in 0..n {
        let score: f32 = (0..n)
            .filter(|&j| close(&s[i], &s[j]))
            .map(|j| s[j][3])
            .sum();
        if score > best.0 {
            best = (score, i);
        }
    }
    if n == 0 || best.0 < MIN_SUPPORT {
        return None;
    }
    let centre = s[best.1];
    let mut k = 0;
    for j in 0..n {
        if close(&centre, &s[j]) {
            s.swap(k, j);
            k += 1;
        }
    }
    median_rgb(&mut s[..k])
}

/// The span of a neighbour that the hole `hole` reaches through its maps: the box's corners
/// under the affine and every layer, grown by the per-pixel residual's largest length and a
/// pixel for the bilinear taps.
fn reach(m: &NeighbourMap, hole: Span) -> Span {
    if hole.x1 <= hole.x0 {
        return hole;
    }
    let mut maps = vec![m.affine];
    let mut grow = 2.0;
    if let Some(d) = &m.dense {
        maps.extend(d.layers.iter().copied());
        grow += d
            .residual
            .iter()
            .map(|r| r[0].abs().max(r[1].abs()))
            .fold(0.0f32, f32::max) as f64;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for a in &maps {
        for (x, y) in [
            (hole.x0, hole.y0),
            (hole.x1, hole.y0),
            (hole.x0, hole.y1),
            (hole.x1, hole.y1),
        ] {
            let (u, v) = a.apply(x as f64, y as f64);
            x0 = x0.min(u);
            y0 = y0.min(v);
            x1 = x1.max(u);
            y1 = y1.max(v);
        }
    }
    let lo = |v: f64| (v - grow).floor().max(0.0) as usize;
    let hi = |v: f64| (v + grow).ceil().max(0.0) as usize;
    Span {
        x0: lo(x0),
        y0: lo(y0),
        x1: hi(x1),
        y1: hi(y1),
    }
}

/// Bilinear RGB of a neighbour (its crop) at continuous `(x, y)` when all four taps are inside
/// the frame and unmatted.
fn sample_clear(frame: &Crop, w: usize, h: usize, x: f64, y: f64) -> Option<[f32; 3]> {
    let fx = x - 0.5;
    let fy = y - 0.5;
    if !(fx >= 0.0 && fy >= 0.0 && fx <= (w - 1) as f64 && fy <= (h - 1) as f64) {
        return None;
    }
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (wx, wy) = ((fx - x0 as f64) as f32, (fy - y0 as f64) as f32);
    let taps = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)];
    let weights = [
        (1.0 - wx) * (1.0 - wy),
        wx * (1.0 - wy),
        (1.0 - wx) * wy,
        wx * wy,
    ];
    let mut out = [0f32; 3];
    for (&(tx, ty), &wt) in taps.iter().zip(&weights) {
        if wt <= 0.0 {
            continue;
        }
        let p = frame.at(tx, ty)?;
        if p[3] > HOLE_THRESHOLD {
            return None;
        }
        for c in 0..3 {
            out[c] += wt * p[c];
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::median::tests::{MemShot, background, opts};
    use crate::plate::{Method, build};

    #[test]
    fn a_panning_shot_is_rebuilt_from_its_neighbours() {
        let (w, h) = (96, 64);
        let bounds = Rect::from_size(w, h);
        // The camera pans 3 px a frame; a square moves 6 px a frame the other way on screen.
        let frames: Vec<ShotFrame> = (0..8)
            .map(|t| {
                let sq =
                    |x: i32, y: i32| x >= 64 - 6 * t && x < 80 - 6 * t && (20..40).contains(&y);
                ShotFrame {
                    image: FloatImage::from_fn(bounds, |x, y| {
                        if sq(x, y) {
                            [0.9, 0.1, 0.1, 1.0]
                        } else {
                            background((x + 3 * t) as f32, y as f32)
                        }
                    }),
                    matte: bounds
                        .pixels()
                        .map(|(x, y)| if sq(x, y) { 1.0 } else { 0.0 })
                        .collect(),
                }
            })
            .collect();
        let shot = MemShot(frames);
        let t = 4;
        let plate = build(&shot, t, &opts(Method::Propagate, 8)).unwrap();
        let mut worst = 0f32;
        let mut n = 0;
        for (i, (x, y)) in bounds.pixels().enumerate() {
            if !plate.hole[i] {
                continue;
            }
            n += 1;
            let b = background((x + 3 * t) as f32, y as f32);
            for c in 0..3 {
                worst = worst.max((plate.image.data[4 * i + c] - b[c]).abs());
            }
            assert_eq!(plate.confidence[i], 1.0);
        }
        assert_eq!(n, 16 * 20);
        assert!(worst < 0.01, "worst {worst}");
    }

    #[test]
    fn consensus_keeps_the_group_that_agrees() {
        let mut s = vec![
            [0.9, 0.1, 0.1, 1.0],
            [0.5, 0.5, 0.5, 1.0],
            [0.2, 0.7, 0.3, 1.0],
            [0.51, 0.5, 0.49, 1.0],
            [0.5, 0.52, 0.5, 1.0],
        ];
        let c = consensus(&mut s).unwrap();
        assert!(
            (c[0] - 0.5).abs() < 0.011 && (c[1] - 0.5).abs() < 0.021,
            "{c:?}"
        );
        assert!(consensus(&mut []).is_none());
        // One weak candidate alone is not enough; two that agree are.
        assert!(consensus(&mut [[0.3, 0.3, 0.3, OTHER_LAYER]]).is_none());
        let two = consensus(&mut [[0.3, 0.3, 0.3, OTHER_LAYER], [0.31, 0.3, 0.3, OTHER_LAYER]]);
        assert!(two.is_some());
    }
}
