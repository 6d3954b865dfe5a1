//! `org.pixelspace.Face` finds faces where they are small, through `pixelspace render` with the
//! installed default models (the short-range detector over the whole frame and the search's
//! windows, and the full-range one, where installed, for small faces it missed), and with the
//! short-range detector alone:
//!
//! * the real photos `basketball_1` and `basketball_2` (640x480, grey; two men tossing a ball):
//!   the face of the man facing the camera, about 36 pixels wide, is found where it was marked
//!   by hand (the other man turns his face away);
//! * a real portrait (scikit-image's astronaut) scaled down by area averaging so that its face
//!   is 20, 24 and 30 pixels wide and pasted into a real street frame (`pedestrians_static`,
//!   768x576): each face is found where it was put, at its size;
//! * the real clip `bikes_traffic` (640x272): the cyclist's face, about 60 pixels wide near the
//!   frame's top edge, is found in each of the 14 frames it is whole in (0 to 13), moving right
//!   as he rides across.
//!
//! Needs the real footage (`PIXELSPACE_TEST_FOOTAGE`; without it the tests do not run),
//! `PIXELSPACE_MODELS_DIR` with the face models, and the test photos of tests/setup.

use std::path::{Path, PathBuf};

use pixelspace_tests::*;

const FACE: &str = "org.pixelspace.Face";
/// Points of the face mesh.
const MESH_POINTS: usize = 468;
/// The hand-marked face of the man facing the camera in both basketball photos, (x1, y1, x2,
/// y2) pixels, y down: ear to cheek, hairline to chin.
const BASKETBALL_FACE: [f64; 4] = [67.0, 92.0, 103.0, 135.0];
/// The hand-marked face of the astronaut photo (512x512), (x1, y1, x2, y2), y down.
const ASTRONAUT_FACE: [f64; 4] = [178.0, 78.0, 272.0, 182.0];
/// Face widths the portrait is shrunk to, with where its top-left corner goes in the street
/// frame (x, y down).
const PASTES: [(f64, [usize; 2]); 3] = [(20.0, [90, 330]), (24.0, [420, 260]), (30.0, [560, 40])];

/// The detectors a render uses: the installed defaults, or the short-range detector alone.
#[derive(Clone, Copy, Debug)]
enum Detectors {
    Defaults,
    ShortRangeAlone,
}

/// Every face of one frame of the `landmarks` output: its raw detector box, y down.
fn read_faces(path: &Path) -> Vec<[f64; 4]> {
    let img = read_image(path);
    let h = img.height as f64;
    let block = MESH_POINTS.div_ceil(img.width) + 1;
    let mut faces = Vec::new();
    let mut info = block - 1;
    while info < img.height && img.pixel(2, info)[1] as usize == MESH_POINTS {
        let b = img.pixel(1, info).map(|v| v as f64);
        faces.push([b[0], h - b[3], b[2], h - b[1]]);
        info += block;
    }
    faces
}

/// The faces found in frames `first..=last` of `pattern` (`%04d`), every face of a frame.
fn find_faces(
    pattern: &str,
    first: usize,
    last: usize,
    name: &str,
    detectors: Detectors,
) -> Vec<Vec<[f64; 4]>> {
    let dir = scratch(name);
    let output = dir.join("%04d.exr").display().to_string();
    let frames = format!("{first}..{last}");
    let detector = format!("detector={}", real_model("face_detector").display());
    let mut args = vec![
        "-i",
        pattern,
        "-o",
        &output,
        "--frames",
        &frames,
        "--depth",
        "float",
        "--set",
        "output=landmarks",
        "--set",
        "face=all",
        "--set",
        "smoothing=0",
        // PNG frames are sRGB-encoded whatever depth the host hands over.
        "--set",
        "colourSpace=srgb",
    ];
    if let Detectors::ShortRangeAlone = detectors {
        args.extend(["--set", detector.as_str()]);
    }
    render_effect_ok(FACE, &args);
    (first..=last)
        .map(|t| read_faces(&dir.join(format!("{t:04}.exr"))))
        .collect()
}

/// The found face whose centre lies inside `marked` and whose width is within half to twice
/// its width (a detector's box is tighter or looser than a hand-marked one), if any.
fn found_at(faces: &[[f64; 4]], marked: [f64; 4]) -> Option<[f64; 4]> {
    let width = marked[2] - marked[0];
    faces.iter().copied().find(|b| {
        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
        let w = b[2] - b[0];
        cx > marked[0]
            && cx < marked[2]
            && cy > marked[1]
            && cy < marked[3]
            && w > 0.5 * width
            && w < 2.0 * width
    })
}

#[test]
fn the_face_in_the_real_basketball_photos_is_found_where_it_was_marked() {
    let Some(footage) = footage_dir() else {
        return;
    };
    let dir = scratch("face_small_basketball_in");
    for n in [1, 2] {
        let photo = footage.join("photos").join(format!("basketball_{n}.png"));
        std::fs::copy(&photo, dir.join(format!("{n:04}.png")))
            .unwrap_or_else(|e| panic!("copy {}: {e}", photo.display()));
    }
    let pattern = dir.join("%04d.png").display().to_string();
    for detectors in [Detectors::Defaults, Detectors::ShortRangeAlone] {
        let found = find_faces(
            &pattern,
            1,
            2,
            &format!("face_small_basketball_{detectors:?}"),
            detectors,
        );
        for (n, faces) in [1, 2].iter().zip(&found) {
            let hit = found_at(faces, BASKETBALL_FACE);
            eprintln!(
                "basketball_{n} ({detectors:?}): {} faces {faces:.1?}; the marked face {BASKETBALL_FACE:?} found as {hit:.1?}",
                faces.len()
            );
            assert!(
                hit.is_some(),
                "basketball_{n} ({detectors:?}): the face marked at {BASKETBALL_FACE:?} was not found (faces: {faces:.1?})"
            );
        }
    }
}

/// The street frame with the portrait pasted in at each of [`PASTES`] (one frame each, from
/// 0), and where each face went (y down).
fn street_with_small_faces(dir: &Path) -> Vec<[f64; 4]> {
    let street = footage_clip("pedestrians_static")
        .expect("footage present")
        .join("00000.png");
    let background = read_image(&street);
    let portrait_path: PathBuf = data_dir().join("photos/astronaut/0001.png");
    assert!(
        portrait_path.is_file(),
        "{} missing: run tests/setup",
        portrait_path.display()
    );
    let portrait = read_image(&portrait_path);
    let marked_width = ASTRONAUT_FACE[2] - ASTRONAUT_FACE[0];
    let (bw, bh) = (background.width, background.height);
    PASTES
        .iter()
        .enumerate()
        .map(|(t, &(face_width, [x0, y0]))| {
            let scale = face_width / marked_width;
            let small = box_downsample(&portrait, scale);
            let mut frame = background.clone();
            // Rows of `Image` count from the bottom: the portrait's top row goes to y0 (y down).
            for py in 0..small.height {
                let y_down = y0 + (small.height - 1 - py);
                assert!(
                    y_down < bh && x0 + small.width <= bw,
                    "paste out of the frame"
                );
                let y = bh - 1 - y_down;
                for px in 0..small.width {
                    let src = (py * small.width + px) * 4;
                    let dst = (y * bw + x0 + px) * 4;
                    frame.data[dst..dst + 3].copy_from_slice(&small.data[src..src + 3]);
                }
            }
            write_png16(&dir.join(format!("{t:04}.png")), &frame);
            let (x0, y0) = (x0 as f64, y0 as f64);
            let m = ASTRONAUT_FACE;
            [
                x0 + m[0] * scale,
                y0 + m[1] * scale,
                x0 + m[2] * scale,
                y0 + m[3] * scale,
            ]
        })
        .collect()
}

#[test]
fn a_portrait_pasted_small_into_a_real_street_is_found_where_it_was_put() {
    if footage_dir().is_none() {
        return;
    }
    let dir = scratch("face_small_street_in");
    let marked = street_with_small_faces(&dir);
    let pattern = dir.join("%04d.png").display().to_string();
    for detectors in [Detectors::Defaults, Detectors::ShortRangeAlone] {
        let found = find_faces(
            &pattern,
            0,
            PASTES.len() - 1,
            &format!("face_small_street_{detectors:?}"),
            detectors,
        );
        for ((faces, marked), (width, _)) in found.iter().zip(&marked).zip(PASTES) {
            let hit = found_at(faces, *marked);
            eprintln!(
                "street, face {width} px at {marked:.1?} ({detectors:?}): {} faces; found as {hit:.1?}",
                faces.len()
            );
            assert!(
                hit.is_some(),
                "street ({detectors:?}): the {width}-pixel face put at {marked:.1?} was not found (faces: {faces:.1?})"
            );
        }
    }
}

#[test]
fn the_cyclists_face_is_found_in_every_frame_of_the_real_clip_while_it_is_in_view() {
    let Some(clip) = footage_clip("bikes_traffic") else {
        return;
    };
    let pattern = clip.join("%05d.png").display().to_string();
    // Frames 0 to 13: the face is whole in the picture (from frame 14 it leaves at the right).
    let dir = scratch("face_small_bikes");
    let output = dir.join("%05d.exr").display().to_string();
    render_effect_ok(
        FACE,
        &[
            "-i",
            &pattern,
            "-o",
            &output,
            "--frames",
            "0..13",
            "--depth",
            "float",
            "--set",
            "output=landmarks",
            "--set",
            "face=all",
            "--set",
            "smoothing=0",
            "--set",
            "colourSpace=srgb",
        ],
    );
    let mut last_x = f64::NEG_INFINITY;
    for t in 0..14 {
        let faces = read_faces(&dir.join(format!("{t:05}.exr")));
        // The cyclist's face: in the top half of the frame, 40 to 100 pixels wide.
        let face = faces.iter().find(|b| {
            let w = b[2] - b[0];
            (b[1] + b[3]) / 2.0 < 136.0 && (40.0..100.0).contains(&w)
        });
        eprintln!("bikes_traffic frame {t}: faces {faces:.1?}");
        let face = face.unwrap_or_else(|| panic!("frame {t}: the cyclist's face was not found"));
        let x = (face[0] + face[2]) / 2.0;
        assert!(
            x > last_x,
            "frame {t}: the face moved left ({last_x:.1} -> {x:.1})"
        );
        last_x = x;
    }
}
