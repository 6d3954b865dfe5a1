//! The real converted models through `pixelspace render`, the reference OFX host and the
//! installed bundle's Inference effect, on a real photograph (scikit-image's astronaut):
//!
//! * RIFE makes the midpoint of a two-frame shot whose second frame is the photo moved by 4 px;
//!   the true midpoint (the photo moved by 2 px) is known, so the result has a PSNR.
//! * The selfie segmentation writes a person matte into alpha that covers the astronaut and not
//!   the background, and leaves the colour channels alone.
//!
//! Needs `PIXELSPACE_MODELS_DIR` with rife.onnx and selfie_segmentation.onnx in subfolders (as
//! `pixelspace models fetch --defaults` writes them) and the test photos of tests/setup; fails
//! with instructions when they are missing.

use std::path::Path;

use pixelspace_tests::*;

/// The astronaut photo written by tests/data/make_photos.py (frame 1 is the unmoved photo).
fn astronaut() -> Image {
    let path = data_dir().join("photos").join("astronaut").join("0001.png");
    assert!(
        path.is_file(),
        "{} not found: run tests/setup, or python3 tests/data/make_photos.py {}",
        path.display(),
        data_dir().join("photos").display()
    );
    read_image(&path)
}

/// The `w` x `h` part of `img` whose top-left pixel is (x0, y0) counted from the top.
fn crop_top_down(img: &Image, x0: usize, y0: usize, w: usize, h: usize) -> Image {
    assert!(x0 + w <= img.width && y0 + h <= img.height);
    let mut data = Vec::with_capacity(w * h * 4);
    // Rows are stored bottom-up: the crop's bottom row is img row (height - y0 - h).
    let bottom = img.height - y0 - h;
    for y in bottom..bottom + h {
        let start = (y * img.width + x0) * 4;
        data.extend_from_slice(&img.data[start..start + w * 4]);
    }
    Image {
        width: w,
        height: h,
        data,
    }
}

fn model_arg(path: &Path) -> String {
    format!("model={}", path.display())
}

#[test]
fn rife_midpoint_of_a_real_shot_moving_4_px_is_within_35_db_of_the_truth() {
    let rife = real_model("rife");
    let photo = astronaut();
    // 448 x 256 crops from the head down; the second frame is the photo moved left by 4 px
    // (crop 4 px further right), so the frame half way is the crop 2 px further right.
    let (x0, y0, w, h) = (20, 40, 448, 256);
    let frame0 = crop_top_down(&photo, x0, y0, w, h);
    let frame1 = crop_top_down(&photo, x0 + 4, y0, w, h);
    let truth = crop_top_down(&photo, x0 + 2, y0, w, h);
    let dir = scratch("real_rife_midpoint");
    std::fs::create_dir_all(dir.join("shot")).unwrap();
    write_png16(&dir.join("shot/0001.png"), &frame0);
    write_png16(&dir.join("shot/0002.png"), &frame1);
    let input = dir.join("shot/%04d.png").display().to_string();
    let output = dir.join("out/%04d.png").display().to_string();
    // Frame 1 reads img0 = frame 1 and img1 = frame 2 (offsets 0 and +1), timestep 0.5.
    let model = model_arg(&rife);
    let start = std::time::Instant::now();
    render_ok(&[
        "-i", &input, "-o", &output, "--frames", "1..1", "--set", &model,
    ]);
    let seconds = start.elapsed().as_secs_f64();
    let out = read_image(&dir.join("out/0001.png"));
    assert_eq!((out.width, out.height), (w, h));
    let psnr = psnr_rgb(&out, &truth);
    // For scale: a plain 50/50 blend of the two frames, and holding the first frame.
    let blend = Image {
        width: w,
        height: h,
        data: frame0
            .data
            .iter()
            .zip(&frame1.data)
            .map(|(a, b)| (a + b) / 2.0)
            .collect(),
    };
    eprintln!(
        "RIFE midpoint: PSNR {psnr:.2} dB against the true midpoint (blend {:.2} dB, first frame {:.2} dB); render {seconds:.1} s",
        psnr_rgb(&blend, &truth),
        psnr_rgb(&frame0, &truth)
    );
    assert!(
        psnr >= 35.0,
        "RIFE midpoint PSNR {psnr:.2} dB, need >= 35 dB"
    );
    assert!(
        psnr > psnr_rgb(&blend, &truth) + 3.0,
        "no better than a blend"
    );
}

/// Mean alpha over a box given top-down (x1, y1, x2, y2) of an image stored bottom-up.
fn mean_alpha(img: &Image, (x1, y1, x2, y2): (usize, usize, usize, usize)) -> f64 {
    let mut sum = 0.0;
    for yd in y1..y2 {
        for x in x1..x2 {
            sum += img.pixel(x, img.height - 1 - yd)[3] as f64;
        }
    }
    sum / ((x2 - x1) * (y2 - y1)) as f64
}

#[test]
fn selfie_segmentation_writes_a_person_matte_into_alpha() {
    let model = real_model("selfie_segmentation");
    let photo = astronaut();
    let dir = scratch("real_selfie_matte");
    let input = photo_pattern("astronaut");
    let output = dir.join("%04d.png").display().to_string();
    let model = model_arg(&model);
    render_ok(&[
        "-i", &input, "-o", &output, "--frames", "1..1", "--set", &model,
    ]);
    let out = read_image(&dir.join("0001.png"));
    assert_eq!((out.width, out.height), (photo.width, photo.height));
    // Person: the astronaut's face and torso; background: the flag and the wall beside her
    // (boxes top-down, as in models/convert/check_faces.py).
    for (name, r) in [
        ("face", (180, 80, 270, 175)),
        ("torso", (80, 320, 300, 480)),
    ] {
        let m = mean_alpha(&out, r);
        eprintln!("alpha over the {name} {r:?}: {m:.4}");
        assert!(m >= 0.9, "mean alpha {m:.4} over the {name}, need >= 0.9");
    }
    for (name, r) in [("flag", (0, 0, 100, 150)), ("wall", (300, 0, 512, 120))] {
        let m = mean_alpha(&out, r);
        eprintln!("alpha over the {name} {r:?}: {m:.4}");
        assert!(m <= 0.05, "mean alpha {m:.4} over the {name}, need <= 0.05");
    }
    // The colour channels are the photo's (8-bit in, 8-bit out).
    let (d, i) = max_abs_diff(
        &photo
            .data
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 != 3)
            .map(|(_, v)| *v as f64)
            .collect::<Vec<_>>(),
        &out.data
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 4 != 3)
            .map(|(_, v)| *v)
            .collect::<Vec<_>>(),
    );
    assert!(d < 1e-6, "colour changed by {d} at component {i}");
}
