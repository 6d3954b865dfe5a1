//! The real converted MediaPipe person models on real photographs: the full-range face detector
//! finds the astronaut's face at full size and when the photo is shrunk into a corner of a large
//! frame (a far face), and finds none in a photo without a face; the person detector finds the
//! astronaut with her hips below her face, and the pose matte (`plate::person`) covers her face
//! and torso but not the flag or the wall, also when she is small in a large frame, and is
//! empty in a photo without a person.
//!
//! Needs `PIXELSPACE_MODELS_DIR` with the converted models (`pixelspace models fetch --defaults`)
//! and python3 with scikit-image for the photos. Tests fail with instructions when either is
//! missing; they never skip.

mod common;

use common::*;
use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::face::detect::FaceDetector;
use pixelspace_shared::face::{Face, FaceBox};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::FloatImage;
use pixelspace_shared::plate::person::PersonMatter;

/// Hand-marked face in the astronaut photo, (x1, y1, x2, y2) pixels, y down.
const ASTRONAUT_FACE: (f64, f64, f64, f64) = (178.0, 78.0, 272.0, 182.0);

/// Regions that are the person (face, torso) and background (flag, wall), y down.
const PERSON: [(&str, (i32, i32, i32, i32)); 2] = [
    ("face", (180, 80, 270, 175)),
    ("torso", (80, 320, 300, 480)),
];
const BACKGROUND: [(&str, (i32, i32, i32, i32)); 2] = [
    ("flag", (0, 0, 100, 150)),
    ("wall right of the head", (300, 0, 512, 120)),
];

/// `img` shrunk by an integer factor (box average) and placed with its lower-left corner at
/// (x0, y0) of a mid-grey frame of `size` x `size`.
fn shrunk_into(img: &FloatImage, factor: i32, size: i32, x0: i32, y0: i32) -> FloatImage {
    let (w, h) = (img.width() as i32 / factor, img.height() as i32 / factor);
    FloatImage::from_fn(Rect::new(0, 0, size, size), |x, y| {
        let (u, v) = (x - x0, y - y0);
        if u < 0 || v < 0 || u >= w || v >= h {
            return [0.5, 0.5, 0.5, 1.0];
        }
        let mut acc = [0.0f32; 4];
        for dy in 0..factor {
            for dx in 0..factor {
                let p = img.pixel(u * factor + dx, v * factor + dy);
                for c in 0..4 {
                    acc[c] += p[c];
                }
            }
        }
        acc.map(|a| a / (factor * factor) as f32)
    })
}

fn full_range(img: &FloatImage) -> Vec<Face> {
    let det = FaceDetector::new(real("face_detector_full_range")).unwrap_or_else(|e| panic!("{e}"));
    det.detect(img, ColourSpace::Srgb)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn full_range_detector_finds_the_astronaut_near_and_far() {
    let astronaut = photo("astronaut");
    let marked = {
        let (x1, y1, x2, y2) = ASTRONAUT_FACE;
        FaceBox::from_y_down(x1, y1, x2, y2, 512.0)
    };
    let faces = full_range(&astronaut);
    assert_eq!(faces.len(), 1, "{faces:?}");
    let iou = faces[0].bbox.iou(&marked);
    eprintln!(
        "full range, full size: score {:.3}, IoU {iou:.3}",
        faces[0].score
    );
    assert!(iou >= 0.6, "IoU {iou:.3} with the hand-marked face");
    // Eyes inside the box, in its upper half (y up).
    for eye in ["right_eye", "left_eye"] {
        let (x, y) = faces[0].keypoint(eye).unwrap();
        assert!(faces[0].bbox.contains(x, y), "{eye} at ({x:.0}, {y:.0})");
        assert!(y > faces[0].bbox.centre().1, "{eye} below the box centre");
    }

    // Shrunk 2x into the top-right of a 768 frame: the face is ~47 px wide, 12 px at the
    // model's 192 input.
    let (factor, size, x0, y0) = (2, 768, 480, 500);
    let far = shrunk_into(&astronaut, factor, size, x0, y0);
    let faces = full_range(&far);
    let f = factor as f64;
    let want = FaceBox {
        x1: x0 as f64 + marked.x1 / f,
        y1: y0 as f64 + marked.y1 / f,
        x2: x0 as f64 + marked.x2 / f,
        y2: y0 as f64 + marked.y2 / f,
    };
    let best = faces
        .iter()
        .map(|face| face.bbox.iou(&want))
        .fold(0.0, f64::max);
    eprintln!(
        "full range, 1/{factor} size: {} faces, best IoU {best:.3}",
        faces.len()
    );
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(
        best >= 0.5,
        "best IoU {best:.3} with the shrunk face {want:?}"
    );
}

#[test]
fn full_range_detector_sees_no_face_in_a_photo_without_one() {
    let faces = full_range(&photo("coffee"));
    assert!(faces.is_empty(), "{faces:?}");
}

fn person_matter() -> PersonMatter {
    PersonMatter::new(
        std::sync::Arc::new(real("pose_detector")),
        std::sync::Arc::new(real("pose_landmarks")),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Mean of a matte (row by row from the bottom over `frame`) over a y-down box of the photo
/// placed with its lower-left corner at (x0, y0) and shrunk by `factor`.
fn mean_over(
    matte: &[f32],
    frame: Rect,
    photo_height: i32,
    (x0, y0, factor): (i32, i32, i32),
    (x1, y1, x2, y2): (i32, i32, i32, i32),
) -> f32 {
    let w = frame.width() as usize;
    let (mut sum, mut n) = (0.0, 0);
    for yd in y1 / factor..y2 / factor {
        for x in x1 / factor..x2 / factor {
            let y = y0 + (photo_height / factor - 1 - yd);
            let i = (y - frame.y1) as usize * w + (x0 + x - frame.x1) as usize;
            sum += matte[i];
            n += 1;
        }
    }
    sum / n as f32
}

#[test]
fn person_detector_finds_the_astronaut_and_the_pose_matte_covers_her() {
    let matter = person_matter();
    let astronaut = photo("astronaut");
    let people = matter.people(&astronaut, ColourSpace::Srgb).unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    let p = &people[0];
    let face = {
        let (x1, y1, x2, y2) = ASTRONAUT_FACE;
        FaceBox::from_y_down(x1, y1, x2, y2, 512.0)
    };
    let iou = p.detection.bbox.iou(&face);
    let hips = p.detection.keypoint("hip_centre").unwrap();
    eprintln!(
        "person: score {:.3}, face IoU {iou:.3}, hips at ({:.0}, {:.0}), crop side {:.0} turned {:.2} rad",
        p.detection.score, hips.0, hips.1, p.roi.side, p.roi.rotation
    );
    assert!(
        iou > 0.2,
        "the person detector's box: IoU {iou:.3} with the face"
    );
    // The Python reference decoding (face_common.py, POSE_DECODE) of the same model gives the
    // box [161.6, 135.3, 263.9, 237.7] (y down); the input resampling differs slightly.
    let reference = FaceBox::from_y_down(161.6, 135.3, 263.9, 237.7, 512.0);
    let b = p.detection.bbox;
    for (got, want) in [
        (b.x1, reference.x1),
        (b.y1, reference.y1),
        (b.x2, reference.x2),
        (b.y2, reference.y2),
    ] {
        assert!(
            (got - want).abs() < 4.0,
            "box {b:?} vs the reference {reference:?}"
        );
    }
    // The hips are well below the face (y up) and the crop is about upright.
    assert!(hips.1 < face.y1 - 100.0, "hips at {hips:?}");
    assert!(p.roi.rotation.abs() < 0.5, "rotation {}", p.roi.rotation);

    // Full size, then shrunk 3x into a 768 frame (a person ~170 px tall).
    for (factor, size, x0, y0) in [(1, 512, 0, 0), (3, 768, 500, 60)] {
        let frame = if factor == 1 {
            astronaut.clone()
        } else {
            shrunk_into(&astronaut, factor, size, x0, y0)
        };
        let matte = matter.matte(&frame, ColourSpace::Srgb).unwrap();
        for (name, r) in PERSON {
            let m = mean_over(&matte, frame.bounds, 512, (x0, y0, factor), r);
            eprintln!("1/{factor}: {name} {m:.3}");
            assert!(
                m > 0.7,
                "1/{factor}: the pose matte over the {name} is {m:.3}"
            );
        }
        for (name, r) in BACKGROUND {
            let m = mean_over(&matte, frame.bounds, 512, (x0, y0, factor), r);
            eprintln!("1/{factor}: {name} {m:.3}");
            assert!(
                m < 0.1,
                "1/{factor}: the pose matte over the {name} is {m:.3}"
            );
        }
        if factor > 1 {
            // Nothing outside the shrunk photo.
            let w = size as usize;
            let outside = (0..size)
                .flat_map(|y| (0..x0 - 20).map(move |x| (x, y)))
                .map(|(x, y)| matte[y as usize * w + x as usize])
                .fold(0f32, f32::max);
            assert!(outside < 0.05, "matte {outside} left of the photo");
        }
    }
}

#[test]
fn pose_matte_is_empty_without_a_person() {
    let matter = person_matter();
    let coffee = photo("coffee");
    let people = matter.people(&coffee, ColourSpace::Srgb).unwrap();
    eprintln!("coffee: {} detections", people.len());
    let matte = matter.matte(&coffee, ColourSpace::Srgb).unwrap();
    assert_eq!(matte.len(), coffee.bounds.area());
    assert!(matte.iter().all(|&m| m == 0.0));
}

/// The astronaut with her face painted over in grey: the person detector, which finds people
/// by their face, misses her; the landmark model still sees her body in a crop.
fn astronaut_without_face() -> FloatImage {
    let astronaut = photo("astronaut");
    let (x1, y1, x2, y2) = ASTRONAUT_FACE;
    FloatImage::from_fn(astronaut.bounds, |x, y| {
        let yd = 511 - y;
        let inside = x as f64 >= x1 - 10.0
            && x as f64 <= x2 + 10.0
            && yd as f64 >= y1 - 10.0
            && yd as f64 <= y2 + 10.0;
        if inside {
            [0.5, 0.5, 0.5, 1.0]
        } else {
            astronaut.pixel(x, y)
        }
    })
}

#[test]
fn a_person_the_detector_misses_in_one_frame_is_held_from_the_frames_around() {
    use pixelspace_shared::error::Error;
    use pixelspace_shared::plate::person::MatteCache;
    let matter = person_matter();
    let astronaut = photo("astronaut");
    let missed = astronaut_without_face();
    let torso = PERSON[1].1;
    let people = matter.people(&missed, ColourSpace::Srgb).unwrap();
    assert!(people.is_empty(), "the detector still finds {people:?}");
    let alone = matter.matte(&missed, ColourSpace::Srgb).unwrap();
    let m_alone = mean_over(&alone, missed.bounds, 512, (0, 0, 1), torso);
    // Frames -1 and +1 show her face; -2 and +2 are outside the shot.
    let cache = MatteCache::new(1 << 26);
    let around = |k: i32| -> Result<Option<FloatImage>, Error> {
        Ok((k.abs() == 1).then(|| astronaut.clone()))
    };
    let held = cache
        .held_matte(&matter, 0, &missed, &around, ColourSpace::Srgb)
        .unwrap();
    let m_held = mean_over(&held, missed.bounds, 512, (0, 0, 1), torso);
    eprintln!("torso: {m_alone:.3} from this frame alone, {m_held:.3} held");
    assert!(
        m_alone < 0.1,
        "this frame alone covers the torso ({m_alone:.3})"
    );
    assert!(m_held > 0.7, "the held matte over the torso is {m_held:.3}");
    // With her face painted over, the landmark model's matte spreads into the flag beside her
    // head (0.53); the wall to the other side stays clear.
    let (name, wall) = BACKGROUND[1];
    let m = mean_over(&held, missed.bounds, 512, (0, 0, 1), wall);
    assert!(m < 0.1, "the held matte over the {name} is {m:.3}");
    // Found before only (she walked out): not held.
    let before_only = |k: i32| -> Result<Option<FloatImage>, Error> {
        Ok((k == -1)
            .then(|| astronaut.clone())
            .or_else(|| (k == 1).then(|| photo("coffee"))))
    };
    let m = MatteCache::new(1 << 26)
        .held_matte(&matter, 0, &missed, &before_only, ColourSpace::Srgb)
        .unwrap();
    let m_before = mean_over(&m, missed.bounds, 512, (0, 0, 1), torso);
    assert!(m_before < 0.1, "held from one side only: {m_before:.3}");
    // Frames read before are not read again: the same matte from the cache's people.
    let cache = MatteCache::new(1 << 26);
    let none = |_: i32| -> Result<Option<FloatImage>, Error> { Ok(None) };
    for k in [-1, 1] {
        cache
            .held_matte(&matter, k, &astronaut, &none, ColourSpace::Srgb)
            .unwrap();
    }
    let no_reads = |k: i32| -> Result<Option<FloatImage>, Error> {
        if k.abs() == 1 {
            Err(Error::new(format!("frame {k} was read again")))
        } else {
            Ok(None)
        }
    };
    let again = cache
        .held_matte(&matter, 0, &missed, &no_reads, ColourSpace::Srgb)
        .unwrap();
    assert!(
        again == held,
        "the matte differs when the frames around were seen before"
    );
}
