//! Face search over a whole frame at more than one scale. A short-range detector such as
//! BlazeFace sees the frame shrunk to its input (128x128): a face 200 pixels wide in a 1920x1080
//! frame becomes 13 pixels there, too small to be found. So besides the whole frame, the
//! detector also looks at overlapping square windows (half the frame's short side, overlapping
//! by half), and the detections are merged: a face cut by a window's inner edge is dropped in
//! favour of the window that holds it whole, and duplicates (IoU above 0.3) keep the best score.
//!
//! The windows depend only on the frame's size, so the result is a function of the frame alone.

use super::Face;
use super::detect::FaceDetector;
use crate::colour::ColourSpace;
use crate::error::Result;
use crate::geometry::Rect;
use crate::image::FloatImage;

/// The square windows searched besides the whole frame: side half the short side (none when
/// that is under 360 pixels: frames up to 720 lines are searched whole), stepping by half a side, the last
/// row and column flush with the frame's edge.
pub fn windows(frame: Rect) -> Vec<Rect> {
    let (w, h) = (frame.width() as i32, frame.height() as i32);
    let side = w.min(h) / 2;
    if side < 360 {
        return Vec::new();
    }
    let starts = |len: i32| {
        let step = side / 2;
        let mut v: Vec<i32> = (0..)
            .map(|k| k * step)
            .take_while(|s| s + side < len)
            .collect();
        v.push(len - side);
        v.dedup();
        v
    };
    let mut out = Vec::new();
    for y in starts(h) {
        for x in starts(w) {
            out.push(Rect::new(
                frame.x1 + x,
                frame.y1 + y,
                frame.x1 + x + side,
                frame.y1 + y + side,
            ));
        }
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
    let span = |i: u32, s: f64, len: u32| {
        let a = (i as f64 * s).floor() as i32;
        let b = (((i + 1) as f64 * s).ceil() as i32)
            .min(len as i32)
            .max(a + 1);
        (a, b)
    };
    let out = FloatImage::from_fn(Rect::from_size(ow, oh), |x, y| {
        let (x0, x1) = span(x as u32, sx, w);
        let (y0, y1) = span(y as u32, sy, h);
        let mut acc = [0.0f32; 4];
        for yy in y0..y1 {
            let row = frame.row(rect.y1 + yy);
            let off = (rect.x1 - frame.bounds.x1) as usize * 4;
            for xx in x0..x1 {
                let p = &row[off + 4 * xx as usize..off + 4 * xx as usize + 4];
                for c in 0..4 {
                    acc[c] += p[c];
                }
            }
        }
        let n = ((x1 - x0) * (y1 - y0)) as f32;
        acc.map(|v| v / n)
    });
    (out, sx, sy)
}

/// Runs the detector on `rect` of `frame` shrunk to `long_side` and maps its faces back.
fn detect_in(
    detector: &FaceDetector,
    frame: &FloatImage,
    rect: Rect,
    long_side: u32,
    colour: ColourSpace,
) -> Result<Vec<Face>> {
    let (small, sx, sy) = shrink(frame, rect, long_side);
    let map = |x: f64, y: f64| (rect.x1 as f64 + x * sx, rect.y1 as f64 + y * sy);
    Ok(detector
        .detect(&small, colour)?
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

/// Every face in `frame` (pixels in the `colour` encoding), best score first. The detector
/// sees the whole frame shrunk to at most 256 pixels on its long side, and each window of
/// [`windows`] shrunk to 128.
pub fn find_faces(
    detector: &FaceDetector,
    frame: &FloatImage,
    colour: ColourSpace,
) -> Result<Vec<Face>> {
    let mut found = detect_in(detector, frame, frame.bounds, 256, colour)?;
    for window in windows(frame.bounds) {
        for face in detect_in(detector, frame, window, 128, colour)? {
            if !cut_by_window(&face, window, frame.bounds) {
                found.push(face);
            }
        }
    }
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for face in found {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= 0.3) {
            kept.push(face);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_frame_with_overlap() {
        let f = Rect::new(0, 0, 1920, 1080);
        let w = windows(f);
        assert!(w.iter().all(|r| r.width() == 540 && r.height() == 540));
        assert!(w.iter().all(|r| f.contains_rect(r)));
        // Every pixel lies in some window.
        for (x, y) in [(0, 0), (1919, 1079), (960, 540), (1700, 100)] {
            assert!(w.iter().any(|r| r.contains(x, y)), "({x}, {y})");
        }
        assert_eq!(w.len(), 7 * 3);
        assert!(windows(Rect::new(0, 0, 512, 512)).is_empty());
        assert!(windows(Rect::new(0, 0, 1280, 719)).is_empty());
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
    }
}
