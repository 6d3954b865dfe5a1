//! Faces over time: which face is which across frames (IoU association), landmarks smoothed
//! over a window of neighbouring frames, and which faces an effect works on.
//!
//! Everything here is a pure function of the per-frame observations it is given, so a frame's
//! result depends only on its own and its neighbours' raw detections, never on render order,
//! caches or threads.
//!
//! Smoothing works in two steps, both exact for a face that only moves, turns and scales
//! (a similarity of the picture):
//! 1. *Shape*: every neighbour's points are mapped onto the centre frame's by the similarity
//!    that fits them best (all points, least squares) and averaged with Gaussian weights; the
//!    per-point noise of the landmark model averages out while the motion is removed.
//! 2. *Pose*: the similarity from that mean shape to each neighbour's points is fitted, its four
//!    parameters are smoothed by a weighted local quadratic fit over time (Savitzky-Golay style,
//!    so steady motion and acceleration are kept) and evaluated at the centre frame.

use super::FaceBox;
use super::align::{Affine, fit_similarity};

/// One face seen in one frame: its detector box and its landmarks, in frame pixels (y up).
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub bbox: FaceBox,
    /// Detection confidence, 0..1.
    pub score: f32,
    /// Landmarks `[x, y, z]` (468 for the face mesh).
    pub points: Vec<[f64; 3]>,
}

/// Which faces of a frame an effect works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The face with the largest box.
    Largest,
    /// The `n`-th face counted from the left of the picture (0 = leftmost).
    Index(usize),
    /// Every face.
    All,
}

/// The faces of a frame that `selection` picks (indices into `faces`). Faces are ordered by
/// the centre of their box from left to right, so an index stays with a face while faces keep
/// their left-right order.
pub fn select(faces: &[Observation], selection: Selection) -> Vec<usize> {
    if faces.is_empty() {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| {
        let (ca, cb) = (faces[a].bbox.centre().0, faces[b].bbox.centre().0);
        ca.total_cmp(&cb).then(a.cmp(&b))
    });
    match selection {
        Selection::All => order,
        Selection::Index(n) => order.get(n).map(|&i| vec![i]).unwrap_or_default(),
        Selection::Largest => {
            let best = order
                .iter()
                .copied()
                .max_by(|&a, &b| {
                    faces[a]
                        .bbox
                        .area()
                        .total_cmp(&faces[b].bbox.area())
                        .then(b.cmp(&a))
                })
                .expect("not empty");
            vec![best]
        }
    }
}

/// The face among `candidates` that overlaps `previous` most, if that overlap (IoU) is at least
/// `min_iou`.
pub fn associate(previous: &FaceBox, candidates: &[Observation], min_iou: f64) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (i, previous.iou(&c.bbox)))
        .filter(|(_, iou)| *iou >= min_iou)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i)
}

/// Follows one face of the centre frame through its neighbours. `frames[k]` holds the faces of
/// frame `centre + offsets[k]`; the face is `frames[centre_slot][face]`. Walking outwards from
/// the centre, each frame's match is the face overlapping the last match most (IoU at least
/// `min_iou`); the walk stops at the first frame without a match. Returns `(offset, face)`
/// pairs, sorted by offset, the centre included.
pub fn track<'a>(
    offsets: &[i32],
    frames: &[&'a [Observation]],
    centre_slot: usize,
    face: usize,
    min_iou: f64,
) -> Vec<(i32, &'a Observation)> {
    let centre = &frames[centre_slot][face];
    let mut out = vec![(offsets[centre_slot], centre)];
    for dir in [-1i64, 1] {
        let mut last = centre.bbox;
        let mut slot = centre_slot as i64 + dir;
        while slot >= 0 && (slot as usize) < frames.len() {
            let faces = frames[slot as usize];
            match associate(&last, faces, min_iou) {
                Some(i) => {
                    out.push((offsets[slot as usize], &faces[i]));
                    last = faces[i].bbox;
                }
                None => break,
            }
            slot += dir;
        }
    }
    out.sort_by_key(|(o, _)| *o);
    out
}

/// Gaussian weight of a frame `offset` away for a window of `radius` frames each side
/// (sigma = radius / 2, at least 0.5).
fn weight(offset: f64, radius: u32) -> f64 {
    let sigma = (radius as f64 / 2.0).max(0.5);
    (-0.5 * (offset / sigma).powi(2)).exp()
}

/// Weighted least-squares polynomial (degree <= 2, lowered when there are too few distinct
/// samples) through `(t, v, w)` samples, evaluated at t = 0.
#[allow(clippy::needless_range_loop)] // index arithmetic of the normal equations
fn local_poly_at_zero(samples: &[(f64, f64, f64)]) -> f64 {
    let distinct = {
        let mut ts: Vec<f64> = samples.iter().map(|s| s.0).collect();
        ts.sort_by(f64::total_cmp);
        ts.dedup();
        ts.len()
    };
    let degree = distinct.saturating_sub(1).min(2);
    let n = degree + 1;
    // Normal equations: sum w t^(i+j) c_j = sum w t^i v.
    let mut m = [[0.0f64; 4]; 3];
    for &(t, v, w) in samples {
        let pw = [1.0, t, t * t, t * t * t, t * t * t * t];
        for i in 0..n {
            for j in 0..n {
                m[i][j] += w * pw[i + j];
            }
            m[i][3] += w * pw[i] * v;
        }
    }
    // Gaussian elimination with partial pivoting on the n x n system.
    for col in 0..n {
        let piv = (col..n)
            .max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))
            .unwrap();
        m.swap(col, piv);
        if m[col][col].abs() < 1e-12 {
            // Degenerate: fall back to the weighted mean.
            let (sw, sv) = samples
                .iter()
                .fold((0.0, 0.0), |(a, b), s| (a + s.2, b + s.2 * s.1));
            return if sw > 0.0 { sv / sw } else { 0.0 };
        }
        for r in 0..n {
            if r != col {
                let f = m[r][col] / m[col][col];
                for c in col..4 {
                    m[r][c] -= f * m[col][c];
                }
            }
        }
    }
    m[0][3] / m[0][0]
}

fn xy(points: &[[f64; 3]]) -> Vec<[f64; 2]> {
    points.iter().map(|p| [p[0], p[1]]).collect()
}

/// The centre frame's landmarks smoothed over its tracked neighbours (`track`'s output: offsets
/// relative to the centre frame, which must be among them) with a window of `radius` frames each
/// side; samples further away are ignored. With no neighbours (or radius 0) the centre's own
/// points come back unchanged. `z` is the centre's.
pub fn smooth_landmarks(samples: &[(i32, &Observation)], radius: u32) -> Vec<[f64; 3]> {
    let Some((_, centre)) = samples.iter().find(|(o, _)| *o == 0) else {
        return Vec::new();
    };
    let used: Vec<(f64, &Observation, f64)> = samples
        .iter()
        .filter(|(o, s)| o.unsigned_abs() <= radius && s.points.len() == centre.points.len())
        .map(|(o, s)| (*o as f64, *s, weight(*o as f64, radius)))
        .collect();
    if radius == 0 || used.len() < 2 || centre.points.len() < 2 {
        return centre.points.clone();
    }
    let reference = xy(&centre.points);
    // 1. Shape: every neighbour moved onto the centre frame, averaged.
    let mut shape = vec![[0.0f64; 2]; reference.len()];
    let mut total = 0.0;
    for (_, obs, w) in &used {
        let pts = xy(&obs.points);
        let Ok(s) = fit_similarity(&pts, &reference) else {
            continue;
        };
        for (acc, p) in shape.iter_mut().zip(&pts) {
            let (x, y) = s.apply(p[0], p[1]);
            acc[0] += w * x;
            acc[1] += w * y;
        }
        total += w;
    }
    if total <= 0.0 {
        return centre.points.clone();
    }
    for p in &mut shape {
        p[0] /= total;
        p[1] /= total;
    }
    // 2. Pose: similarity from the mean shape to each neighbour, parameters smoothed over time.
    let mut params: [Vec<(f64, f64, f64)>; 4] = Default::default();
    for (t, obs, w) in &used {
        let Ok(s) = fit_similarity(&shape, &xy(&obs.points)) else {
            continue;
        };
        for (k, v) in [s.a, s.c, s.tx, s.ty].into_iter().enumerate() {
            params[k].push((*t, v, *w));
        }
    }
    if params[0].is_empty() {
        return centre.points.clone();
    }
    let [a, c, tx, ty] = params.map(|p| local_poly_at_zero(&p));
    let pose = Affine {
        a,
        b: -c,
        c,
        d: a,
        tx,
        ty,
    };
    shape
        .iter()
        .zip(&centre.points)
        .map(|(p, orig)| {
            let (x, y) = pose.apply(p[0], p[1]);
            [x, y, orig[2]]
        })
        .collect()
}

/// The centre frame's box smoothed over its tracked neighbours: each neighbour's box is moved
/// onto the centre frame by the similarity between its landmarks and the centre's (its centre
/// mapped, its sides scaled), and the boxes are averaged with the same Gaussian weights as the
/// shape. Exact for a face that only moves, turns and scales; the detector's per-frame noise
/// averages out. Neighbours without matching landmarks are left out.
pub fn smooth_box(samples: &[(i32, &Observation)], radius: u32) -> Option<FaceBox> {
    let centre = samples.iter().find(|(o, _)| *o == 0)?.1;
    if radius == 0 || centre.points.len() < 2 {
        return Some(centre.bbox);
    }
    let reference = xy(&centre.points);
    let (mut acc, mut total) = ([0.0f64; 4], 0.0);
    for (o, obs) in samples {
        if o.unsigned_abs() > radius || obs.points.len() != centre.points.len() {
            continue;
        }
        let Ok(s) = fit_similarity(&xy(&obs.points), &reference) else {
            continue;
        };
        let w = weight(*o as f64, radius);
        let (cx, cy) = obs.bbox.centre();
        let (x, y) = s.apply(cx, cy);
        let k = s.scale();
        for (a, v) in acc.iter_mut().zip([
            x,
            y,
            k * obs.bbox.width() / 2.0,
            k * obs.bbox.height() / 2.0,
        ]) {
            *a += w * v;
        }
        total += w;
    }
    if total <= 0.0 {
        return Some(centre.bbox);
    }
    let [x, y, hw, hh] = acc.map(|v| v / total);
    Some(FaceBox::from_corners((x - hw, y - hh), (x + hw, y + hh)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(cx: f64, cy: f64, size: f64, points: Vec<[f64; 3]>) -> Observation {
        Observation {
            bbox: FaceBox::from_corners(
                (cx - size / 2.0, cy - size / 2.0),
                (cx + size / 2.0, cy + size / 2.0),
            ),
            score: 0.9,
            points,
        }
    }

    /// A fixed irregular shape of 40 points around the origin.
    fn shape() -> Vec<[f64; 2]> {
        (0..40)
            .map(|i| {
                let a = i as f64 * 0.7;
                let r = 20.0 + 7.0 * (i as f64 * 1.3).sin();
                [r * a.cos(), r * a.sin()]
            })
            .collect()
    }

    /// The shape moved by a similarity at time t (smooth motion) plus optional noise.
    fn moved(t: f64, noise: f64, seed: u64) -> Vec<[f64; 3]> {
        let (s, th) = (1.0 + 0.02 * t, 0.03 * t);
        let (tx, ty) = (100.0 + 3.0 * t + 0.1 * t * t, 80.0 - 2.0 * t);
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
        };
        shape()
            .iter()
            .map(|p| {
                let x = s * (th.cos() * p[0] - th.sin() * p[1]) + tx + noise * rnd();
                let y = s * (th.sin() * p[0] + th.cos() * p[1]) + ty + noise * rnd();
                [x, y, 0.0]
            })
            .collect()
    }

    #[test]
    fn selection_orders_left_to_right() {
        let faces = vec![
            obs(300.0, 100.0, 50.0, vec![]),
            obs(100.0, 100.0, 80.0, vec![]),
            obs(200.0, 100.0, 60.0, vec![]),
        ];
        assert_eq!(select(&faces, Selection::Largest), vec![1]);
        assert_eq!(select(&faces, Selection::Index(0)), vec![1]);
        assert_eq!(select(&faces, Selection::Index(2)), vec![0]);
        assert!(select(&faces, Selection::Index(3)).is_empty());
        assert_eq!(select(&faces, Selection::All), vec![1, 2, 0]);
        assert!(select(&[], Selection::Largest).is_empty());
    }

    #[test]
    fn tracking_follows_the_overlapping_face_and_stops_at_a_gap() {
        // Two faces moving right; frame +2 loses face A, so A's track ends at +1.
        let f = |dx: f64, with_a: bool| {
            let mut v = vec![obs(400.0 - dx, 100.0, 60.0, vec![])];
            if with_a {
                v.push(obs(100.0 + dx, 100.0, 60.0, vec![]));
            }
            v
        };
        let frames = [f(-10.0, true), f(0.0, true), f(10.0, true), f(20.0, false)];
        let refs: Vec<&[Observation]> = frames.iter().map(|v| v.as_slice()).collect();
        let t = track(&[-1, 0, 1, 2], &refs, 1, 1, 0.3);
        let offs: Vec<i32> = t.iter().map(|(o, _)| *o).collect();
        assert_eq!(offs, vec![-1, 0, 1]);
        for (o, face) in &t {
            assert!((face.bbox.centre().0 - (100.0 + 10.0 * *o as f64)).abs() < 1e-9);
        }
        let b = track(&[-1, 0, 1, 2], &refs, 1, 0, 0.3);
        assert_eq!(b.len(), 4);
    }

    #[test]
    fn smoothing_keeps_smooth_similarity_motion_exactly() {
        let frames: Vec<Observation> = (-3..=3)
            .map(|t| obs(0.0, 0.0, 10.0, moved(t as f64, 0.0, 0)))
            .collect();
        let samples: Vec<(i32, &Observation)> = (-3..=3).zip(frames.iter()).collect::<Vec<_>>();
        let out = smooth_landmarks(&samples, 3);
        let truth = moved(0.0, 0.0, 0);
        let err = out
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
            .fold(0.0, f64::max);
        assert!(err < 0.05, "max error {err}");
    }

    #[test]
    fn smoothing_reduces_noise_and_jitter() {
        let n = 24;
        let raw: Vec<Observation> = (0..n)
            .map(|t| obs(0.0, 0.0, 10.0, moved(t as f64 - 12.0, 1.0, t as u64 + 1)))
            .collect();
        let err = |pts: &[[f64; 3]], t: usize| -> Vec<[f64; 2]> {
            let truth = moved(t as f64 - 12.0, 0.0, 0);
            pts.iter()
                .zip(&truth)
                .map(|(a, b)| [a[0] - b[0], a[1] - b[1]])
                .collect()
        };
        let jitter = |series: &[Vec<[f64; 2]>]| {
            let mut sum = 0.0;
            let mut count = 0.0;
            for w in series.windows(2) {
                for (a, b) in w[0].iter().zip(&w[1]) {
                    sum += (a[0] - b[0]).hypot(a[1] - b[1]);
                    count += 1.0;
                }
            }
            sum / count
        };
        let raw_err: Vec<_> = (0..n).map(|t| err(&raw[t].points, t)).collect();
        let smooth_err: Vec<_> = (0..n)
            .map(|t| {
                let samples: Vec<(i32, &Observation)> = (0..n)
                    .map(|k| (k as i32 - t as i32, &raw[k]))
                    .filter(|(o, _)| o.abs() <= 3)
                    .collect();
                err(&smooth_landmarks(&samples, 3), t)
            })
            .collect();
        let (j0, j1) = (jitter(&raw_err), jitter(&smooth_err));
        assert!(j1 < 0.5 * j0, "jitter {j0:.3} -> {j1:.3}");
    }

    #[test]
    fn box_smoothing_follows_similarity_motion() {
        // Boxes that move and grow with the landmarks' motion come back as the centre's.
        let frames: Vec<Observation> = (-2..=2)
            .map(|t| {
                let t = t as f64;
                let pts = moved(t, 0.0, 0);
                let s = 1.0 + 0.02 * t;
                let c = (100.0 + 3.0 * t + 0.1 * t * t, 80.0 - 2.0 * t);
                obs(c.0, c.1, 50.0 * s, pts)
            })
            .collect();
        let samples: Vec<(i32, &Observation)> = (-2..=2).zip(frames.iter()).collect();
        let b = smooth_box(&samples, 2).unwrap();
        let want = frames[2].bbox;
        for (a, e) in [
            (b.x1, want.x1),
            (b.y1, want.y1),
            (b.x2, want.x2),
            (b.y2, want.y2),
        ] {
            assert!((a - e).abs() < 1e-6, "{b:?} vs {want:?}");
        }
    }

    #[test]
    fn local_quadratic_is_exact_for_quadratics() {
        let s: Vec<(f64, f64, f64)> = (-3..=3)
            .map(|t| {
                let t = t as f64;
                (t, 2.0 + 0.5 * t - 0.25 * t * t, weight(t, 3))
            })
            .collect();
        assert!((local_poly_at_zero(&s) - 2.0).abs() < 1e-9);
        assert!((local_poly_at_zero(&[(1.0, 4.0, 1.0)]) - 4.0).abs() < 1e-12);
        // Two samples: a line.
        assert!((local_poly_at_zero(&[(1.0, 4.0, 1.0), (2.0, 5.0, 1.0)]) - 3.0).abs() < 1e-9);
    }
}
