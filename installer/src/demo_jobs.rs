//! The demo's jobs on real footage, each rendered through the reference host and measured:
//! a shot extended at head and tail and retimed x2 (ExtendShot), a face retouched (Face), people
//! removed from a fixed-camera shot (CleanPlate). Where the camera's own frames can serve as
//! truth they are held out and compared (PSNR) with what the effect made and with what doing the
//! obvious thing gives (holding the end frame, blending neighbours). Each job writes a contact
//! sheet and a moving side-by-side preview, and returns its figures for the page.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::demo_footage::Clip;
use crate::demo_pictures::{
    BACKGROUND, MADE, Picture, REAL, Tile, changed_fraction, difference, mix, psnr, sheet,
};
use crate::demo_render::{Progress, RenderJob, Renderer, frame_path};
use crate::error::{Context, Error, Result};

const EXTEND_SHOT: &str = "org.pixelspace.ExtendShot";
const FACE: &str = "org.pixelspace.Face";
const CLEAN_PLATE: &str = "org.pixelspace.CleanPlate";

/// What a job did and measured, for the page.
pub struct Report {
    /// Short name: file names and anchors.
    pub id: String,
    pub title: String,
    /// What was done, in a sentence or two.
    pub summary: String,
    pub clip: &'static Clip,
    /// Which frames of the clip were used, and how.
    pub frames_used: String,
    /// The effect's settings, as `--set` values.
    pub settings: Vec<String>,
    /// (what, value) pairs.
    pub figures: Vec<(String, String)>,
    /// For the overview: seconds per frame the effect made, and the quality figure (or why
    /// there is none).
    pub per_frame: String,
    pub quality: String,
    /// A table of figures, where a job has one.
    pub table: Option<Table>,
    /// Contact sheet and preview, relative to the page's folder, with what they show.
    pub sheet: String,
    pub sheet_caption: String,
    pub preview: String,
    pub preview_caption: String,
    /// What the figures and pictures say, good and bad.
    pub notes: Vec<String>,
    /// Wall-clock seconds of the whole job (render, measuring, pictures).
    pub seconds: f64,
}

pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Where a job reads and writes.
pub struct Workspace {
    pub renderer: Renderer,
    /// The page's folder: `sheets/` and `previews/` go here.
    pub out: PathBuf,
    /// Frames made on the way (inputs, renders, preview frames): `<out>/frames/<job>/`.
    pub frames: PathBuf,
}

/// Copies `count` frames of `from` starting at `first`, `step` apart, to `to` as frames 0.. .
fn copy_frames(from: &Path, first: i32, count: i32, step: i32, to: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).context(|| format!("cannot create {}", to.display()))?;
    for i in 0..count {
        let src = frame_path(from, first + i * step);
        fs::copy(&src, frame_path(to, i)).context(|| format!("cannot copy {}", src.display()))?;
    }
    Ok(())
}

fn db(v: f64) -> String {
    if v.is_infinite() {
        "identical".to_string()
    } else {
        format!("{v:.2} dB")
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Panels of one preview frame: a picture file and the colour of the strip under it.
type Panels = Vec<(PathBuf, [u8; 3])>;

/// Writes the preview frames (panels side by side, each scaled by `scale`) and encodes them as a
/// looping animated WebP (a GIF where ffmpeg has no WebP encoder) at `fps`; returns the file
/// name written in `<out>/previews/`.
fn preview(ws: &Workspace, id: &str, frames: &[Panels], scale: f64, fps: f64) -> Result<String> {
    let dir = ws.frames.join(id).join("preview");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let mut bar = Progress::new(&format!("preview frames for {id}"), frames.len());
    let started = Instant::now();
    for (i, panels) in frames.iter().enumerate() {
        let mut row = Vec::new();
        for (path, mark) in panels {
            let p = Picture::read(path)?;
            let (w, h) = (
                (p.width as f64 * scale).round() as u32,
                (p.height as f64 * scale).round() as u32,
            );
            row.push((p.scaled(w, h), Some(*mark)));
        }
        sheet(&[row]).write(&frame_path(&dir, i as i32))?;
        bar.advance();
    }
    bar.finish(started.elapsed().as_secs_f64());
    let previews = ws.out.join("previews");
    fs::create_dir_all(&previews).context(|| format!("cannot create {}", previews.display()))?;
    let rate = format!("{fps:.3}");
    let input = dir.join("%05d.png");
    let webp = previews.join(format!("{id}.webp"));
    let encoded = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-framerate", &rate, "-i"])
        .arg(&input)
        .args([
            "-c:v",
            "libwebp_anim",
            "-lossless",
            "0",
            "-quality",
            "80",
            "-loop",
            "0",
        ])
        .arg(&webp)
        .status()
        .map_err(|e| {
            Error::new(format!(
                "cannot run ffmpeg ({e}); install it (`sudo apt-get install ffmpeg`)"
            ))
        })?;
    if encoded.success() {
        return Ok(format!("previews/{id}.webp"));
    }
    let gif = previews.join(format!("{id}.gif"));
    let encoded = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-framerate", &rate, "-i"])
        .arg(&input)
        .args([
            "-vf",
            "split[a][b];[a]palettegen[p];[b][p]paletteuse",
            "-loop",
            "0",
        ])
        .arg(&gif)
        .status()
        .map_err(|e| Error::new(format!("cannot run ffmpeg ({e})")))?;
    if !encoded.success() {
        return Err(Error::new(format!(
            "ffmpeg could encode the preview {id} neither as WebP nor as GIF ({encoded})"
        )));
    }
    Ok(format!("previews/{id}.gif"))
}

/// Writes a contact sheet of rows of (picture file, mark) scaled by `scale`; returns its name in
/// `<out>/sheets/`.
fn contact_sheet(ws: &Workspace, id: &str, rows: &[Vec<Tile>]) -> Result<String> {
    let path = ws.out.join("sheets").join(format!("{id}.png"));
    sheet(rows).write(&path)?;
    Ok(format!("sheets/{id}.png"))
}

fn read_scaled(path: &Path, scale: f64) -> Result<Picture> {
    let p = Picture::read(path)?;
    Ok(p.scaled(
        (p.width as f64 * scale).round() as u32,
        (p.height as f64 * scale).round() as u32,
    ))
}

/// ExtendShot `extend`: 30 frames of the clip are the shot; the 6 real frames before and after
/// it are held out, and the 6 frames the effect makes at each end are compared with them.
pub fn extend(ws: &Workspace, clip: &'static Clip, clip_dir: &Path) -> Result<Report> {
    const HELD: i32 = 6;
    const SHOT: i32 = 30;
    let started = Instant::now();
    let id = "extend";
    let base = ws.frames.join(id);
    let shot = base.join("shot");
    let out = base.join("extended");
    copy_frames(clip_dir, HELD, SHOT, 1, &shot)?;
    let settings = vec![
        "mode=extend".to_string(),
        format!("head={HELD}"),
        format!("tail={HELD}"),
    ];
    let frames = (-HELD, SHOT - 1 + HELD);
    let seconds = ws.renderer.run(&RenderJob {
        effect: EXTEND_SHOT,
        input: &shot,
        output: &out,
        frames,
        sets: &settings,
        label: "ExtendShot extend: 6 frames at head and tail",
    })?;
    // Shot time t is clip frame t + HELD.
    let real = |t: i32| frame_path(clip_dir, t + HELD);
    let made = |t: i32| frame_path(&out, t);
    let mut rows = Vec::new();
    let (mut head_gain, mut tail_gain) = (Vec::new(), Vec::new());
    let (mut made_psnr, mut held_psnr) = (Vec::new(), Vec::new());
    for k in 1..=HELD {
        let mut row = vec![format!("{k}")];
        for (t, end, gains) in [
            (-k, 0, &mut head_gain),
            (SHOT - 1 + k, SHOT - 1, &mut tail_gain),
        ] {
            let truth = Picture::read(&real(t))?;
            let p_made = psnr(&Picture::read(&made(t))?, &truth)?;
            let p_hold = psnr(&Picture::read(&real(end))?, &truth)?;
            gains.push(p_made - p_hold);
            made_psnr.push(p_made);
            held_psnr.push(p_hold);
            row.push(db(p_made));
            row.push(db(p_hold));
        }
        rows.push(row);
    }
    let mut passed = 0;
    for t in 0..SHOT {
        if Picture::read(&made(t))? == Picture::read(&real(t))? {
            passed += 1;
        }
    }
    let made_count = 2 * HELD;
    let figures = vec![
        (
            "render".to_string(),
            format!(
                "{seconds:.1} s for {} frames ({made_count} made, {SHOT} passed through): {:.2} s per made frame",
                frames.1 - frames.0 + 1,
                seconds / made_count as f64
            ),
        ),
        (
            "PSNR of the made frames against the real ones, mean".to_string(),
            db(mean(&made_psnr)),
        ),
        (
            "gain over holding the end frame, mean".to_string(),
            format!(
                "head {:+.2} dB, tail {:+.2} dB",
                mean(&head_gain),
                mean(&tail_gain)
            ),
        ),
        (
            "source frames passed through bit for bit".to_string(),
            format!("{passed} of {SHOT}"),
        ),
    ];
    let table = Table {
        header: vec![
            "frames past the end".to_string(),
            "head: made".to_string(),
            "head: first frame held".to_string(),
            "tail: made".to_string(),
            "tail: last frame held".to_string(),
        ],
        rows,
    };
    // Sheet: rows at 6, 3, 1 frames before the head and 1, 3, 6 after the tail.
    let mut sheet_rows = Vec::new();
    for t in [-6, -3, -1, SHOT, SHOT + 2, SHOT + 5] {
        let end = if t < 0 { 0 } else { SHOT - 1 };
        sheet_rows.push(vec![
            (read_scaled(&made(t), 0.5)?, Some(MADE)),
            (read_scaled(&real(t), 0.5)?, Some(REAL)),
            (read_scaled(&real(end), 0.5)?, Some(REAL)),
        ]);
    }
    let sheet = contact_sheet(ws, id, &sheet_rows)?;
    let preview_frames: Vec<Panels> = (frames.0..=frames.1)
        .map(|t| {
            let mark = if (0..SHOT).contains(&t) { REAL } else { MADE };
            vec![(real(t), REAL), (made(t), mark)]
        })
        .collect();
    let preview = preview(ws, id, &preview_frames, 1.0, clip.fps() / 2.0)?;
    let beaten = |gains: &[f64]| gains.iter().filter(|g| **g > 0.0).count();
    let notes = vec![
        format!(
            "Against the real frames, the made frames beat holding the end frame at {} of {HELD} distances at the head \
             ({:+.2} dB on average) and {} of {HELD} at the tail ({:+.2} dB). Both fall off with distance from the shot: \
             three frames cannot foresee where the camera and the people go next.",
            beaten(&head_gain),
            mean(&head_gain),
            beaten(&tail_gain),
            mean(&tail_gain)
        ),
        "Look at the head: a pedestrian strides through the first frames of the shot. His swinging leg changes speed \
         and shape from frame to frame, so its motion is not trusted: it eases to a stop within a frame or two instead \
         of being carried on, and where part of it was still trusted it smears a little (top rows of the sheet). At \
         the tail only the camera drifts, and the made frames hold together. Head and tail extension suits shots whose \
         motion is steady; a figure moving fast and unevenly near the cut stops rather than walking on."
            .to_string(),
    ];
    Ok(Report {
        id: id.to_string(),
        title: "A shot extended at head and tail".to_string(),
        summary: format!(
            "ExtendShot in extend mode adds {HELD} frames before the first frame of a {SHOT}-frame shot and {HELD} after its last, \
             carried on along the motion of the shot's last frames (RIFE flow over the last three frames, each pixel's motion trusted as far as it held steady). The camera's real frames just outside \
             the shot were held out, so each made frame can be compared with what the camera actually recorded there."
        ),
        clip,
        frames_used: format!(
            "clip frames {}..{} are the shot; {}..{} and {}..{} are the held-out truth",
            clip.first + HELD as u32,
            clip.first + (HELD + SHOT - 1) as u32,
            clip.first,
            clip.first + HELD as u32 - 1,
            clip.first + (HELD + SHOT) as u32,
            clip.first + (2 * HELD + SHOT - 1) as u32
        ),
        settings,
        figures,
        per_frame: format!("{:.2} s per made frame", seconds / made_count as f64),
        quality: format!(
            "made frames {} against the real ones; the end frame held {}",
            db(mean(&made_psnr)),
            db(mean(&held_psnr))
        ),
        table: Some(table),
        sheet,
        sheet_caption: "Rows: 6, 3 and 1 frames before the head, then 1, 3 and 6 frames after the tail. Columns: made by ExtendShot \
                        (orange strip), the real frame the camera recorded there (held out), the shot's end frame held."
            .to_string(),
        preview,
        preview_caption: "Left: the real camera. Right: the 30-frame shot with 6 made frames at each end (orange strip under \
                          the made frames). Played at half speed, looping."
            .to_string(),
        notes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// ExtendShot `retime`, speed 2: every other frame of the clip is dropped, the rest retimed x2,
/// and the in-betweens it makes compared with the dropped real frames.
pub fn retime(
    ws: &Workspace,
    clip: &'static Clip,
    clip_dir: &Path,
    id: &str,
    title: &str,
) -> Result<Report> {
    const KEPT: i32 = 21;
    let started = Instant::now();
    let base = ws.frames.join(id);
    let input = base.join("every_other_frame");
    let out = base.join("retimed");
    copy_frames(clip_dir, 0, KEPT, 2, &input)?;
    let settings = vec!["mode=retime".to_string(), "speed=2".to_string()];
    let last = 2 * (KEPT - 1);
    let seconds = ws.renderer.run(&RenderJob {
        effect: EXTEND_SHOT,
        input: &input,
        output: &out,
        frames: (0, last),
        sets: &settings,
        label: &format!("ExtendShot retime x2: {title}"),
    })?;
    let real = |i: i32| frame_path(clip_dir, i);
    let made = |i: i32| frame_path(&out, i);
    let (mut p_made, mut p_hold, mut p_blend) = (Vec::new(), Vec::new(), Vec::new());
    for i in (1..last).step_by(2) {
        let truth = Picture::read(&real(i))?;
        let before = Picture::read(&real(i - 1))?;
        let after = Picture::read(&real(i + 1))?;
        p_made.push(psnr(&Picture::read(&made(i))?, &truth)?);
        p_hold.push(psnr(&before, &truth)?);
        p_blend.push(psnr(&mix(&before, &after)?, &truth)?);
    }
    let mut passed = 0;
    for i in (0..=last).step_by(2) {
        if Picture::read(&made(i))? == Picture::read(&real(i))? {
            passed += 1;
        }
    }
    let in_betweens = p_made.len();
    let worst = p_made.iter().cloned().fold(f64::INFINITY, f64::min);
    let figures = vec![
        (
            "render".to_string(),
            format!(
                "{seconds:.1} s for {} frames ({in_betweens} in-betweens made): {:.2} s per in-between",
                last + 1,
                seconds / in_betweens as f64
            ),
        ),
        (
            "in-betweens against the dropped real frames (PSNR, mean)".to_string(),
            format!("{} (worst frame {})", db(mean(&p_made)), db(worst)),
        ),
        ("the frame before repeated".to_string(), db(mean(&p_hold))),
        (
            "the two neighbours blended 50/50".to_string(),
            db(mean(&p_blend)),
        ),
        (
            "kept frames passed through bit for bit".to_string(),
            format!("{passed} of {KEPT}"),
        ),
    ];
    // The in-between with the lowest PSNR: frame 2k+1 is p_made[k].
    let worst_index = p_made
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |best, (k, p)| if *p < best.1 { (k, *p) } else { best },
        )
        .0 as i32
        * 2
        + 1;
    let mut sheet_rows = Vec::new();
    let mut shown: Vec<i32> = [9, 29, 19]
        .into_iter()
        .filter(|i| *i != worst_index)
        .take(2)
        .collect();
    shown.sort();
    shown.push(worst_index);
    for i in shown {
        let before = Picture::read(&real(i - 1))?;
        let after = Picture::read(&real(i + 1))?;
        let blend = mix(&before, &after)?;
        let half = |p: &Picture| p.scaled(p.width / 2, p.height / 2);
        sheet_rows.push(vec![
            (half(&before), Some(REAL)),
            (read_scaled(&made(i), 0.5)?, Some(MADE)),
            (read_scaled(&real(i), 0.5)?, Some(REAL)),
            (half(&blend), None),
        ]);
    }
    let sheet = contact_sheet(ws, id, &sheet_rows)?;
    let preview_frames: Vec<Panels> = (0..=last)
        .map(|i| {
            let mark = if i % 2 == 1 { MADE } else { REAL };
            vec![(real(i - i % 2), REAL), (made(i), mark), (real(i), REAL)]
        })
        .collect();
    let preview = preview(ws, id, &preview_frames, 0.64, clip.fps())?;
    let gain_blend = mean(&p_made) - mean(&p_blend);
    let notes = vec![format!(
        "The in-betweens are {gain_blend:+.2} dB against a plain 50/50 frame blend and {:+.2} dB against repeating frames. \
         The worst one, clip frame {} ({}), is the last row of the sheet: compare it with the real frame beside it.",
        mean(&p_made) - mean(&p_hold),
        clip.first + worst_index as u32,
        db(worst)
    )];
    Ok(Report {
        id: id.to_string(),
        title: format!("Retimed x2: {title}"),
        summary: format!(
            "Every other frame of the clip was dropped ({KEPT} frames kept, half the frame rate), and ExtendShot in retime mode \
             at speed 2 made the missing in-betweens with RIFE. The dropped real frames are the truth each in-between is measured against."
        ),
        clip,
        frames_used: format!(
            "clip frames {}..{}: the even ones are the input, the odd ones the truth",
            clip.first,
            clip.first + last as u32
        ),
        settings,
        figures,
        per_frame: format!("{:.2} s per in-between", seconds / in_betweens as f64),
        quality: format!(
            "in-betweens {} against the dropped real frames; 50/50 blend {}, repeated frame {}",
            db(mean(&p_made)),
            db(mean(&p_blend)),
            db(mean(&p_hold))
        ),
        table: None,
        sheet,
        sheet_caption: "Two in-betweens from the middle of the clip and, last, the one furthest from the truth. Columns: the kept frame before, the in-between ExtendShot made (orange), the real frame \
                        that was dropped (truth), the two kept neighbours blended 50/50 (what a plain frame blend gives)."
            .to_string(),
        preview,
        preview_caption: "Left: the half-rate input, each frame shown twice. Middle: retimed x2 (orange strip under made \
                          frames). Right: the real full-rate footage. Played at the clip's frame rate, looping."
            .to_string(),
        notes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Face `retouch` on a talking head, and the tracking shown (`output=debug`).
pub fn face(ws: &Workspace, clip: &'static Clip, clip_dir: &Path) -> Result<Report> {
    let started = Instant::now();
    let id = "face";
    let base = ws.frames.join(id);
    let comp = base.join("retouched");
    let debug = base.join("tracking");
    let frames = (0, clip.frames() as i32 - 1);
    let settings = vec![
        "mode=retouch".to_string(),
        "amount=1".to_string(),
        "output=comp".to_string(),
    ];
    let seconds = ws.renderer.run(&RenderJob {
        effect: FACE,
        input: clip_dir,
        output: &comp,
        frames,
        sets: &settings,
        label: "Face retouch",
    })?;
    ws.renderer.run(&RenderJob {
        effect: FACE,
        input: clip_dir,
        output: &debug,
        frames,
        sets: &["output=debug".to_string()],
        label: "Face tracking view (landmarks and boxes)",
    })?;
    let count = frames.1 + 1;
    let mut changed_frames = 0;
    let mut areas = Vec::new();
    for i in 0..count {
        let area = changed_fraction(
            &Picture::read(&frame_path(clip_dir, i))?,
            &Picture::read(&frame_path(&comp, i))?,
            0,
        )?;
        if area > 0.0 {
            changed_frames += 1;
            areas.push(area);
        }
    }
    let figures = vec![
        (
            "render".to_string(),
            format!(
                "{seconds:.1} s for {count} frames: {:.3} s per frame",
                seconds / count as f64
            ),
        ),
        (
            "frames where a face was found and retouched".to_string(),
            format!("{changed_frames} of {count}"),
        ),
        (
            "share of the picture changed (the face matte), mean".to_string(),
            format!("{:.1}%", 100.0 * mean(&areas)),
        ),
        (
            "truth".to_string(),
            "none: there is no retouched footage to compare with".to_string(),
        ),
    ];
    let mut sheet_rows = Vec::new();
    for i in [10, 45, 80] {
        let original = Picture::read(&frame_path(clip_dir, i))?;
        let done = Picture::read(&frame_path(&comp, i))?;
        let double = |p: &Picture| p.scaled(p.width * 2, p.height * 2);
        sheet_rows.push(vec![
            (double(&original), Some(REAL)),
            (double(&done), Some(MADE)),
            (double(&difference(&original, &done, 8)?), None),
            (double(&Picture::read(&frame_path(&debug, i))?), None),
        ]);
    }
    let sheet = contact_sheet(ws, id, &sheet_rows)?;
    let preview_frames: Vec<Panels> = (0..count)
        .map(|i| {
            vec![
                (frame_path(clip_dir, i), REAL),
                (frame_path(&comp, i), MADE),
                (frame_path(&debug, i), BACKGROUND),
            ]
        })
        .collect();
    let preview = preview(ws, id, &preview_frames, 2.0, clip.fps())?;
    let notes = vec![
        "Made younger by retouch: the skin's wrinkle and blotch band is taken out by Amount and under-eye shadows lifted, \
         while pores and grain stay (the fine band is left as it is); eyes, brows, lips and nostrils are left alone. An age \
         model would do more (the Face effect's age mode runs one with StyleGANEX-age's or FRAN's contract), but neither is \
         shipped in a registry package, so the demo cannot fetch one: `pixelspace models fetch fran` (or `styleganex_age`, \
         non-commercial) downloads one from its publisher; then `--set mode=age --set ageModel=...` uses it."
            .to_string(),
        format!(
            "The clip is 176x144 and the face matte covers about {:.0}% of it, so the change is small at full size: the sheet \
             and the preview show the frames at twice their size, and the difference column (x8) shows where the effect worked.",
            100.0 * mean(&areas)
        ),
    ];
    Ok(Report {
        id: id.to_string(),
        title: "A face made younger by retouch (no age model can be fetched here)".to_string(),
        summary: "The Face effect finds the face in each frame (MediaPipe's detector and 468-point landmarker, smoothed over \
                  neighbouring frames) and retouches the skin inside a feathered face matte: wrinkles and blotches \
                  softened, texture kept."
            .to_string(),
        clip,
        frames_used: format!("clip frames {}..{}", clip.first, clip.last),
        settings,
        figures,
        per_frame: format!("{:.3} s per frame", seconds / count as f64),
        quality: format!("no truth; a face retouched in {changed_frames} of {count} frames"),
        table: None,
        sheet,
        sheet_caption: "Three frames at twice their size. Columns: original, retouched (orange), the difference x8, the tracking \
                        view (output=debug: landmarks green, face box red)."
            .to_string(),
        preview,
        preview_caption: "Original, retouched and the tracking view, at twice the clip's size and its frame rate, looping."
            .to_string(),
        notes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// CleanPlate on a fixed camera: people matted by the automatic person matte and replaced by
/// the background gathered from the frames around (median).
pub fn clean_plate(ws: &Workspace, clip: &'static Clip, clip_dir: &Path) -> Result<Report> {
    const WINDOW: i32 = 30;
    let started = Instant::now();
    let id = "clean_plate";
    let base = ws.frames.join(id);
    let plate = base.join("plate");
    let frames = (WINDOW / 2, clip.frames() as i32 - 1 - WINDOW / 2);
    let settings = vec![
        "method=median".to_string(),
        format!("window={WINDOW}"),
        "output=plate".to_string(),
    ];
    let seconds = ws.renderer.run(&RenderJob {
        effect: CLEAN_PLATE,
        input: clip_dir,
        output: &plate,
        frames,
        sets: &settings,
        label: "CleanPlate median, automatic person and motion matte",
    })?;
    let count = frames.1 - frames.0 + 1;
    let mut areas = Vec::new();
    for i in frames.0..=frames.1 {
        areas.push(changed_fraction(
            &Picture::read(&frame_path(clip_dir, i))?,
            &Picture::read(&frame_path(&plate, i))?,
            0,
        )?);
    }
    let figures = vec![
        (
            "render".to_string(),
            format!("{seconds:.1} s for {count} frames: {:.2} s per frame", seconds / count as f64),
        ),
        (
            "share of the picture replaced, mean (max)".to_string(),
            format!(
                "{:.2}% ({:.2}%)",
                100.0 * mean(&areas),
                100.0 * areas.iter().cloned().fold(0.0, f64::max)
            ),
        ),
        (
            "truth".to_string(),
            "none: no frame of this shot is free of people, so there is no clean plate to compare with".to_string(),
        ),
    ];
    let mut sheet_rows = Vec::new();
    for i in [frames.0, (frames.0 + frames.1) / 2, frames.1] {
        let original = Picture::read(&frame_path(clip_dir, i))?;
        let done = Picture::read(&frame_path(&plate, i))?;
        let half = |p: &Picture| p.scaled(p.width / 2, p.height / 2);
        sheet_rows.push(vec![
            (half(&original), Some(REAL)),
            (half(&done), Some(MADE)),
            (half(&difference(&original, &done, 4)?), None),
        ]);
    }
    let sheet = contact_sheet(ws, id, &sheet_rows)?;
    let preview_frames: Vec<Panels> = (frames.0..=frames.1)
        .map(|i| {
            vec![
                (frame_path(clip_dir, i), REAL),
                (frame_path(&plate, i), MADE),
            ]
        })
        .collect();
    let preview = preview(ws, id, &preview_frames, 0.8, clip.fps())?;
    let notes = vec![
        "The matte is the automatic person matte (MediaPipe's selfie segmentation merged with a BlazePose matte of every \
         person the pose detector finds) together with the motion matte: the camera is locked off, so whatever differs from \
         the window's temporal background is taken out too. The median of the frames around, over the samples where nothing \
         moved, rebuilds the road and grass behind; where someone stood for the whole window, frames further away in time \
         show what was behind them, and what no frame shows gets a patch-matched texture fill."
            .to_string(),
        "What it does badly here: the red and white tape flutters in the wind, so the motion matte takes it out and its \
         stretch of road is rebuilt slightly smudged; where a man stood still a faint, slightly brighter patch remains. See \
         the difference column, which shows what was replaced. A Mask clip drawn or keyed by the artist does better where \
         the automatic mattes take too much."
            .to_string(),
        "The plate output is shown. The comp output blends the source with the plate by the matte, which is soft where the \
         person matte alone found someone."
            .to_string(),
    ];
    Ok(Report {
        id: id.to_string(),
        title: "People removed from a fixed-camera shot".to_string(),
        summary: format!(
            "CleanPlate with no Mask clip mattes people automatically and, as the camera is locked off, whatever moves; it \
             fills each hole with the median of the {WINDOW} frames around it (method median); the output is the plate, the \
             frame with the holes filled."
        ),
        clip,
        frames_used: format!(
            "clip frames {}..{} rendered; {}..{} read around them",
            clip.first + frames.0 as u32,
            clip.first + frames.1 as u32,
            clip.first,
            clip.last
        ),
        settings,
        figures,
        per_frame: format!("{:.2} s per frame", seconds / count as f64),
        quality: format!("no truth; {:.2}% of the picture replaced on average", 100.0 * mean(&areas)),
        table: None,
        sheet,
        sheet_caption: "First, middle and last rendered frames at half size. Columns: original, the plate with people removed \
                        (orange), what was replaced (difference x4)."
            .to_string(),
        preview,
        preview_caption: "Left: the camera. Right: CleanPlate's plate. At the clip's frame rate (10 fps), looping.".to_string(),
        notes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
