//! Face search over a whole frame at several scales. A detector such as BlazeFace sees the
//! frame shrunk to its input (128 or 192 pixels square): a face 200 pixels wide in a 1920x1080
//! frame becomes 13 pixels there, and a face 25 pixels wide in a 768x576 frame 4, too small to
//! be found (BlazeFace finds faces from about 12 of its input pixels; the search counts on 16).
//! So besides the whole frame, the detector also looks at overlapping square windows, in levels
//! of halving size, down to the smallest face searched ([`smallest_face`]: 1/32 of the short
//! side, at least 16 pixels).
//!
//! Each level finds faces from half the size the level above finds (the whole frame: its long
//! side / 8 for a 128-pixel input); its windows overlap by 1.25 times that size, so every face
//! the level above might miss lies whole in one of them. A window keeps only faces it holds
//! whole (a face cut by its inner edge is left to a window that holds it) and no larger than
//! 1.5 times that size (larger faces are the level above's; a window showing part of a large
//! face must not make a face of it). Duplicates (IoU above 0.3) keep the best score.
//!
//! A second detector made for small faces (MediaPipe's full-range BlazeFace) may also search
//! the finest level of its own windows; it only adds faces the first did not find (on real
//! footage it misses some mid-sized faces the short-range model finds, so it does not replace
//! it). The windows depend only on the frame's size and the detectors, so the result is a
//! function of the frame alone.

use super::Face;
use super::detect::FaceDetector;
use crate::colour::ColourSpace;
use crate::error::Result;
use crate::geometry::Rect;
use crate::image::{FloatImage, ImageView};

/// Input pixels a face must span for the search to count on finding it.
const FACE_MODEL_PIXELS: f64 = 16.0;
/// How far windows of one level overlap, in faces of the smallest size the level above finds.
const OVERLAP: f64 = 1.25;
/// The largest face a window keeps, in faces of the smallest size the level above finds.
const LARGEST_KEPT: f64 = 1.5;

/// The smallest face searched, in frame pixels (box side): 1/32 of the frame's short side, at
/// least 16 pixels (smaller faces are too few pixels for the landmark model).
pub fn smallest_face(frame: Rect) -> f64 {
    (frame.width().min(frame.height()) as f64 / 32.0).max(16.0)
}

/// One square window of the search, and the largest face (box side, frame pixels) kept from it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub rect: Rect,
    pub largest: f64,
}

/// The windows searched besides the whole frame, coarse levels first. `whole_input` and
/// `window_input` are the input sides of the detectors that search the whole frame and the
/// windows. A level finding faces from `f` pixels has windows of side `f * window_input / 16`
/// (at most the short side), stepping by the side less 1.25 times the smallest face the level
/// above finds (at least a quarter side), the last row and column flush with the frame's edge.
pub fn windows(frame: Rect, whole_input: u32, window_input: u32) -> Vec<Window> {
    let (w, h) = (frame.width() as i32, frame.height() as i32);
    let (short, long) = (w.min(h), w.max(h));
    let reach = window_input.max(1) as f64 / FACE_MODEL_PIXELS;
    let smallest = smallest_face(frame);
    // The smallest face the level above finds.
    let mut above = long as f64 * FACE_MODEL_PIXELS / whole_input.max(1) as f64;
    let mut out = Vec::new();
    while above > smallest {
        let side = (((above / 2.0).max(smallest) * reach).round() as i32).min(short);
        let finds = side as f64 / reach;
        if side <= 0 || finds >= above {
            break;
        }
        let step = (side - (OVERLAP * above).ceil() as i32)
            .max(side / 4)
            .max(1);
        let starts = |len: i32| {
            let mut v: Vec<i32> = (0..)
                .map(|k| k * step)
                .take_while(|s| s + side < len)
                .collect();
            v.push(len - side);
            v.dedup();
            v
        };
        for y in starts(h) {
            for x in starts(w) {
                out.push(Window {
                    rect: Rect::new(
                        frame.x1 + x,
                        frame.y1 + y,
                        frame.x1 + x + side,
                        frame.y1 + y + side,
                    ),
                    largest: LARGEST_KEPT * above,
                });
            }
        }
        above = finds;
    }
    out
}

/// Whether a face box touches an edge of `window` that is not an edge of `frame`.
fn cut_by_window(face: &Face, window: Rect, frame: Rect) -> bool {
    let b = face.bbox;
    let margin = 2.0;
    (window.x1 > frame.x1 && b.x1 <= window.x1 as f64 + margin)
        || (window.y1 > frame.y1 && b.y1 <= window.y1 as f64 + margin)
        || (window.x2 < frame.x2 && b.x2 >= window.x2 as f64 - margin)
        || (window.y2 < frame.y2 && b.y2 >= window.y2 as f64 - margin)
}

/// The part `rect` of `frame` shrunk by area averaging so that its longer side is at most
/// `long_side` pixels (not enlarged), with bounds from the origin; and the frame pixels per
/// shrunk pixel in x and y.
pub fn shrink(frame: &FloatImage, rect: Rect, long_side: u32) -> (FloatImage, f64, f64) {
    let rect = rect.intersect(&frame.bounds);
    let (w, h) = (rect.width().max(1), rect.height().max(1));
    let f = (w.max(h) as f64 / long_side.max(1) as f64).max(1.0);
    let (ow, oh) = (
        ((w as f64 / f).round() as u32).max(1),
        ((h as f64 / f).round() as u32).max(1),
    );
    let (sx, sy) = (w as f64 / ow as f64, h as f64 / oh as f64);
    let mut out = FloatImage::new(Rect::from_size(ow, oh));
    if rect.is_empty() {
        return (out, sx, sy);
    }
    let span = |i: u32, s: f64, len: u32| {
        let a = (i as f64 * s).floor() as usize;
        let b = (((i + 1) as f64 * s).ceil() as usize)
            .min(len as usize)
            .max(a + 1);
        (a, b)
    };
    let columns: Vec<(usize, usize)> = (0..ow).map(|i| span(i, sx, w)).collect();
    let off = (rect.x1 - frame.bounds.x1) as usize * 4;
    let width = 4 * w as usize;
    // Each output row: the rows it covers summed into one line, then each column's span.
    let mut line = vec![0.0f32; width];
    for j in 0..oh {
        let (y0, y1) = span(j, sy, h);
        line.fill(0.0);
        for yy in y0..y1 {
            let row = &frame.row(rect.y1 + yy as i32)[off..off + width];
            for (a, v) in line.iter_mut().zip(row) {
                *a += v;
            }
        }
        let rows = (y1 - y0) as f32;
        let dst = out.row_mut(j as i32);
        for (px, &(x0, x1)) in dst.chunks_exact_mut(4).zip(&columns) {
            let mut acc = [0.0f32; 4];
            for p in line[4 * x0..4 * x1].chunks_exact(4) {
                for c in 0..4 {
                    acc[c] += p[c];
                }
            }
            let n = rows * (x1 - x0) as f32;
            for c in 0..4 {
                px[c] = acc[c] / n;
            }
        }
    }
    (out, sx, sy)
}

/// One row of a half-resolution image: each pixel the mean of a 2x2 block of `top` and
/// `bottom` (RGBA rows of twice its width).
fn average_rows(top: &[f32], bottom: &[f32], dst: &mut [f32]) {
    for (i, px) in dst.chunks_exact_mut(4).enumerate() {
        let k = 8 * i;
        for c in 0..4 {
            px[c] = 0.25 * ((top[k + c] + top[k + 4 + c]) + (bottom[k + c] + bottom[k + 4 + c]));
        }
    }
}

/// Bounds at half resolution (origin halved; an odd last row or column left out).
fn half_bounds(b: Rect) -> Rect {
    let (w, h) = (b.width() as i32 / 2, b.height() as i32 / 2);
    let (x1, y1) = (b.x1.div_euclid(2), b.y1.div_euclid(2));
    Rect::new(x1, y1, x1 + w, y1 + h)
}

/// `frame` at half resolution: each pixel the mean of a 2x2 block, bounds halved (the frame's
/// origin must be even; an odd last row or column is left out).
pub fn halve(frame: &FloatImage) -> FloatImage {
    let b = frame.bounds;
    let mut out = FloatImage::new(half_bounds(b));
    let (y0, w) = (out.bounds.y1, out.width() as usize);
    for j in 0..out.height() as i32 {
        let (top, bottom) = (frame.row(b.y1 + 2 * j), frame.row(b.y1 + 2 * j + 1));
        average_rows(&top[..8 * w], &bottom[..8 * w], out.row_mut(y0 + j));
    }
    out
}

/// [`halve`] of a host image, read two rows at a time (bands of rows on every core): the same
/// values as halving the image converted to float, without converting the whole frame.
pub fn halve_view(view: &ImageView) -> FloatImage {
    let b = view.bounds();
    let mut out = FloatImage::new(half_bounds(b));
    let (w, h) = (out.width() as usize, out.height() as usize);
    if w == 0 || h == 0 {
        return out;
    }
    let x2 = b.x1 + 2 * w as i32;
    let band = h.div_ceil(crate::fused::threads_for(w * h));
    // Output rows `first..` into `dst` (whole rows).
    let halve_band = |first: usize, dst: &mut [f32]| {
        let (mut top, mut bottom) = (vec![0.0f32; 8 * w], vec![0.0f32; 8 * w]);
        for (i, row) in dst.chunks_exact_mut(4 * w).enumerate() {
            let y = b.y1 + 2 * (first + i) as i32;
            view.read_row_rgba(y, b.x1, x2, &mut top);
            view.read_row_rgba(y + 1, b.x1, x2, &mut bottom);
            average_rows(&top, &bottom, row);
        }
    };
    let mut bands = out.data.chunks_mut(4 * w * band).enumerate();
    let first = bands.next();
    std::thread::scope(|s| {
        for (k, dst) in bands {
            s.spawn(move || halve_band(k * band, dst));
        }
        if let Some((_, dst)) = first {
            halve_band(0, dst);
        }
    });
    out
}

/// What the detector sees of a rectangle: `rect` (frame pixels) shrunk, and the frame pixels
/// per shrunk pixel in x and y.
struct Shrunk {
    rect: Rect,
    small: FloatImage,
    sx: f64,
    sy: f64,
}

/// `rect` shrunk to `long_side`. `source` is the frame itself (`k` = 1) or the frame at
/// 1/`k` resolution, in which case `rect`'s edges are multiples of `k`.
fn shrink_rect(source: &FloatImage, k: i32, rect: Rect, long_side: u32) -> Shrunk {
    let src_rect = Rect::new(rect.x1 / k, rect.y1 / k, rect.x2 / k, rect.y2 / k);
    let (small, sx, sy) = shrink(source, src_rect, long_side);
    Shrunk {
        rect,
        small,
        sx: sx * k as f64,
        sy: sy * k as f64,
    }
}

/// Runs the detector on a shrunk rectangle and maps its faces back to frame pixels.
fn detect_in(detector: &FaceDetector, shrunk: &Shrunk, colour: ColourSpace) -> Result<Vec<Face>> {
    let Shrunk { rect, sx, sy, .. } = *shrunk;
    let map = |x: f64, y: f64| (rect.x1 as f64 + x * sx, rect.y1 as f64 + y * sy);
    Ok(detector
        .detect(&shrunk.small, colour)?
        .into_iter()
        .map(|mut f| {
            let a = map(f.bbox.x1, f.bbox.y1);
            let b = map(f.bbox.x2, f.bbox.y2);
            f.bbox = super::FaceBox::from_corners(a, b);
            for k in &mut f.keypoints {
                (k.x, k.y) = map(k.x, k.y);
            }
            f
        })
        .collect())
}

fn even(r: &Rect) -> bool {
    [r.x1, r.y1, r.x2, r.y2]
        .iter()
        .all(|v| v.rem_euclid(2) == 0)
}

/// Where the search reads pixels: a float frame, or a host image converted a part at a time.
#[derive(Clone, Copy)]
enum Pixels<'a, 'b> {
    Float(&'a FloatImage),
    View(&'a ImageView<'b>),
}

/// The detectors a search runs: `main` on the whole frame and every window; `small` (a
/// detector made for small faces, such as MediaPipe's full-range BlazeFace), when given, also
/// on the finest level of its own windows, for faces `main` missed.
#[derive(Clone, Copy)]
pub struct Detectors<'a> {
    pub main: &'a FaceDetector,
    pub small: Option<&'a FaceDetector>,
}

impl<'a> Detectors<'a> {
    /// One detector for the whole search.
    pub fn one(detector: &'a FaceDetector) -> Detectors<'a> {
        Detectors {
            main: detector,
            small: None,
        }
    }
}

/// The finest level of `windows` (those of the smallest side).
fn finest(windows: Vec<Window>) -> Vec<Window> {
    let side = windows.iter().map(|w| w.rect.width()).min();
    windows
        .into_iter()
        .filter(|w| Some(w.rect.width()) == side)
        .collect()
}

/// Every face in `frame` (pixels in the `colour` encoding): the main detector's, best score
/// first, then those only the small-face detector found, best first. The whole frame is shrunk
/// to twice the main detector's input on its long side (the detector's own resize does the
/// rest), each window to its detector's input. Large rectangles are shrunk from the frame at
/// half resolution (made once; the windows overlap, so this reads each frame pixel once
/// instead of several times), except for rectangles with an odd edge.
pub fn find_faces(
    detectors: Detectors,
    frame: &FloatImage,
    colour: ColourSpace,
) -> Result<Vec<Face>> {
    search(detectors, Pixels::Float(frame), colour)
}

/// [`find_faces`] on a host image (its bounds are the frame) without converting the whole
/// frame to float: the half-resolution copy is read from it directly, and a rectangle that
/// needs full resolution is converted alone. Gives the same faces as [`find_faces`] on
/// `FloatImage::from_view(view, view.bounds())`.
pub fn find_faces_in_view(
    detectors: Detectors,
    view: &ImageView,
    colour: ColourSpace,
) -> Result<Vec<Face>> {
    search(detectors, Pixels::View(view), colour)
}

/// Which pass a run belongs to.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Main,
    SmallFaces,
}

/// Adds each of `found` (best first) that overlaps none of `kept` by an IoU above 0.3.
fn keep_new(kept: &mut Vec<Face>, mut found: Vec<Face>) {
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    for face in found {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= 0.3) {
            kept.push(face);
        }
    }
}

fn search(detectors: Detectors, pixels: Pixels, colour: ColourSpace) -> Result<Vec<Face>> {
    let bounds = match pixels {
        Pixels::Float(f) => f.bounds,
        Pixels::View(v) => v.bounds(),
    };
    let main_input = detectors.main.input_side();
    let whole = Window {
        rect: bounds,
        largest: f64::INFINITY,
    };
    // (window, side it is shrunk to, detector, pass)
    let mut jobs: Vec<(Window, u32, &FaceDetector, Pass)> =
        vec![(whole, 2 * main_input, detectors.main, Pass::Main)];
    jobs.extend(
        windows(bounds, main_input, main_input)
            .into_iter()
            .map(|w| (w, main_input, detectors.main, Pass::Main)),
    );
    if let Some(small) = detectors.small {
        let input = small.input_side();
        jobs.extend(
            finest(windows(bounds, main_input, input))
                .into_iter()
                .map(|w| (w, input, small, Pass::SmallFaces)),
        );
    }
    // Half resolution pays where a window is at least four times its detector's input.
    let half = (jobs[1..].iter().any(|j| j.0.rect.width() >= 4 * j.1)
        && bounds.x1 % 2 == 0
        && bounds.y1 % 2 == 0)
        .then(|| match pixels {
            Pixels::Float(f) => halve(f),
            Pixels::View(v) => halve_view(v),
        });
    let prepare = |rect: Rect, long_side: u32| match (&half, pixels) {
        (Some(h), _) if even(&rect) && rect.width().max(rect.height()) >= 2 * long_side => {
            shrink_rect(h, 2, rect, long_side)
        }
        (_, Pixels::Float(f)) => shrink_rect(f, 1, rect, long_side),
        (_, Pixels::View(v)) => shrink_rect(&FloatImage::from_view(v, rect), 1, rect, long_side),
    };
    // Every run on whichever core is free (a one-thread detector has a session per core), the
    // faces kept in job order; a window's faces cut by its inner edges or larger than it keeps
    // are dropped.
    let runs = super::each_on_cores(jobs.len(), |i| {
        let (window, long_side, detector, _) = jobs[i];
        detect_in(detector, &prepare(window.rect, long_side), colour)
    });
    let (mut main, mut small) = (Vec::new(), Vec::new());
    for ((window, _, _, pass), faces) in jobs.iter().zip(runs) {
        let faces = faces?.into_iter().filter(|f| {
            !cut_by_window(f, window.rect, bounds)
                && f.bbox.width().max(f.bbox.height()) <= window.largest
        });
        match pass {
            Pass::Main => main.extend(faces),
            Pass::SmallFaces => small.extend(faces),
        }
    }
    let mut kept = Vec::new();
    keep_new(&mut kept, main);
    keep_new(&mut kept, small);
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether every square of side `face` in `frame` lies whole in one of `windows`.
    fn every_face_lies_whole_in_one(frame: Rect, windows: &[Window], face: i32) -> bool {
        let step = (face / 4).max(1) as usize;
        (frame.y1..=frame.y2 - face).step_by(step).all(|y| {
            (frame.x1..=frame.x2 - face).step_by(step).all(|x| {
                let f = Rect::new(x, y, x + face, y + face);
                windows.iter().any(|w| w.rect.contains_rect(&f))
            })
        })
    }

    #[test]
    fn window_levels_halve_down_to_the_smallest_face_and_overlap_by_the_level_above() {
        let f = Rect::new(0, 0, 1920, 1080);
        assert_eq!(smallest_face(f), 33.75);
        let w = windows(f, 128, 128);
        assert!(w.iter().all(|r| f.contains_rect(&r.rect)));
        let mut sides: Vec<u32> = w.iter().map(|r| r.rect.width()).collect();
        sides.dedup();
        // The whole frame finds faces from 240 pixels; the levels from 120, 60 and 33.75.
        assert_eq!(sides, [960, 480, 270]);
        for (side, above) in [(960, 240.0), (480, 120.0), (270, 60.0)] {
            let level: Vec<Window> = w
                .iter()
                .filter(|r| r.rect.width() == side as u32)
                .copied()
                .collect();
            assert!(level.iter().all(|r| r.largest == 1.5 * above));
            // Every pixel is in a window, and every face the level above might miss (up to
            // 1.25 times what it finds from) lies whole in one.
            assert!(every_face_lies_whole_in_one(f, &level, 1));
            assert!(every_face_lies_whole_in_one(
                f,
                &level,
                (1.25 * above) as i32
            ));
        }
        // A detector with a larger input needs larger windows for the same faces.
        let wide = windows(f, 128, 192);
        let mut sides: Vec<u32> = wide.iter().map(|r| r.rect.width()).collect();
        sides.dedup();
        assert_eq!(sides, [1080, 540, 405]);
        assert!(wide.len() < w.len());
        // A 768x576 frame is searched down to 18-pixel faces, a 176x144 one down to 16.
        let sd = windows(Rect::new(0, 0, 768, 576), 128, 128);
        assert_eq!(smallest_face(Rect::new(0, 0, 768, 576)), 18.0);
        assert_eq!(sd.last().unwrap().rect.width(), 144);
        let small = windows(Rect::new(0, 0, 176, 144), 128, 128);
        assert!(
            small
                .iter()
                .all(|r| r.rect.width() == 128 && r.largest == 33.0)
        );
        // A frame whose whole view already shows its smallest face has no windows.
        assert!(windows(Rect::new(0, 0, 128, 128), 128, 128).is_empty());
    }

    fn face_at(x: f64, size: f64, score: f32) -> Face {
        Face {
            bbox: super::super::FaceBox {
                x1: x,
                y1: 0.0,
                x2: x + size,
                y2: size,
            },
            score,
            keypoints: Vec::new(),
        }
    }

    #[test]
    fn a_second_pass_only_adds_faces_the_first_did_not_find() {
        let mut kept = Vec::new();
        keep_new(
            &mut kept,
            vec![face_at(0.0, 20.0, 0.6), face_at(2.0, 20.0, 0.9)],
        );
        // Duplicates keep the best score.
        assert_eq!(kept, [face_at(2.0, 20.0, 0.9)]);
        // A better-scored face over a kept one is not added; one elsewhere is, after it.
        keep_new(
            &mut kept,
            vec![face_at(100.0, 20.0, 0.7), face_at(1.0, 20.0, 0.99)],
        );
        assert_eq!(kept, [face_at(2.0, 20.0, 0.9), face_at(100.0, 20.0, 0.7)]);
    }

    #[test]
    fn the_finest_level_is_the_smallest_windows() {
        let all = windows(Rect::new(0, 0, 768, 576), 128, 192);
        let fine = finest(all.clone());
        assert!(!fine.is_empty() && fine.len() < all.len());
        assert!(fine.iter().all(|w| w.rect.width() == 216));
        assert!(every_face_lies_whole_in_one(
            Rect::new(0, 0, 768, 576),
            &fine,
            1
        ));
    }

    #[test]
    fn shrinking_averages_areas() {
        let img = FloatImage::from_fn(Rect::new(10, 20, 18, 24), |x, _| {
            let v = if x % 2 == 0 { 1.0 } else { 0.0 };
            [v, v, v, 1.0]
        });
        let (s, sx, sy) = shrink(&img, img.bounds, 4);
        assert_eq!((s.width(), s.height(), sx, sy), (4, 2, 2.0, 2.0));
        assert!(
            s.data
                .chunks_exact(4)
                .all(|p| (p[0] - 0.5).abs() < 1e-6 && p[3] == 1.0)
        );
        let (same, _, _) = shrink(&img, img.bounds, 100);
        assert_eq!(same.data, img.data);
        // A part of the frame, shrunk by 2 in x and y.
        let (part, _, _) = shrink(&img, Rect::new(12, 20, 16, 22), 2);
        assert_eq!((part.width(), part.height()), (2, 1));
        assert!(part.data.chunks_exact(4).all(|p| (p[0] - 0.5).abs() < 1e-6));
    }

    #[test]
    fn halving_averages_two_by_two_blocks() {
        let img = FloatImage::from_fn(Rect::new(10, 20, 15, 24), |x, y| {
            [x as f32, y as f32, (x * y) as f32, 1.0]
        });
        let h = halve(&img);
        assert_eq!(h.bounds, Rect::new(5, 10, 7, 12));
        // Pixel (5, 10) averages frame pixels x 10..12, y 20..22.
        assert_eq!(
            h.pixel(5, 10),
            [10.5, 20.5, (200 + 220 + 210 + 231) as f32 / 4.0, 1.0]
        );
        assert_eq!(
            h.pixel(6, 11),
            [12.5, 22.5, (264 + 276 + 286 + 299) as f32 / 4.0, 1.0]
        );
    }

    #[test]
    fn halving_a_host_image_equals_halving_it_converted() {
        use crate::image::{Components, ImageViewMut, PixelDepth};
        let b = Rect::new(0, 0, 9, 6);
        let src = FloatImage::from_fn(b, |x, y| {
            let v = ((x * 37 + y * 11) % 256) as f32 / 255.0;
            [v, 1.0 - v, 0.5 * v, 1.0]
        });
        let mut buf = vec![0u8; 9 * 4 * 6];
        let mut out =
            ImageViewMut::new(&mut buf, 0, 36, b, PixelDepth::Byte, Components::Rgba).unwrap();
        src.write_to(&mut out, b);
        let view = out.as_view();
        let converted = FloatImage::from_view(&view, b);
        assert_eq!(halve_view(&view), halve(&converted));
        assert_eq!(halve_view(&view).bounds, Rect::new(0, 0, 4, 3));
    }
}
