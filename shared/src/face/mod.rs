//! Faces: detection, landmarks and alignment, decoded from face models' raw tensors using only
//! the numbers in their manifests (`detection`, `landmarks`, `alignment` blocks).
//!
//! * [`detect`] — SSD anchors (MediaPipe BlazeFace) and CenterNet (CenterFace) decoding,
//!   non-maximum suppression, and [`detect::FaceDetector`], which runs a detector through
//!   [`crate::pipeline::InferencePipeline::infer`] and maps its faces back to the frame.
//! * [`landmarks`] — the rotated square region a landmark model is fed (MediaPipe's face
//!   landmark region of interest), the crop, and [`landmarks::Landmarker`], which maps the
//!   model's points back to the frame.
//! * [`age`] — age editing with a model of StyleGANEX-age's or FRAN's contract (read from its
//!   manifest): crops, inputs, colour match and paste-back through a feathered box.
//! * [`align`] — 5-point similarity fits (Umeyama, no reflection) to a template and affine warps
//!   with bilinear sampling, for models fed aligned face crops.
//! * [`blend`] — seamless (Poisson) paste-back: the new face's gradients, bent to meet the
//!   frame at the matte's edge.
//! * [`search`] — the detector run on the whole frame and on overlapping windows in levels of
//!   halving size, so faces down to 1/32 of the frame's short side are found too (optionally
//!   with a second detector made for small faces, for faces the first missed).
//! * [`track`] — faces followed across frames (IoU) and landmarks smoothed over neighbouring
//!   frames; which faces an effect works on.
//! * [`regions`] — face oval matte, skin and under-eye masks from the face mesh.
//! * [`replace`] — another face warped onto the target's landmarks (piecewise affine over a
//!   Delaunay triangulation), colour-matched and blended through the face matte.
//! * [`swap`] — face swapping with inswapper_128's contract: an identity recogniser, the
//!   swapper's identity map read from its graph, paste-back through a feathered matte.
//! * [`retouch`] — the skin's wrinkle and blotch band softened (pores and grain kept) and the
//!   under-eye shadows lifted, within the face matte.
//!
//! # Coordinates
//!
//! Everything here uses the frame's OFX convention, like [`crate::image::FloatImage`] and
//! [`crate::pipeline::FitMapping`]: continuous pixel coordinates, `x` to the right and `y` UP;
//! pixel `(i, j)` covers `[i, i+1) x [j, j+1)`, so its centre is `(i + 0.5, j + 0.5)`. A
//! [`FaceBox`] therefore has `y1` at the bottom of the face (chin side of an upright face) and
//! `y2` at the top. Crops fed to models are top-down like tensors: crop coordinates `(u, v)` have
//! `v` going down the tensor rows. To compare with a y-down photo of height `H`, use
//! `y_up = H - y_down` (see [`FaceBox::from_y_down`]).

pub mod age;
pub mod align;
pub mod blend;
pub mod detect;
pub mod landmarks;
pub mod regions;
pub mod replace;
pub mod retouch;
pub mod search;
pub mod swap;
pub mod track;

/// An axis-aligned box in frame pixels (continuous, y up): `x1 <= x2`, `y1 <= y2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceBox {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl FaceBox {
    /// A box from any two opposite corners.
    pub fn from_corners(a: (f64, f64), b: (f64, f64)) -> FaceBox {
        FaceBox {
            x1: a.0.min(b.0),
            y1: a.1.min(b.1),
            x2: a.0.max(b.0),
            y2: a.1.max(b.1),
        }
    }

    /// A box given as `(x1, y1 top, x2, y2 bottom)` in a y-down image of `height` rows (as
    /// photos are usually marked), in frame coordinates.
    pub fn from_y_down(x1: f64, y1_top: f64, x2: f64, y2_bottom: f64, height: f64) -> FaceBox {
        FaceBox::from_corners((x1, height - y1_top), (x2, height - y2_bottom))
    }

    /// Width.
    pub fn width(&self) -> f64 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height.
    pub fn height(&self) -> f64 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area.
    pub fn area(&self) -> f64 {
        self.width() * self.height()
    }

    /// Centre point.
    pub fn centre(&self) -> (f64, f64) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    /// Whether a point lies inside (edges included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x1 && x <= self.x2 && y >= self.y1 && y <= self.y2
    }

    /// Intersection over union with another box (0 when either is empty).
    pub fn iou(&self, other: &FaceBox) -> f64 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// A named point in frame pixels (continuous, y up).
#[derive(Clone, Debug, PartialEq)]
pub struct Keypoint {
    /// Name from the manifest (`right_eye`, `nose_tip`, …; sides are the subject's).
    pub name: String,
    pub x: f64,
    pub y: f64,
}

/// One detected face, in frame pixels (continuous, y up).
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    /// The face box.
    pub bbox: FaceBox,
    /// Detection confidence, 0..1.
    pub score: f32,
    /// The detector's keypoints, named as in its manifest (`decode.keypoints`).
    pub keypoints: Vec<Keypoint>,
}

impl Face {
    /// A keypoint by name.
    pub fn keypoint(&self, name: &str) -> Option<(f64, f64)> {
        self.keypoints
            .iter()
            .find(|k| k.name == name)
            .map(|k| (k.x, k.y))
    }
}

/// `f(0)`, .., `f(n - 1)` computed on every core (each index once, by whichever thread is free)
/// and returned in index order: the same values as computing them one after another.
pub(crate) fn each_on_cores<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                return done;
            }
            done.push((i, f(i)));
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |c| c.get())
        .min(n);
    let mut done = std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut done = work();
        for t in others {
            done.extend(t.join().expect("a face worker thread panicked"));
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}
