//! CleanPlate's automatic person matte on real camera footage (`../shared/footage/get.sh`),
//! rendered through the reference host with `method=auto`:
//!
//! * `pedestrians_static` (768x576, fixed camera, people walking across a campus road and
//!   lawn, some of them 70 px tall): the people of a frame are the pixels more than 40/255 (any
//!   of R, G, B) from the shot's per-pixel median background (median of every third frame of
//!   all 795), after a 3x3 opening; a person pixel is left when the plate there is still more
//!   than 40/255 from that background. At most 5 % of the people pixels of frames 575..594 may
//!   be left.
//! * `bikes_walker` (640x272, slow sideways camera drift): a pedestrian's legs cross the
//!   frame in its first half. The background is the street without the walker (frame 33) in
//!   two depth layers ([`EmptyStreet`]): the wall, aligned to each frame by the integer shift
//!   that matches best, and the near bollard, which moves about twice as far. A pixel differs
//!   from the street when no wall pixel within 6 px of the wall-aligned position and no
//!   bollard pixel within 6 px of the bollard-aligned position is within 40/255; the walker's
//!   pixels are those that differ, after a 7x7 opening, and one is left when the plate there
//!   still differs and is within 40/255 of the source frame (unchanged). Measured on every
//!   third frame while the walker is in view. The measure's floor is checked on frames
//!   without the walker, near frame 33 and as far along the drift as the walker's frames.
//!
//! Needs the footage (`PIXELSPACE_TEST_FOOTAGE`; the tests say so and do nothing without it),
//! the real models (`PIXELSPACE_MODELS_DIR`) installed with the bundle.

use std::path::Path;

use pixelspace_tests::*;

const EFFECT: &str = "org.pixelspace.CleanPlate";
/// A pixel differs from the background when some channel is further than this (8-bit steps).
const FAR: i32 = 40;

/// A frame as 8-bit RGB, rows as `read_image` gives them.
struct Rgb {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

fn rgb(path: &Path) -> Rgb {
    let img = read_image(path);
    Rgb {
        width: img.width,
        height: img.height,
        data: img
            .data
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect(),
    }
}

fn frame_path(dir: &Path, t: i32) -> std::path::PathBuf {
    dir.join(format!("{t:05}.png"))
}

/// Per-pixel, per-channel median of the given frames.
fn median_of(dir: &Path, frames: &[i32]) -> Rgb {
    let first = rgb(&frame_path(dir, frames[0]));
    let n = first.data.len();
    let mut stack = Vec::with_capacity(n * frames.len());
    stack.extend_from_slice(&first.data);
    for &t in &frames[1..] {
        stack.extend_from_slice(&rgb(&frame_path(dir, t)).data);
    }
    let mut column = vec![0u8; frames.len()];
    let data = (0..n)
        .map(|i| {
            for (k, c) in column.iter_mut().enumerate() {
                *c = stack[k * n + i];
            }
            column.sort_unstable();
            column[frames.len() / 2]
        })
        .collect();
    Rgb {
        width: first.width,
        height: first.height,
        data,
    }
}

/// Whether each pixel of `a` is far from `b` (None where `b` has no value there).
fn far(a: &Rgb, b: &[Option<[u8; 3]>]) -> Vec<bool> {
    a.data
        .chunks_exact(3)
        .zip(b)
        .map(|(p, q)| q.is_some_and(|q| (0..3).any(|c| (p[c] as i32 - q[c] as i32).abs() > FAR)))
        .collect()
}

/// Opening (erosion, then dilation) of a mask by a square of (2 r + 1) pixels.
fn open(mask: &[bool], w: usize, h: usize, r: i32) -> Vec<bool> {
    square_pass(&square_pass(mask, w, h, r, true), w, h, r, false)
}

/// Dilation of a mask by a square of (2 r + 1) pixels.
fn dilate(mask: &[bool], w: usize, h: usize, r: i32) -> Vec<bool> {
    square_pass(mask, w, h, r, false)
}

/// One pass of a square of (2 r + 1) pixels over a mask: erosion when `all` (outside the
/// image counts as unset), dilation otherwise.
fn square_pass(m: &[bool], w: usize, h: usize, r: i32, all: bool) -> Vec<bool> {
    let mut out = vec![false; m.len()];
    for y in 0..h {
        for x in 0..w {
            let mut hit = all;
            for dy in -r..=r {
                for dx in -r..=r {
                    let (xx, yy) = (x as i32 + dx, y as i32 + dy);
                    let v = xx >= 0
                        && yy >= 0
                        && (xx as usize) < w
                        && (yy as usize) < h
                        && m[yy as usize * w + xx as usize];
                    if all {
                        hit &= v;
                    } else {
                        hit |= v;
                    }
                }
            }
            out[y * w + x] = hit;
        }
    }
    out
}

/// (person pixels, those the plate leaves) of one frame against its background; the person
/// pixels are opened by a square of (2 r + 1) pixels.
fn people_left(
    source: &Rgb,
    plate: &Rgb,
    background: &[Option<[u8; 3]>],
    r: i32,
) -> (usize, usize) {
    let people = open(&far(source, background), source.width, source.height, r);
    let still = far(plate, background);
    let n = people.iter().filter(|&&p| p).count();
    let left = people
        .iter()
        .zip(&still)
        .filter(|(p, s)| **p && **s)
        .count();
    (n, left)
}

/// The street of bikes_walker without the walker, in two depth layers. As the camera drifts
/// sideways, the near bollard moves about twice as far as the wall behind it (40 px against
/// the wall's 19 px between frames 28 and 54), further than any fixed tolerance should allow.
struct EmptyStreet {
    /// A frame without the walker.
    frame: Rgb,
    /// How much further the near layer moves than the wall, for the same camera drift.
    near_ratio: f64,
    /// The pixels of `frame` on or beside the near layer.
    near_layer: Vec<bool>,
}

impl EmptyStreet {
    /// Finds the near layer of `frame` from a second frame without the walker, `other`,
    /// taken from elsewhere along the drift: the pixels that `other` matches when shifted as
    /// the near layer moves but not when shifted as the wall moves, opened by 5x5 and grown by
    /// 6 px.
    fn measure(frame: Rgb, other: &Rgb) -> EmptyStreet {
        let (w, h) = (frame.width, frame.height);
        let wall = best_shift(&frame, other, 40);
        let near = near_shift(&frame, other, wall, 60);
        let on_near: Vec<bool> = far_from_all(&frame, other, wall, 2, None)
            .iter()
            .zip(far_from_all(&frame, other, near, 2, None))
            .map(|(&off_wall, off_near)| off_wall && !off_near)
            .collect();
        let near_layer = dilate(&open(&on_near, w, h, 2), w, h, 6);
        eprintln!(
            "empty street: wall shifted by {wall:?}, near layer by {near:?}; {} pixels near",
            near_layer.iter().filter(|&&n| n).count()
        );
        EmptyStreet {
            near_ratio: near.0 as f64 / wall.0 as f64,
            frame,
            near_layer,
        }
    }

    /// Whether each pixel of `a` differs from the empty street: it matches neither the wall
    /// layer within [`PARALLAX`] of `wall` nor the near layer within [`PARALLAX`] of where
    /// the near layer moves for that drift.
    fn differs(&self, a: &Rgb, wall: (i32, i32)) -> Vec<bool> {
        let near = ((self.near_ratio * wall.0 as f64).round() as i32, wall.1);
        far_from_all(a, &self.frame, wall, PARALLAX, None)
            .iter()
            .zip(far_from_all(
                a,
                &self.frame,
                near,
                PARALLAX,
                Some(&self.near_layer),
            ))
            .map(|(&off_wall, off_near)| off_wall && off_near)
            .collect()
    }

    /// (walker pixels, those the plate leaves) of one frame: the walker's pixels differ from
    /// the empty street (opened by 7x7); one is left where the plate also differs and is
    /// within the threshold of the source frame (unchanged). Where the plate changed the
    /// frame, the fill comes from other frames with their own parallax and light and may
    /// differ from the empty street without showing the walker.
    fn walker_left(&self, source: &Rgb, plate: &Rgb) -> (usize, usize) {
        let wall = best_shift(source, &self.frame, 40);
        let people = open(&self.differs(source, wall), source.width, source.height, 3);
        let still = self.differs(plate, wall);
        let changed = far(plate, &as_background(source));
        let n = people.iter().filter(|&&p| p).count();
        let left = (0..people.len())
            .filter(|&i| people[i] && still[i] && !changed[i])
            .count();
        (n, left)
    }
}

/// The shift of the layer nearer than the wall: among the pixels of `a` that `b` does not
/// match at the wall's shift `wall` (opened by 7x7), the shift (up to `reach` sideways, 3 up
/// or down) at which most of them find their colour in `b` within a quarter of the
/// threshold.
fn near_shift(a: &Rgb, b: &Rgb, wall: (i32, i32), reach: i32) -> (i32, i32) {
    let (w, h) = (a.width as i32, a.height as i32);
    let rest = open(
        &far_from_all(a, b, wall, PARALLAX, None),
        a.width,
        a.height,
        3,
    );
    let rest: Vec<usize> = (0..rest.len()).filter(|&i| rest[i]).collect();
    let mut best = (0, wall);
    for dy in -3..=3 {
        for dx in -reach..=reach {
            let found = rest
                .iter()
                .filter(|&&i| {
                    let (x, y) = ((i as i32) % w + dx, (i as i32) / w + dy);
                    if x < 0 || y < 0 || x >= w || y >= h {
                        return false;
                    }
                    let j = (y * w + x) as usize * 3;
                    (0..3)
                        .all(|c| (a.data[i * 3 + c] as i32 - b.data[j + c] as i32).abs() <= FAR / 4)
                })
                .count();
            if found > best.0 {
                best = (found, (dx, dy));
            }
        }
    }
    best.1
}

/// How far (pixels) a layer of bikes_walker may still disagree with the empty street after
/// the frames are aligned by that layer's shift.
const PARALLAX: i32 = 6;

/// Whether each pixel `(x, y)` of `a` is far from every pixel of `b` within `r` of
/// `(x + dx, y + dy)`, so that parallax up to `r` pixels is not taken for a difference.
/// With `only`, just those pixels of `b` are looked at, and a pixel with none of them near
/// is far; without it, a pixel is not far where `b` has no pixel at `(x + dx, y + dy)`.
fn far_from_all(
    a: &Rgb,
    b: &Rgb,
    (dx, dy): (i32, i32),
    r: i32,
    only: Option<&[bool]>,
) -> Vec<bool> {
    let (w, h) = (a.width as i32, a.height as i32);
    (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (cx, cy) = (x + dx, y + dy);
            if only.is_none() && (cx < 0 || cy < 0 || cx >= w || cy >= h) {
                return false;
            }
            let i = (y * w + x) as usize * 3;
            let p = &a.data[i..i + 3];
            for oy in (cy - r).max(0)..=(cy + r).min(h - 1) {
                for ox in (cx - r).max(0)..=(cx + r).min(w - 1) {
                    let k = (oy * w + ox) as usize;
                    if only.is_some_and(|m| !m[k]) {
                        continue;
                    }
                    let j = k * 3;
                    if (0..3).all(|c| (p[c] as i32 - b.data[j + c] as i32).abs() <= FAR) {
                        return false;
                    }
                }
            }
            true
        })
        .collect()
}

fn as_background(img: &Rgb) -> Vec<Option<[u8; 3]>> {
    img.data
        .chunks_exact(3)
        .map(|p| Some([p[0], p[1], p[2]]))
        .collect()
}

/// Renders CleanPlate over `frames` of a clip into a scratch folder (returned).
fn render_plate(clip: &Path, name: &str, frames: (i32, i32), sets: &[&str]) -> std::path::PathBuf {
    let out = scratch(name);
    let input = clip.join("%05d.png").display().to_string();
    let output = out.join("%05d.png").display().to_string();
    let range = format!("{}..{}", frames.0, frames.1);
    let mut args: Vec<&str> = vec!["-i", &input, "-o", &output, "--frames", &range];
    for s in sets {
        args.extend(["--set", s]);
    }
    let start = std::time::Instant::now();
    render_effect_ok(EFFECT, &args);
    eprintln!(
        "{name}: rendered frames {range} with {sets:?} in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    out
}

#[test]
fn auto_plate_of_pedestrians_leaves_at_most_5_percent_of_the_people() {
    let Some(clip) = footage_clip("pedestrians_static") else {
        return;
    };
    real_model("pose_detector");
    real_model("pose_landmarks");
    let every_third: Vec<i32> = (0..795).step_by(3).collect();
    let background = as_background(&median_of(&clip, &every_third));
    let (first, last) = (575, 594);
    let out = render_plate(
        &clip,
        "clean_plate_real_pedestrians",
        (first, last),
        &["method=auto", "window=30"],
    );
    let (mut people, mut left) = (0, 0);
    for t in first..=last {
        let (n, l) = people_left(
            &rgb(&frame_path(&clip, t)),
            &rgb(&frame_path(&out, t)),
            &background,
            1,
        );
        eprintln!("frame {t}: {l} of {n} people pixels left");
        people += n;
        left += l;
    }
    let share = left as f64 / people.max(1) as f64;
    eprintln!(
        "pedestrians_static {first}..{last}: {left} of {people} people pixels left ({:.1} %)",
        100.0 * share
    );
    assert!(
        people > 20_000,
        "only {people} people pixels: is the clip right?"
    );
    assert!(
        share <= 0.05,
        "{:.1} % of the people pixels are left (at most 5 %); plates in {}",
        100.0 * share,
        out.display()
    );
}

/// The integer shift (dx, dy) with `b(x + dx, y + dy)` closest to `a(x, y)` (median absolute
/// difference of the green channel over a sparse grid, so a walker in `a` does not sway it).
fn best_shift(a: &Rgb, b: &Rgb, reach: i32) -> (i32, i32) {
    let (w, h) = (a.width as i32, a.height as i32);
    let mut best = (u32::MAX, (0, 0));
    for dy in -reach..=reach {
        for dx in -reach..=reach {
            let mut diffs = Vec::new();
            for y in (reach..h - reach).step_by(3) {
                for x in (reach..w - reach).step_by(3) {
                    let i = (y * w + x) as usize * 3 + 1;
                    let j = ((y + dy) * w + x + dx) as usize * 3 + 1;
                    diffs.push((a.data[i] as i32 - b.data[j] as i32).unsigned_abs());
                }
            }
            let mid = diffs.len() / 2;
            let m = *diffs.select_nth_unstable(mid).1;
            if m < best.0 {
                best = (m, (dx, dy));
            }
        }
    }
    best.1
}

#[test]
fn auto_plate_of_bikes_walker_removes_the_walker() {
    let Some(clip) = footage_clip("bikes_walker") else {
        return;
    };
    real_model("pose_detector");
    // The walker is in view in frames 0..~28; frames 29 on show the street without them.
    let (first, last) = (0, 27);
    let out = render_plate(
        &clip,
        "clean_plate_real_bikes_walker",
        (first, last),
        &["method=auto", "window=30"],
    );
    let frame = |t: i32| rgb(&frame_path(&clip, t));
    let street = EmptyStreet::measure(frame(33), &frame(54));
    // The measure's own floor: 'walker' pixels of frames without the walker. Against frame
    // 33 they lie 2-4 px along the drift (none allowed); against frame 54, 18-19 px, as far
    // as frames 0-9 lie from frame 33 (86-87 measured: the wall beside the bollard's head,
    // which frame 54 hides).
    let far_street = EmptyStreet::measure(frame(54), &frame(33));
    for (empty, against, allowed) in [(&street, 33, 0), (&far_street, 54, 200)] {
        for t in [29, 30] {
            let clear = frame(t);
            let (taken, _) = empty.walker_left(&clear, &clear);
            eprintln!(
                "frame {t} (no walker) against frame {against}: {taken} pixels taken for the walker"
            );
            assert!(
                taken <= allowed,
                "the measure takes {taken} pixels of frame {t}, without the walker, for the walker (at most {allowed})"
            );
        }
    }
    let (mut people, mut left) = (0, 0);
    for t in (first..=last).step_by(3) {
        let (n, l) = street.walker_left(&frame(t), &rgb(&frame_path(&out, t)));
        eprintln!("frame {t}: {l} of {n} walker pixels left");
        people += n;
        left += l;
    }
    let share = left as f64 / people.max(1) as f64;
    eprintln!(
        "bikes_walker {first}..{last}: {left} of {people} walker pixels left ({:.1} %)",
        100.0 * share
    );
    assert!(
        people > 50_000,
        "only {people} walker pixels: is the clip right?"
    );
    // The aim is that nothing of the walker is left. Only the legs are in view, so the pose
    // detector (it finds people by their face) never sees the walker, and the selfie segmenter
    // finds the legs in some frames only; the motion matte, found against a background
    // aligned to each frame (the camera drifts), takes them out. Before the moving-camera
    // motion matte: 42-43 %, measured with one layer (which also took 2,000-3,700 pixels of
    // the bollard's edges in frames without the walker for the walker).
    //
    // What this measure cannot see: a part of the walker whose colour the street has within
    // 6 px. In frame 18 the plate keeps a piece of a dark trouser leg (about 4,800 pixels)
    // over the dark grille behind the bike: the motion matte misses it too (the grille's
    // mesh spans the trouser's colour), so the aim is not reached.
    assert!(
        share <= 0.002,
        "{:.2} % of the walker's pixels are left (none when this test was written); plates in {}",
        100.0 * share,
        out.display()
    );
}
