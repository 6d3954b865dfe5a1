//! The built-in fill for background no frame shows: texture synthesis by multi-scale
//! PatchMatch (expectation-maximisation over patches, coarse to fine).
//!
//! 1. A pyramid of the frame down to the level where the hole is a few patches across (a coarse
//!    pixel is a hole pixel when any of its four fine pixels is). Known pixels are 2x2 means of
//!    the known fine pixels.
//! 2. At the coarsest level the hole starts from a smooth membrane (push-pull diffusion), then
//!    rounds of: nearest-neighbour patches for every hole pixel among the patches wholly
//!    outside the hole ([`PATCH_R`]; PatchMatch propagation and random search), then each hole
//!    pixel becomes the weighted mean of what the patches covering it put there.
//! 3. Each finer level carries the coarser level's matches over at twice the offset and
//!    starts from those matches' own pixels at its size (matched against enlarged, blurred
//!    colours, the smoothest patches of the frame would win), then runs fewer rounds. Sources
//!    lie within [`REACH_DEPTHS`] hole depths of the pixel they fill: the background next to
//!    the hole, at the same distance from the camera.
//! 4. At full size each hole pixel takes the centre of the best patch carried from the level
//!    above, so the fill has the grain of the real background rather than the blur of a mean
//!    of many patches; then the fill's lowest band (the coarsest level's) is replaced by the
//!    smooth membrane's, so that its shading meets the hole's border without a step.
//!
//! Deterministic: every random draw comes from a generator seeded by the pixel's position,
//! the level, the round and the pass, and the passes visit pixels in scan order. So the same
//! hole over the same background is filled the same way in consecutive frames, whatever else
//! of the frame changed, and at any thread count.

use super::inpaint::push_pull;

/// Patch half-size: patches are (2 R + 1) pixels square.
pub const PATCH_R: i32 = 3;
/// The coarsest level keeps at least this many pixels on its short side.
const COARSE_SIDE: usize = 24;
/// Coarsen while the hole's deepest pixel is farther than this from the known pixels.
const COARSE_DEPTH: f32 = 4.0 * PATCH_R as f32;
/// Pixels between a source patch and the hole (a matte edge that missed a fringe of the
/// subject should not become a source).
const SOURCE_MARGIN: usize = 2;

/// Source patches lie within this many times the hole's depth (its deepest pixel's distance
/// from the known pixels) of the pixel they fill...
pub const REACH_DEPTHS: f32 = 4.0;
/// ...and at least this many pixels (at every level).
const MIN_REACH: f32 = 16.0;

/// One level of the pyramid.
struct Level {
    w: usize,
    h: usize,
    rgb: Vec<[f32; 3]>,
    hole: Vec<bool>,
}

impl Level {
    /// Half size: means of the known pixels of each 2x2 block; a hole where any of them is.
    fn half(&self) -> Level {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut rgb = vec![[0f32; 3]; w * h];
        let mut hole = vec![false; w * h];
        for y in 0..h {
            for x in 0..w {
                let (mut s, mut n) = ([0f32; 3], 0f32);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let i = (2 * y + dy) * self.w + 2 * x + dx;
                    if self.hole[i] {
                        hole[y * w + x] = true;
                    } else {
                        for c in 0..3 {
                            s[c] += self.rgb[i][c];
                        }
                        n += 1.0;
                    }
                }
                if n > 0.0 {
                    rgb[y * w + x] = s.map(|v| v / n);
                }
            }
        }
        Level { w, h, rgb, hole }
    }
}

/// A small generator for the random draws, seeded per pixel and step (splitmix64).
struct Rng(u64);

impl Rng {
    fn seeded(pixel: usize, level: usize, round: usize, pass: usize) -> Rng {
        let key = (pixel as u64)
            ^ ((level as u64) << 40)
            ^ ((round as u64) << 48)
            ^ ((pass as u64) << 56);
        Rng(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in `-r..=r`.
    fn offset(&mut self, r: i32) -> i32 {
        self.below(2 * r as usize + 1) as i32 - r
    }
}

/// Fills the `hole` pixels of `rgb` (`w` x `h`, rows in order) with texture from the rest.
/// Nothing changes where no patch lies wholly outside the hole at full size.
pub fn fill(rgb: &mut [[f32; 3]], hole: &[bool], w: usize, h: usize) {
    if !hole.iter().any(|&u| u) || hole.iter().all(|&u| u) {
        return;
    }
    let depth = super::inpaint::distance(hole, w, h)
        .into_iter()
        .fold(0.0, f32::max);
    let mut levels = vec![Level {
        w,
        h,
        rgb: rgb.to_vec(),
        hole: hole.to_vec(),
    }];
    let mut d = depth;
    while d > COARSE_DEPTH && w.min(h) >> levels.len() >= COARSE_SIDE {
        let next = levels.last().expect("a level").half();
        levels.push(next);
        d /= 2.0;
    }
    let top = levels.len() - 1;
    let mut nnf: Vec<usize> = Vec::new();
    let mut membrane = Vec::new();
    for l in (0..=top).rev() {
        let (coarser, finer) = levels.split_at_mut(l + 1);
        let level = &mut coarser[l];
        let sources = source_mask(level);
        if l == top {
            let known: Vec<bool> = level.hole.iter().map(|u| !u).collect();
            level.rgb = push_pull(&level.rgb, &known, level.w, level.h);
            membrane = level.rgb.clone();
        } else {
            enlarge_colours(&finer[0], level);
        }
        let prior = (l < top).then(|| (&finer[0], nnf.as_slice()));
        let rounds = if l == top {
            6
        } else if l == 0 {
            0
        } else {
            3
        };
        // Sources within a few hole depths: the background next to the hole, at the same
        // distance from the camera, rather than anything that matches anywhere.
        let reach = (REACH_DEPTHS * depth / (1u32 << l) as f32).max(MIN_REACH) as i32;
        nnf = match_and_vote(level, &sources, prior, l, rounds, reach);
        if l == 0 {
            copy_centres(level, &sources, &nnf);
        }
    }
    if top > 0 {
        let coarsest = (levels[top].w, levels[top].h);
        take_low_band(&mut levels[0], &membrane, coarsest, top);
    }
    let base = &levels[0];
    for (i, p) in rgb.iter_mut().enumerate() {
        if hole[i] {
            *p = base.rgb[i];
        }
    }
}

/// Replaces the lowest band of the fill (what the coarsest level, `top` halvings down, holds)
/// with that of the smooth membrane there (`membrane`, `coarse` its size): the texture and
/// edges stay, the patches' overall shading gives way to the smooth blend of the hole's
/// border, which meets the background around the hole without a step and guesses the hidden
/// colours no worse than a mean of the border.
fn take_low_band(level: &mut Level, membrane: &[[f32; 3]], coarse: (usize, usize), top: usize) {
    let (cw, ch) = coarse;
    let mut down = Level {
        w: level.w,
        h: level.h,
        rgb: level.rgb.clone(),
        hole: vec![false; level.w * level.h],
    };
    for _ in 0..top {
        down = down.half();
    }
    let diff: Vec<[f32; 3]> = membrane
        .iter()
        .zip(&down.rgb)
        .map(|(m, d)| [m[0] - d[0], m[1] - d[1], m[2] - d[2]])
        .collect();
    let s = (1usize << top) as f32;
    for y in 0..level.h {
        for x in 0..level.w {
            let i = y * level.w + x;
            if !level.hole[i] {
                continue;
            }
            let fx = ((x as f32 + 0.5) / s - 0.5).clamp(0.0, (cw - 1) as f32);
            let fy = ((y as f32 + 0.5) / s - 0.5).clamp(0.0, (ch - 1) as f32);
            let (x0, y0) = (fx as usize, fy as usize);
            let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let p = |xx: usize, yy: usize| diff[yy * cw + xx][c];
                let b = p(x0, y0) + ax * (p(x1, y0) - p(x0, y0));
                let t = p(x0, y1) + ax * (p(x1, y1) - p(x0, y1));
                level.rgb[i][c] += b + ay * (t - b);
            }
        }
    }
}

/// Where a patch centre may lie: its whole patch inside the level and at least
/// [`SOURCE_MARGIN`] pixels clear of the hole.
fn source_mask(level: &Level) -> Vec<bool> {
    let (w, h) = (level.w, level.h);
    let r = PATCH_R as usize;
    let near = square_dilate(&level.hole, w, h, r + SOURCE_MARGIN);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            x >= r && y >= r && x + r < w && y + r < h && !near[i]
        })
        .collect()
}

/// True where any pixel within `r` (a square) of a pixel is set.
fn square_dilate(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let run = |get: &dyn Fn(usize) -> bool, n: usize| -> Vec<bool> {
        // Count of set values in [i - r, i + r] by a running sum.
        let mut prefix = vec![0u32; n + 1];
        for i in 0..n {
            prefix[i + 1] = prefix[i] + get(i) as u32;
        }
        (0..n)
            .map(|i| prefix[(i + r + 1).min(n)] > prefix[i.saturating_sub(r)])
            .collect()
    };
    let mut rows = vec![false; w * h];
    for y in 0..h {
        let row = run(&|x| mask[y * w + x], w);
        rows[y * w..(y + 1) * w].copy_from_slice(&row);
    }
    let mut out = vec![false; w * h];
    for x in 0..w {
        let col = run(&|y| rows[y * w + x], h);
        for (y, v) in col.into_iter().enumerate() {
            out[y * w + x] = v;
        }
    }
    out
}

/// The coarser level's filled colours, enlarged bilinearly into this level's hole.
fn enlarge_colours(coarse: &Level, level: &mut Level) {
    let (cw, ch) = (coarse.w, coarse.h);
    for y in 0..level.h {
        for x in 0..level.w {
            let i = y * level.w + x;
            if !level.hole[i] {
                continue;
            }
            let fx = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (cw - 1) as f32);
            let fy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (ch - 1) as f32);
            let (x0, y0) = (fx as usize, fy as usize);
            let (x1, y1) = ((x0 + 1).min(cw - 1), (y0 + 1).min(ch - 1));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let p = |xx: usize, yy: usize| coarse.rgb[yy * cw + xx][c];
                let b = p(x0, y0) + ax * (p(x1, y0) - p(x0, y0));
                let t = p(x0, y1) + ax * (p(x1, y1) - p(x0, y1));
                level.rgb[i][c] = b + ay * (t - b);
            }
        }
    }
}

/// Sum of squared RGB differences between the patch at target `t` (clamped at the level's
/// edges) and the patch at source `s` (wholly inside); stops early once above `best`.
fn patch_distance(level: &Level, t: usize, s: usize, best: f32) -> f32 {
    let (w, h) = (level.w as i32, level.h as i32);
    let (tx, ty) = ((t % level.w) as i32, (t / level.w) as i32);
    let (sx, sy) = ((s % level.w) as i32, (s / level.w) as i32);
    let r = PATCH_R;
    let mut d = 0f32;
    for dy in -r..=r {
        let trow = (ty + dy).clamp(0, h - 1) as usize * level.w;
        let srow = (sy + dy) as usize * level.w;
        for dx in -r..=r {
            let a = level.rgb[trow + (tx + dx).clamp(0, w - 1) as usize];
            let b = level.rgb[srow + (sx + dx) as usize];
            d += (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2);
        }
        if d >= best {
            return d;
        }
    }
    d
}

/// Rounds of matching (PatchMatch) and voting over the hole of `level`; returns the final
/// match of every pixel (meaningful at hole pixels). `prior`: the coarser level and its
/// matches, which start this level's.
fn match_and_vote(
    level: &mut Level,
    sources: &[bool],
    prior: Option<(&Level, &[usize])>,
    level_index: usize,
    rounds: usize,
    reach: i32,
) -> Vec<usize> {
    let (w, h) = (level.w, level.h);
    let targets: Vec<usize> = (0..w * h).filter(|&i| level.hole[i]).collect();
    let source_list: Vec<usize> = (0..w * h).filter(|&i| sources[i]).collect();
    let mut nnf = vec![usize::MAX; w * h];
    if source_list.is_empty() || targets.is_empty() {
        return nnf;
    }
    // A candidate source: a patch centre within `reach` of the target.
    let near = |t: usize, s: usize| -> bool {
        sources[s]
            && ((s % w) as i32 - (t % w) as i32).abs() <= reach
            && ((s / w) as i32 - (t / w) as i32).abs() <= reach
    };
    // First matches: the coarser level's at twice the offset, else a random source near the
    // target (anywhere when none is found).
    for &t in &targets {
        let (x, y) = (t % w, t / w);
        let mut m = usize::MAX;
        if let Some((coarse, cnnf)) = prior {
            let (cx, cy) = ((x / 2).min(coarse.w - 1), (y / 2).min(coarse.h - 1));
            let cs = cnnf[cy * coarse.w + cx];
            if cs != usize::MAX {
                let sx = 2 * (cs % coarse.w) + x % 2;
                let sy = 2 * (cs / coarse.w) + y % 2;
                if sx < w && sy < h && sources[sy * w + sx] {
                    m = sy * w + sx;
                }
            }
        }
        let mut rng = Rng::seeded(t, level_index, 0, 99);
        for _ in 0..16 {
            if m != usize::MAX {
                break;
            }
            let sx = x as i32 + rng.offset(reach);
            let sy = y as i32 + rng.offset(reach);
            if sx >= 0 && sy >= 0 && sx < w as i32 && sy < h as i32 {
                let cand = sy as usize * w + sx as usize;
                if sources[cand] {
                    m = cand;
                }
            }
        }
        if m == usize::MAX {
            m = source_list[rng.below(source_list.len())];
        }
        nnf[t] = m;
    }
    if prior.is_some() {
        // Start from the carried matches' own pixels at this size, which have this level's
        // grain, rather than the enlarged coarse colours, which do not: matched against a
        // blur, the smoothest patches of the frame would win.
        copy_centres(level, sources, &nnf);
    }
    let mut cost = vec![0f32; w * h];
    for round in 0..rounds {
        for &t in &targets {
            cost[t] = patch_distance(level, t, nnf[t], f32::INFINITY);
        }
        for pass in 0..2 {
            let forward = pass == 0;
            let step: i32 = if forward { 1 } else { -1 };
            for k in 0..targets.len() {
                let t = if forward {
                    targets[k]
                } else {
                    targets[targets.len() - 1 - k]
                };
                let (tx, ty) = ((t % w) as i32, (t / w) as i32);
                // Propagation: the match of a neighbour already visited, shifted back.
                for (nx, ny) in [(tx - step, ty), (tx, ty - step)] {
                    if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                        continue;
                    }
                    let n = ny as usize * w + nx as usize;
                    if !level.hole[n] {
                        continue;
                    }
                    let ns = nnf[n];
                    let sx = (ns % w) as i32 + (tx - nx);
                    let sy = (ns / w) as i32 + (ty - ny);
                    if sx < 0 || sy < 0 || sx >= w as i32 || sy >= h as i32 {
                        continue;
                    }
                    let cand = sy as usize * w + sx as usize;
                    if near(t, cand) && cand != nnf[t] {
                        let d = patch_distance(level, t, cand, cost[t]);
                        if d < cost[t] {
                            cost[t] = d;
                            nnf[t] = cand;
                        }
                    }
                }
                // Random search around the current match, the radius halving.
                let mut rng = Rng::seeded(t, level_index, round, pass);
                let mut radius = reach;
                while radius >= 1 {
                    let s = nnf[t];
                    let cx = ((s % w) as i32 + rng.offset(radius)).clamp(0, w as i32 - 1);
                    let cy = ((s / w) as i32 + rng.offset(radius)).clamp(0, h as i32 - 1);
                    let cand = cy as usize * w + cx as usize;
                    if near(t, cand) && cand != s {
                        let d = patch_distance(level, t, cand, cost[t]);
                        if d < cost[t] {
                            cost[t] = d;
                            nnf[t] = cand;
                        }
                    }
                    radius /= 2;
                }
            }
        }
        if level_index == 0 {
            copy_centres(level, sources, &nnf);
        } else {
            vote(level, &targets, &nnf, &cost);
        }
    }
    nnf
}

/// Each hole pixel becomes the weighted mean of the values the patches covering it put there
/// (weight falling with a patch's distance, on the scale of the median distance).
fn vote(level: &mut Level, targets: &[usize], nnf: &[usize], cost: &[f32]) {
    let (w, h) = (level.w as i32, level.h as i32);
    let r = PATCH_R;
    let sigma2 = {
        let mut c: Vec<f32> = targets.iter().map(|&t| cost[t]).collect();
        let mid = c.len() / 2;
        c.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
        c[mid].max(1e-6)
    };
    let mut acc = vec![[0f32; 4]; level.w * level.h];
    for &t in targets {
        let (tx, ty) = ((t % level.w) as i32, (t / level.w) as i32);
        let s = nnf[t];
        let (sx, sy) = ((s % level.w) as i32, (s / level.w) as i32);
        let wt = (-cost[t] / (2.0 * sigma2)).exp().max(1e-6);
        for dy in -r..=r {
            for dx in -r..=r {
                let (qx, qy) = (tx + dx, ty + dy);
                if qx < 0 || qy < 0 || qx >= w || qy >= h {
                    continue;
                }
                let q = qy as usize * level.w + qx as usize;
                if !level.hole[q] {
                    continue;
                }
                let v = level.rgb[(sy + dy) as usize * level.w + (sx + dx) as usize];
                let a = &mut acc[q];
                for c in 0..3 {
                    a[c] += wt * v[c];
                }
                a[3] += wt;
            }
        }
    }
    for &t in targets {
        let a = acc[t];
        if a[3] > 0.0 {
            level.rgb[t] = [a[0] / a[3], a[1] / a[3], a[2] / a[3]];
        }
    }
}

/// Each hole pixel takes the centre pixel of its best patch.
fn copy_centres(level: &mut Level, sources: &[bool], nnf: &[usize]) {
    for t in 0..level.w * level.h {
        if level.hole[t] && nnf[t] != usize::MAX && sources[nnf[t]] {
            level.rgb[t] = level.rgb[nnf[t]];
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Grass-like texture: hashed grain over a gentle gradient.
    pub(crate) fn grain(x: usize, y: usize) -> [f32; 3] {
        let mut z = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        z = (z ^ (z >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let n = ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        let base = 0.3 + 0.2 * (y as f32 / 200.0);
        [base + 0.15 * n, base + 0.1 + 0.2 * n, base - 0.1 + 0.1 * n]
    }

    /// Mean squared difference between horizontal and vertical neighbours, over the pixels
    /// `select` marks (both neighbours inside it).
    pub(crate) fn gradient_energy(rgb: &[[f32; 3]], select: &[bool], w: usize) -> f64 {
        let (mut s, mut n) = (0f64, 0usize);
        for i in 0..rgb.len() {
            for j in [i + 1, i + w] {
                if select[i] && j < rgb.len() && select[j] && (j != i + 1 || j % w != 0) {
                    for c in 0..3 {
                        s += ((rgb[i][c] - rgb[j][c]) as f64).powi(2);
                    }
                    n += 1;
                }
            }
        }
        s / n.max(1) as f64
    }

    /// A 48x40 hole in a 160x120 field of grain.
    fn grain_case() -> (Vec<[f32; 3]>, Vec<bool>, usize, usize) {
        let (w, h) = (160usize, 120usize);
        let rgb: Vec<[f32; 3]> = (0..w * h).map(|i| grain(i % w, i / w)).collect();
        let hole: Vec<bool> = (0..w * h)
            .map(|i| (56..104).contains(&(i % w)) && (40..80).contains(&(i / w)))
            .collect();
        (rgb, hole, w, h)
    }

    #[test]
    fn a_large_hole_in_grain_gets_grain_not_blur() {
        let (truth, hole, w, h) = grain_case();
        let mut rgb = truth.clone();
        for (p, &u) in rgb.iter_mut().zip(&hole) {
            if u {
                *p = [0.0; 3];
            }
        }
        let mut smooth = rgb.clone();
        let known: Vec<bool> = hole.iter().map(|u| !u).collect();
        smooth = push_pull(&smooth, &known, w, h);
        fill(&mut rgb, &hole, w, h);
        // The background: a ring of 16 px around the hole.
        let near = square_dilate(&hole, w, h, 16);
        let ring: Vec<bool> = (0..w * h).map(|i| near[i] && !hole[i]).collect();
        let e_ring = gradient_energy(&truth, &ring, w);
        let e_fill = gradient_energy(&rgb, &hole, w);
        let e_smooth = gradient_energy(&smooth, &hole, w);
        eprintln!("gradient energy: ring {e_ring:.5}, fill {e_fill:.5}, membrane {e_smooth:.5}");
        assert!(e_fill >= 0.5 * e_ring, "fill {e_fill} vs ring {e_ring}");
        assert!(e_smooth < 0.1 * e_ring);
        // The fill keeps the background's colour.
        let mean = |sel: &[bool], img: &[[f32; 3]]| -> [f64; 3] {
            let n = sel.iter().filter(|&&s| s).count() as f64;
            let mut m = [0f64; 3];
            for (p, _) in img.iter().zip(sel).filter(|(_, s)| **s) {
                for c in 0..3 {
                    m[c] += p[c] as f64 / n;
                }
            }
            m
        };
        let (a, b) = (mean(&hole, &rgb), mean(&ring, &truth));
        for c in 0..3 {
            assert!((a[c] - b[c]).abs() < 0.03, "mean {a:?} vs ring {b:?}");
        }
    }

    #[test]
    fn the_same_hole_is_filled_the_same_way_when_the_rest_of_the_frame_changes() {
        let (truth, hole, w, h) = grain_case();
        let mut a = truth.clone();
        fill(&mut a, &hole, w, h);
        let mut b = truth.clone();
        // Another frame: a fleck far from the hole changes.
        for y in 2..6 {
            for x in 2..6 {
                b[y * w + x] = [1.0, 0.0, 0.0];
            }
        }
        fill(&mut b, &hole, w, h);
        let same = (0..w * h).filter(|&i| hole[i] && a[i] == b[i]).count();
        let n = hole.iter().filter(|&&u| u).count();
        assert!(
            same as f64 >= 0.95 * n as f64,
            "{same} of {n} hole pixels the same"
        );
    }

    /// Seconds the fill takes for a standing person's hole (a twelfth of the frame wide, a
    /// quarter high) in a field of grain, at 768x576 and 1920x1080 (run by hand:
    /// `cargo test --release -p pixelspace-shared --lib texture::tests::timing -- --ignored
    /// --nocapture`).
    #[test]
    #[ignore]
    fn timing() {
        for (w, h) in [(768usize, 576usize), (1920, 1080)] {
            let (hw, hh) = (w / 12, h / 4);
            let (x0, y0) = (w / 2, h / 2);
            let hole: Vec<bool> = (0..w * h)
                .map(|i| (x0..x0 + hw).contains(&(i % w)) && (y0..y0 + hh).contains(&(i / w)))
                .collect();
            let mut rgb: Vec<[f32; 3]> = (0..w * h).map(|i| grain(i % w, i / w)).collect();
            let start = std::time::Instant::now();
            fill(&mut rgb, &hole, w, h);
            eprintln!(
                "{w}x{h}: a {hw}x{hh} hole filled in {:.3} s",
                start.elapsed().as_secs_f64()
            );
        }
    }

    #[test]
    fn square_dilation_reaches_r_pixels() {
        let (w, h) = (9, 7);
        let mut m = vec![false; w * h];
        m[3 * w + 4] = true;
        let d = square_dilate(&m, w, h, 2);
        let set: Vec<(usize, usize)> = (0..w * h)
            .filter(|&i| d[i])
            .map(|i| (i % w, i / w))
            .collect();
        assert_eq!(set.len(), 25);
        assert!(
            set.iter()
                .all(|&(x, y)| (2..=6).contains(&x) && (1..=5).contains(&y))
        );
    }
}
