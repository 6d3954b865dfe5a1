//! Splitting a large region into overlapping tiles and blending the tiles' results back.
//!
//! Tiles form a grid; along each axis they have equal length (at most the requested tile size)
//! and neighbours overlap by at least the requested overlap. Each tile's result is weighted by a
//! feather: 1 in its interior, falling linearly to 0 across each overlap with a neighbour (no
//! ramp on the area's outer edges). When the overlap is large relative to the tile, ramps are
//! trimmed to the middle of the overlap so no more than two tiles ever weigh in along an axis;
//! the rising and falling ramps at a boundary sum to 1, so weights sum to 1 everywhere (the
//! accumulator also divides by the weight sum, so rounding cannot bias the result). Blending is a running weighted mean (`v += w / (W + w) * (x - v)`), which reproduces
//! identical contributions bit for bit: a per-pixel model tiled gives exactly the untiled
//! result, and a model that needs context gets its worst pixels (near tile edges) faded out.

use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;

/// One tile: the region to feed the model, and its feathering.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// The pixels the model sees for this tile (overlap with neighbours included).
    pub input: Rect,
    /// Grid position (column, row); row 0 is the bottom row (y up).
    pub grid: (u32, u32),
    wx: Vec<f32>,
    wy: Vec<f32>,
}

impl Tile {
    /// The feather weight of pixel `(x, y)` (0 outside the tile). Not normalised: where more
    /// than two tiles meet along an axis, [`TileAccumulator`] divides by the weight sum.
    pub fn weight(&self, x: i32, y: i32) -> f32 {
        if !self.input.contains(x, y) {
            return 0.0;
        }
        self.wx[(x - self.input.x1) as usize] * self.wy[(y - self.input.y1) as usize]
    }
}

/// One axis: segments `(start, end)` covering `start..start+len`.
fn split_axis(start: i32, len: u32, tile: u32, overlap: u32) -> Vec<(i32, i32)> {
    if tile == 0 || len <= tile {
        return vec![(start, start + len as i32)];
    }
    let (n_len, t) = (len as i64, tile as i64);
    let o = (overlap as i64).min(t / 2);
    let n = (n_len - o + (t - o) - 1) / (t - o); // tiles needed, >= 2
    let l = (n_len + (n - 1) * o + n - 1) / n; // equal tile length, <= tile
    let span = n_len - l;
    (0..n)
        .map(|i| {
            let s = (2 * i * span + (n - 1)) / (2 * (n - 1)); // round(i * span / (n - 1))
            (start + s as i32, start + (s + l) as i32)
        })
        .collect()
}

/// The ramp interval `[a, b)` of each boundary between consecutive segments: the overlap of
/// the two segments, trimmed halfway towards the neighbouring overlaps' midpoints so ramps never
/// meet (at most two tiles have weight anywhere). An empty interval is a hard cut at `a`.
fn ramps(segs: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mids: Vec<i64> = segs
        .windows(2)
        .map(|w| (w[1].0 as i64 + w[0].1 as i64).div_euclid(2))
        .collect();
    (0..mids.len())
        .map(|i| {
            let (lo, hi) = (segs[i + 1].0 as i64, segs[i].1 as i64);
            let a = if i > 0 {
                lo.max((mids[i - 1] + mids[i]).div_euclid(2))
            } else {
                lo
            };
            let b = if i + 1 < mids.len() {
                hi.min((mids[i] + mids[i + 1]).div_euclid(2))
            } else {
                hi
            };
            (a as i32, (b.max(a)) as i32)
        })
        .collect()
}

/// Feather weights along one axis for segment `i` of `segs` (with boundary ramps `rs`):
/// 0 before the lower ramp, rising across it, 1 between the ramps, falling across the upper
/// ramp, 0 after it. Rising and falling weights at a boundary sum to 1.
fn ramp(segs: &[(i32, i32)], rs: &[(i32, i32)], i: usize) -> Vec<f32> {
    let (s, e) = segs[i];
    let up = |p: i32, (a, b): (i32, i32)| ((p - a) as f32 + 0.5) / (b - a) as f32;
    (s..e)
        .map(|p| {
            if i > 0 {
                let (a, b) = rs[i - 1];
                if p < a {
                    return 0.0;
                }
                if p < b {
                    return up(p, (a, b));
                }
            }
            if i < rs.len() {
                let (a, b) = rs[i];
                if p >= b {
                    return 0.0;
                }
                if p >= a {
                    return 1.0 - up(p, (a, b));
                }
            }
            1.0
        })
        .collect()
}

/// Plans tiles of at most `tile` x `tile` pixels over `area`, neighbours overlapping by at least
/// `overlap` pixels (capped at half the tile). `tile == 0`, or an area that fits, gives one tile
/// covering the whole area. Tiles are listed row by row from the bottom.
pub fn plan_tiles(area: Rect, tile: u32, overlap: u32) -> Vec<Tile> {
    if area.is_empty() {
        return Vec::new();
    }
    let xs = split_axis(area.x1, area.width(), tile, overlap);
    let ys = split_axis(area.y1, area.height(), tile, overlap);
    let mut tiles = Vec::with_capacity(xs.len() * ys.len());
    let (rx, ry) = (ramps(&xs), ramps(&ys));
    for (j, &(y1, y2)) in ys.iter().enumerate() {
        let wy = ramp(&ys, &ry, j);
        for (i, &(x1, x2)) in xs.iter().enumerate() {
            tiles.push(Tile {
                input: Rect::new(x1, y1, x2, y2),
                grid: (i as u32, j as u32),
                wx: ramp(&xs, &rx, i),
                wy: wy.clone(),
            });
        }
    }
    tiles
}

/// Blends tile results into one image over the planned area.
#[derive(Clone, Debug)]
pub struct TileAccumulator {
    image: FloatImage,
    weight: Vec<f32>,
}

impl TileAccumulator {
    /// An empty accumulator over `area` (the area the tiles were planned over).
    pub fn new(area: Rect) -> Self {
        let image = FloatImage::new(area);
        let weight = vec![0.0; image.bounds.area()];
        TileAccumulator { image, weight }
    }

    /// Blends a tile's result in. `result` must cover the tile's input rect (within the area);
    /// pixels of `result` outside it are ignored.
    pub fn add(&mut self, tile: &Tile, result: &FloatImage) -> Result<()> {
        let r = tile.input.intersect(&self.image.bounds);
        if r.is_empty() {
            return Ok(());
        }
        if !result.bounds.contains_rect(&r) {
            return Err(Error::new(format!(
                "tile result {:?} does not cover the tile {:?}",
                result.bounds, r
            )));
        }
        let area = self.image.bounds;
        let aw = area.width() as usize;
        let n = r.width() as usize;
        for y in r.y1..r.y2 {
            let wy = tile.wy[(y - tile.input.y1) as usize];
            let wx = &tile.wx[(r.x1 - tile.input.x1) as usize..][..n];
            let src = &result.row(y)[4 * (r.x1 - result.bounds.x1) as usize..][..4 * n];
            let base = (y - area.y1) as usize * aw + (r.x1 - area.x1) as usize;
            let wacc = &mut self.weight[base..base + n];
            let dst = &mut self.image.data[4 * base..4 * (base + n)];
            for (((d, s), wsum), &wxv) in dst
                .chunks_exact_mut(4)
                .zip(src.chunks_exact(4))
                .zip(wacc)
                .zip(wx)
            {
                let w = wxv * wy;
                if w <= 0.0 {
                    continue;
                }
                *wsum += w;
                let t = w / *wsum;
                for c in 0..4 {
                    d[c] += t * (s[c] - d[c]);
                }
            }
        }
        Ok(())
    }

    /// The blended image over the area (pixels no tile reached stay transparent black).
    pub fn finish(self) -> FloatImage {
        self.image
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::Rng;
    use crate::resize::crop;

    fn sum_of_weights(area: Rect, tiles: &[Tile]) -> Vec<f32> {
        let mut sums = vec![0.0f32; area.area()];
        for t in tiles {
            for (x, y) in t.input.pixels() {
                sums[(y - area.y1) as usize * area.width() as usize + (x - area.x1) as usize] +=
                    t.weight(x, y);
            }
        }
        sums
    }

    #[test]
    fn single_tile_when_it_fits() {
        let area = Rect::new(-5, 3, 95, 53);
        for (tile, ov) in [(0, 0), (100, 8), (4096, 32)] {
            let t = plan_tiles(area, tile, ov);
            assert_eq!(t.len(), 1);
            assert_eq!(t[0].input, area);
            assert!(area.pixels().all(|(x, y)| t[0].weight(x, y) == 1.0));
        }
        assert!(plan_tiles(Rect::EMPTY, 16, 2).is_empty());
    }

    #[test]
    fn tiles_cover_respect_size_and_overlap() {
        let mut rng = Rng(5);
        for _ in 0..100 {
            let tile = rng.range(4, 64) as u32;
            let overlap = rng.range(0, tile as i32) as u32;
            let area = Rect::new(rng.range(-50, 50), rng.range(-50, 50), 0, 0);
            let area = Rect::new(
                area.x1,
                area.y1,
                area.x1 + rng.range(1, 200),
                area.y1 + rng.range(1, 200),
            );
            let tiles = plan_tiles(area, tile, overlap);
            let eff = overlap.min(tile / 2) as i32;
            for t in &tiles {
                assert!(t.input.width() <= tile && t.input.height() <= tile);
                assert!(area.contains_rect(&t.input));
            }
            // neighbours along each axis overlap by at least the (capped) overlap
            let xs: Vec<_> = tiles
                .iter()
                .filter(|t| t.grid.1 == 0)
                .map(|t| (t.input.x1, t.input.x2))
                .collect();
            for w in xs.windows(2) {
                assert!(w[0].1 - w[1].0 >= eff, "{tile} {overlap} {xs:?}");
                assert!(w[1].0 > w[0].0);
            }
            assert_eq!(xs.first().unwrap().0, area.x1);
            assert_eq!(xs.last().unwrap().1, area.x2);
            // weights sum to 1 everywhere (the accumulator normalises anyway)
            for s in sum_of_weights(area, &tiles) {
                assert!((s - 1.0).abs() < 1e-5, "{tile} {overlap} {area:?}: {s}");
            }
        }
    }

    #[test]
    fn known_plan() {
        let tiles = plan_tiles(Rect::new(0, 0, 1920, 1080), 1024, 32);
        let xs: Vec<_> = tiles
            .iter()
            .filter(|t| t.grid.1 == 0)
            .map(|t| (t.input.x1, t.input.x2))
            .collect();
        let ys: Vec<_> = tiles
            .iter()
            .filter(|t| t.grid.0 == 0)
            .map(|t| (t.input.y1, t.input.y2))
            .collect();
        assert_eq!(xs, vec![(0, 976), (944, 1920)]);
        assert_eq!(ys, vec![(0, 556), (524, 1080)]);
        assert_eq!(tiles.len(), 4);
        // the ramp across the 32-pixel overlap
        let left = &tiles[0];
        assert_eq!(left.weight(943, 10), 1.0);
        assert_eq!(left.weight(944, 10), 31.5 / 32.0);
        assert_eq!(left.weight(975, 10), 0.5 / 32.0);
        assert_eq!(tiles[1].weight(944, 10), 0.5 / 32.0);
        assert_eq!(left.weight(976, 10), 0.0);
    }

    #[test]
    fn tiled_identity_equals_untiled_exactly() {
        let mut rng = Rng(11);
        let area = Rect::new(-7, 4, 130, 101);
        let img = FloatImage::from_fn(area, |_, _| {
            [rng.unit() * 10.0 - 2.0, rng.unit(), rng.unit(), rng.unit()]
        });
        for (tile, ov) in [(32, 8), (40, 20), (17, 3), (64, 0), (9, 4)] {
            let mut acc = TileAccumulator::new(area);
            for t in plan_tiles(area, tile, ov) {
                // a per-pixel "model": the tile's own crop, transformed pixel by pixel
                let mut out = crop(&img, t.input);
                out.data.iter_mut().for_each(|v| *v = *v * 0.5 + 0.25);
                acc.add(&t, &out).unwrap();
            }
            let tiled = acc.finish();
            let mut untiled = img.clone();
            untiled.data.iter_mut().for_each(|v| *v = *v * 0.5 + 0.25);
            assert_eq!(tiled, untiled, "tile {tile} overlap {ov}");
        }
    }

    /// Box blur of radius r with edge replication, computed on the given image alone.
    fn blur(img: &FloatImage, r: i32) -> FloatImage {
        FloatImage::from_fn(img.bounds, |x, y| {
            let mut s = [0.0f32; 4];
            for dy in -r..=r {
                for dx in -r..=r {
                    let p = img.pixel_clamped(x + dx, y + dy);
                    for c in 0..4 {
                        s[c] += p[c];
                    }
                }
            }
            s.map(|v| v / ((2 * r + 1) * (2 * r + 1)) as f32)
        })
    }

    #[test]
    fn feathering_hides_seams_of_context_models() {
        let mut rng = Rng(21);
        let area = Rect::new(0, 0, 96, 64);
        let img = FloatImage::from_fn(area, |_, _| [rng.unit(), rng.unit(), rng.unit(), 1.0]);
        let truth = blur(&img, 2);
        let tiles = plan_tiles(area, 40, 16);
        let mut acc = TileAccumulator::new(area);
        let mut hard = FloatImage::new(area);
        for t in &tiles {
            let out = blur(&crop(&img, t.input), 2);
            acc.add(t, &out).unwrap();
            // hard stitching: each tile writes its whole input, later tiles overwrite
            for (x, y) in t.input.pixels() {
                hard.set_pixel(x, y, out.pixel(x, y));
            }
        }
        let feathered = acc.finish();
        let (ef, eh) = (feathered.max_abs_diff(&truth), hard.max_abs_diff(&truth));
        assert!(ef < eh / 4.0, "feathered {ef} vs hard {eh}");
        assert!(ef < 0.02, "{ef}");
    }

    #[test]
    fn result_must_cover_tile() {
        let area = Rect::new(0, 0, 10, 10);
        let tiles = plan_tiles(area, 6, 2);
        let mut acc = TileAccumulator::new(area);
        let e = acc
            .add(&tiles[0], &FloatImage::new(Rect::new(0, 0, 2, 2)))
            .unwrap_err();
        assert!(e.message().contains("does not cover"), "{e}");
    }
}
