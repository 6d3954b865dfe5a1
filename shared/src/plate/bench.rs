//! Timing and memory of the plate methods on a synthetic shot held outside the builder (run
//! by hand, not a test): `PLATE_BENCH=1920x1080 cargo test --release -p pixelspace-shared --lib
//! plate::bench -- --ignored --nocapture`. The shot pans 3 px a frame under a square subject
//! a quarter of the frame high that moves 40 px a frame; frames are cut from one panorama on
//! each read, as a host hands them over. Peak memory is the process's high-water mark
//! (VmHWM) above what it was before the first build, so it is the builder's own.

#[cfg(test)]
mod tests {
    use crate::colour::ColourSpace;
    use crate::error::Result;
    use crate::geometry::Rect;
    use crate::image::FloatImage;
    use crate::plate::{Method, PlateOptions, ShotFrame, ShotSource, build};

    struct Synthetic {
        pano: FloatImage,
        w: u32,
        h: u32,
        frames: i32,
    }

    impl ShotSource for Synthetic {
        fn range(&self) -> (i32, i32) {
            (0, self.frames - 1)
        }
        fn load(&self, t: i32) -> Result<ShotFrame> {
            let (w, h) = (self.w as usize, self.h as usize);
            let pw = self.pano.width() as usize;
            let x0 = 3 * t as usize;
            let mut data = Vec::with_capacity(w * h * 4);
            for y in 0..h {
                data.extend_from_slice(&self.pano.data[4 * (y * pw + x0)..4 * (y * pw + x0 + w)]);
            }
            let side = h / 4;
            let sx = (40 * t) as usize % (w - side);
            let sy = h / 3;
            let mut matte = vec![0f32; w * h];
            for y in sy..sy + side {
                for x in sx..sx + side {
                    matte[y * w + x] = 1.0;
                    data[4 * (y * w + x)..4 * (y * w + x) + 3].copy_from_slice(&[0.9, 0.1, 0.1]);
                }
            }
            Ok(ShotFrame {
                image: FloatImage::from_data(Rect::from_size(self.w, self.h), data)?,
                matte,
            })
        }
    }

    fn high_water_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
            })
            .unwrap_or(0)
    }

    #[test]
    #[ignore]
    fn bench() {
        let size = std::env::var("PLATE_BENCH").unwrap_or_else(|_| "1920x1080".into());
        let (w, h) = size
            .split_once('x')
            .map(|(a, b)| (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()))
            .expect("PLATE_BENCH=WxH");
        let frames = 12;
        let pano = FloatImage::from_fn(Rect::from_size(w + 3 * frames as u32, h), |x, y| {
            crate::plate::median::tests::background(x as f32, y as f32)
        });
        let shot = Synthetic { pano, w, h, frames };
        let base = high_water_kb();
        // Auto with the motion matte: the camera pans, so the matte is found against a
        // background aligned to each frame (`moving_camera`).
        for (method, motion_grow) in [
            (Method::Median, None),
            (Method::Propagate, None),
            (Method::Auto, Some(6)),
        ] {
            let opts = PlateOptions {
                method,
                window: 8,
                flow: None,
                inpaint_model: None,
                frame_colour: ColourSpace::Srgb,
                is_cancelled: &|| false,
                motion_grow,
                mattes_mark_people: false,
            };
            let start = std::time::Instant::now();
            let n = 3;
            for t in 4..4 + n {
                let p = build(&shot, t, &opts).unwrap();
                assert!(p.image.data.iter().all(|v| v.is_finite()));
            }
            let s = start.elapsed().as_secs_f64() / n as f64;
            let with = if motion_grow.is_some() {
                " with the motion matte"
            } else {
                ""
            };
            eprintln!(
                "{method:?}{with} window 8 at {w}x{h}: {s:.2} s a frame ({:.2} fps); peak memory above the start: {} MB",
                1.0 / s,
                high_water_kb().saturating_sub(base) / 1024
            );
        }
    }
}
