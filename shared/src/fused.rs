//! The common render case without intermediate images: host pixels go straight into the
//! model's input tensor, and the model's output straight into the host's output buffer.
//!
//! [`pack_view`] does, per tensor row, what the general path does with whole images: read the
//! region from the host view with edge replication, replace NaN/inf, convert the frame's colour
//! encoding to the model's, clamp (for `change`), pad to the model size by replicating the
//! region's right column and bottom row, normalise and lay out (NCHW/NHWC, channel order,
//! rows top-down). [`unpack_to_view`] inverts the normalisation, converts back, combines with
//! the plate (`replace`, `residual`, `change`), encodes to the output's depth and writes the
//! window (transparent black outside the region, as the general path does).
//!
//! Both work row by row over bands of rows on `threads` scoped threads; every row is computed
//! by the same code whatever the band, so the result does not depend on the thread count.
//! The values equal the general path's exactly, except that byte and short frames are decoded
//! through the exact lookup tables of [`crate::colour`], which differ from converting the
//! decoded float by at most the float curves' error (2e-7).
//!
//! Used for `dynamic` models without tiling; resizing, letterboxing and tiles take the
//! general path. [`pack_image`] does the same from a working image (the inputs of
//! [`crate::pipeline::InferencePipeline::infer`]), with exactly the general path's values.

use crate::colour::{self, ColourSpace};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::{FloatImage, ImageView, ImageViewMut, RowMut};
use crate::manifest::Apply;
use crate::tensor::{ChannelOrder, Layout, Normalisation};

/// Threads worth using for a pass over `pixels` pixels: one for small images (a thread costs
/// more than it saves), else every core the machine has.
pub fn threads_for(pixels: usize) -> usize {
    if pixels < 1 << 16 {
        return 1;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 64)
}

/// Runs `work` on every job, the first on the calling thread and the others on scoped threads.
fn run_jobs<T: Send>(jobs: Vec<T>, work: impl Fn(T) + Sync) {
    let work = &work;
    let mut jobs = jobs.into_iter();
    let first = jobs.next();
    std::thread::scope(|s| {
        for job in jobs {
            s.spawn(move || work(job));
        }
        if let Some(job) = first {
            work(job);
        }
    });
}

/// How one image input is made from the host frame.
#[derive(Clone, Copy, Debug)]
pub struct PackSpec<'a> {
    pub layout: Layout,
    pub channels: ChannelOrder,
    pub normalisation: &'a Normalisation,
    /// How the host frame is encoded.
    pub frame_colour: ColourSpace,
    /// What the model takes.
    pub model_colour: ColourSpace,
    /// Clamp the model-space values to [0, 1] (the first input of an `apply: change` model).
    pub clamp: bool,
}

/// Packs `region` of `view` into `out` as a `size` (width, height) tensor, `size` at least the
/// region's size: the padding replicates the region's right column and bottom row (tensor rows
/// are top-down: row `r` is `y = region.y2 - 1 - r`). Pixels of the region outside the view
/// repeat its nearest edge pixel. `out` is resized, not cleared: every value is written.
pub fn pack_view(
    view: &ImageView,
    region: Rect,
    size: (u32, u32),
    spec: &PackSpec,
    threads: usize,
    out: &mut Vec<f32>,
) -> Result<()> {
    if region.is_empty() || view.bounds().is_empty() {
        return Err(Error::new(format!(
            "cannot pack {region:?} from an image covering {:?}: both must be non-empty",
            view.bounds()
        )));
    }
    let vb = view.bounds();
    // Rows outside the view repeat its nearest row.
    let read = |y: i32, line: &mut [f32]| {
        read_line(
            view,
            y.clamp(vb.y1, vb.y2 - 1),
            region.x1,
            region.x2,
            line,
            spec,
        )
    };
    pack_lines(region, size, spec, threads, out, &read)
}

/// Packs a whole working image (pixels in `spec.frame_colour`, any values) like
/// [`pack_view`] packs a host view: the same tensor, values equal to packing a float view of
/// the same pixels, and to the general path (sanitize, convert, pad, pack).
pub fn pack_image(
    image: &FloatImage,
    size: (u32, u32),
    spec: &PackSpec,
    threads: usize,
    out: &mut Vec<f32>,
) -> Result<()> {
    let region = image.bounds;
    if region.is_empty() || image.data.len() != 4 * region.area() {
        return Err(Error::new(format!(
            "cannot pack an image covering {region:?} with {} values: it must be non-empty RGBA",
            image.data.len()
        )));
    }
    let read = |y: i32, line: &mut [f32]| {
        line.copy_from_slice(image.row(y));
        colour::sanitize(line);
        colour::convert_rgba(line, spec.frame_colour, spec.model_colour);
    };
    pack_lines(region, size, spec, threads, out, &read)
}

/// The common part of [`pack_view`] and [`pack_image`]: `read(y, line)` fills `line` with
/// row `y` of the region (`region.y1 <= y < region.y2`, `4 * width` values) in the model's
/// colour space; rows are packed in bands on `threads` threads.
fn pack_lines(
    region: Rect,
    size: (u32, u32),
    spec: &PackSpec,
    threads: usize,
    out: &mut Vec<f32>,
    read: &(dyn Fn(i32, &mut [f32]) + Sync),
) -> Result<()> {
    let chans = spec.channels.count();
    spec.normalisation.validate(chans)?;
    let (pw, ph) = (size.0 as usize, size.1 as usize);
    if pw < region.width() as usize || ph < region.height() as usize {
        return Err(Error::new(format!(
            "tensor size {pw}x{ph} is smaller than the region {region:?}"
        )));
    }
    out.resize(chans * pw * ph, 0.0);
    let map = spec.normalisation.forward(chans);
    let rows_per = ph.div_ceil(threads.max(1));
    // One job per band of tensor rows: (first row, that band's slice of every plane).
    let mut jobs: Vec<(usize, Vec<&mut [f32]>)> = Vec::new();
    match spec.layout {
        Layout::Nchw => {
            for plane in out.chunks_exact_mut(pw * ph) {
                for (b, band) in plane.chunks_mut(rows_per * pw).enumerate() {
                    if jobs.len() <= b {
                        jobs.push((b * rows_per, Vec::with_capacity(chans)));
                    }
                    jobs[b].1.push(band);
                }
            }
        }
        Layout::Nhwc => {
            for (b, band) in out.chunks_mut(rows_per * pw * chans).enumerate() {
                jobs.push((b * rows_per, vec![band]));
            }
        }
    }
    run_jobs(jobs, |(r0, mut band)| {
        pack_rows(region, pw, spec, &map, r0, &mut band, read)
    });
    Ok(())
}

/// Packs the tensor rows from `r0` into `band` (one slice per plane for NCHW, one for NHWC).
fn pack_rows(
    region: Rect,
    pw: usize,
    spec: &PackSpec,
    map: &[(f32, f32)],
    r0: usize,
    band: &mut [&mut [f32]],
    read: &(dyn Fn(i32, &mut [f32]) + Sync),
) {
    let src = spec.channels.sources();
    let chans = src.len();
    let w = region.width() as usize;
    let rows = match spec.layout {
        Layout::Nchw => band[0].len() / pw,
        Layout::Nhwc => band[0].len() / (pw * chans),
    };
    let mut line = vec![0f32; 4 * pw];
    for i in 0..rows {
        let r = (r0 + i) as i32;
        // Padding rows repeat the region's bottom row.
        let y = (region.y2 - 1 - r).max(region.y1);
        read(y, &mut line[..4 * w]);
        let last: [f32; 4] = line[4 * w - 4..4 * w].try_into().expect("4 values");
        for px in line[4 * w..].chunks_exact_mut(4) {
            px.copy_from_slice(&last);
        }
        if spec.clamp {
            line.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        match spec.layout {
            Layout::Nchw => {
                for ((plane, &s), &(a, b)) in band.iter_mut().zip(src).zip(map) {
                    let dst = &mut plane[i * pw..(i + 1) * pw];
                    for (d, px) in dst.iter_mut().zip(line.chunks_exact(4)) {
                        *d = px[s] * a + b;
                    }
                }
            }
            Layout::Nhwc => {
                let dst = &mut band[0][i * pw * chans..(i + 1) * pw * chans];
                for (d, px) in dst.chunks_exact_mut(chans).zip(line.chunks_exact(4)) {
                    for ((dc, &s), &(a, b)) in d.iter_mut().zip(src).zip(map) {
                        *dc = px[s] * a + b;
                    }
                }
            }
        }
    }
}

/// Pixels `x1..x2` of row `y` of `view` in the model's colour space, edge-replicated outside
/// the view's bounds (`y` is inside them).
fn read_line(view: &ImageView, y: i32, x1: i32, x2: i32, line: &mut [f32], spec: &PackSpec) {
    let vb = view.bounds();
    let (ox1, ox2) = (x1.max(vb.x1), x2.min(vb.x2));
    let (from, to) = (spec.frame_colour, spec.model_colour);
    if ox1 < ox2 {
        let a = 4 * (ox1 - x1) as usize;
        let b = 4 * (ox2 - x1) as usize;
        view.read_row_rgba_as(y, ox1, ox2, &mut line[a..b], from, to);
        let left: [f32; 4] = line[a..a + 4].try_into().expect("4 values");
        let right: [f32; 4] = line[b - 4..b].try_into().expect("4 values");
        line[..a]
            .chunks_exact_mut(4)
            .for_each(|p| p.copy_from_slice(&left));
        line[b..]
            .chunks_exact_mut(4)
            .for_each(|p| p.copy_from_slice(&right));
    } else {
        let sx = x1.clamp(vb.x1, vb.x2 - 1);
        let mut px = [0f32; 4];
        view.read_row_rgba_as(y, sx, sx + 1, &mut px, from, to);
        line.chunks_exact_mut(4)
            .for_each(|p| p.copy_from_slice(&px));
    }
}

/// How the model's image output goes back into the frame.
#[derive(Clone, Copy, Debug)]
pub struct UnpackSpec<'a> {
    /// The output tensor, `size` as given to [`unpack_to_view`].
    pub tensor: &'a [f32],
    /// For `apply: residual`, the model's first input tensor (same layout and channels), added
    /// to the output.
    pub residual: Option<&'a [f32]>,
    pub layout: Layout,
    pub channels: ChannelOrder,
    pub normalisation: &'a Normalisation,
    /// The output's colour space.
    pub model_colour: ColourSpace,
    /// How the host frame is encoded.
    pub frame_colour: ColourSpace,
    pub apply: Apply,
    /// The first input's colour space (what the model saw, for `apply: change`).
    pub input_colour: ColourSpace,
}

/// Writes `window ∩ output.bounds` of the model's output: over `region` (the area the tensor's
/// top-left `region` size covers), the output combined with the plate `host` (the first
/// input's host image, which covers `region`); elsewhere transparent black. Components the
/// output does not produce are the plate's.
pub fn unpack_to_view(
    spec: &UnpackSpec,
    host: &ImageView,
    region: Rect,
    size: (u32, u32),
    window: Rect,
    output: &mut ImageViewMut,
    threads: usize,
) -> Result<()> {
    let chans = spec.channels.count();
    spec.normalisation.validate(chans)?;
    let (pw, ph) = (size.0 as usize, size.1 as usize);
    let n = chans * pw * ph;
    if spec.tensor.len() != n || spec.residual.is_some_and(|r| r.len() != n) {
        return Err(Error::new(format!(
            "model output holds {} values but a {pw}x{ph} {} image needs {n}",
            spec.tensor.len(),
            spec.channels.name()
        )));
    }
    if pw < region.width() as usize
        || ph < region.height() as usize
        || !host.bounds().contains_rect(&region)
    {
        return Err(Error::new(format!(
            "region {region:?} must lie inside the plate {:?} and fit the {pw}x{ph} tensor",
            host.bounds()
        )));
    }
    let map = spec.normalisation.inverse(chans);
    let wr = window.intersect(&output.bounds());
    let rows = output.rows_mut(window);
    if rows.is_empty() {
        return Ok(());
    }
    let rows_per = rows.len().div_ceil(threads.max(1));
    let mut jobs: Vec<Vec<RowMut>> = Vec::new();
    let mut rows = rows.into_iter();
    loop {
        let band: Vec<RowMut> = rows.by_ref().take(rows_per).collect();
        if band.is_empty() {
            break;
        }
        jobs.push(band);
    }
    let ctx = UnpackRows {
        spec,
        map: &map,
        host,
        region,
        pw,
        ph,
        wr,
    };
    run_jobs(jobs, |band| ctx.rows(band));
    Ok(())
}

struct UnpackRows<'a> {
    spec: &'a UnpackSpec<'a>,
    map: &'a [(f32, f32)],
    host: &'a ImageView<'a>,
    region: Rect,
    pw: usize,
    ph: usize,
    wr: Rect,
}

impl UnpackRows<'_> {
    fn rows(&self, band: Vec<RowMut>) {
        let spec = self.spec;
        let (region, wr, pw, ph) = (self.region, self.wr, self.pw, self.ph);
        let src = spec.channels.sources();
        let mut produced = [false; 4];
        src.iter().for_each(|&s| produced[s] = true);
        let chans = src.len();
        let (ax1, ax2) = (wr.x1.max(region.x1), wr.x2.min(region.x2));
        let aw = (ax2 - ax1).max(0) as usize;
        let (a, b) = (
            4 * (ax1 - wr.x1).max(0) as usize,
            4 * (ax1 - wr.x1) as usize + 4 * aw,
        );
        let mut line = vec![0f32; 4 * wr.width() as usize];
        let mut plate = vec![0f32; 4 * aw];
        let mut seen = if spec.apply == Apply::Change {
            vec![0f32; 4 * aw]
        } else {
            Vec::new()
        };
        for mut row in band {
            let y = row.y();
            if aw == 0 || y < region.y1 || y >= region.y2 {
                line.fill(0.0);
                row.write_rgba(&line);
                continue;
            }
            line[..a].fill(0.0);
            line[b..].fill(0.0);
            let seg = &mut line[a..b];
            let (fc, mc) = (spec.frame_colour, spec.model_colour);
            self.host.read_row_rgba_as(y, ax1, ax2, &mut plate, fc, fc);
            seg.copy_from_slice(&plate);
            // The model's values, back to pixel values.
            let r = (region.y2 - 1 - y) as usize;
            let cx = (ax1 - region.x1) as usize;
            let value = |i: usize| {
                let t = colour::sanitize_value(spec.tensor[i]);
                match spec.residual {
                    Some(res) => t + res[i],
                    None => t,
                }
            };
            match spec.layout {
                Layout::Nchw => {
                    for (k, (&s, &(scale, offset))) in src.iter().zip(self.map).enumerate() {
                        let start = (k * ph + r) * pw + cx;
                        for (j, px) in seg.chunks_exact_mut(4).enumerate() {
                            px[s] = value(start + j) * scale + offset;
                        }
                    }
                }
                Layout::Nhwc => {
                    let start = (r * pw + cx) * chans;
                    for (j, px) in seg.chunks_exact_mut(4).enumerate() {
                        for (k, (&s, &(scale, offset))) in src.iter().zip(self.map).enumerate() {
                            px[s] = value(start + j * chans + k) * scale + offset;
                        }
                    }
                }
            }
            if produced[0] {
                colour::convert_rgba(seg, mc, fc);
            }
            if spec.apply == Apply::Change {
                // What the model saw, in the frame's encoding.
                self.host
                    .read_row_rgba_as(y, ax1, ax2, &mut seen, fc, spec.input_colour);
                seen.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
                colour::convert_rgba(&mut seen, spec.input_colour, fc);
                for ((o, h), i) in seg
                    .chunks_exact_mut(4)
                    .zip(plate.chunks_exact(4))
                    .zip(seen.chunks_exact(4))
                {
                    for c in 0..4 {
                        o[c] = if produced[c] {
                            h[c] + (o[c] - i[c])
                        } else {
                            h[c]
                        };
                    }
                }
            }
            // Otherwise components the output lacks are still the plate's: the conversion
            // touches RGB only, and only when the output produces it.
            row.write_rgba(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::Rng;
    use crate::image::{Components, FloatImage, PixelDepth};
    use crate::resize;
    use crate::tensor::{self, AlphaUnpack};

    const DEPTHS: [PixelDepth; 4] = [
        PixelDepth::Byte,
        PixelDepth::Short,
        PixelDepth::Half,
        PixelDepth::Float,
    ];
    const COMPS: [Components; 3] = [Components::Rgba, Components::Rgb, Components::Alpha];
    const ORDERS: [ChannelOrder; 4] = [
        ChannelOrder::Rgb,
        ChannelOrder::Bgr,
        ChannelOrder::Rgba,
        ChannelOrder::Alpha,
    ];
    const SPACES: [ColourSpace; 2] = [ColourSpace::Linear, ColourSpace::Srgb];

    /// A host buffer holding `img` at `depth`, rows top-down when `top_down`, with padding.
    /// Returns (bytes, first row offset, row bytes).
    fn host_buffer(
        img: &FloatImage,
        depth: PixelDepth,
        comps: Components,
        top_down: bool,
    ) -> (Vec<u8>, usize, isize) {
        let b = img.bounds;
        let row = b.width() as usize * comps.count() * depth.bytes_per_component() + 8;
        let h = b.height() as usize;
        let mut bytes = vec![0u8; row * h];
        let (first, rb) = if top_down {
            ((h - 1) * row, -(row as isize))
        } else {
            (0, row as isize)
        };
        let mut view = ImageViewMut::new(&mut bytes, first, rb, b, depth, comps).unwrap();
        for y in b.y1..b.y2 {
            view.write_row_rgba(y, b.x1, b.x2, img.row(y));
        }
        (bytes, first, rb)
    }

    /// Values around [0, 1] and above, with a few non-finite ones.
    fn random_image(rng: &mut Rng, b: Rect) -> FloatImage {
        FloatImage::from_fn(b, |_, _| {
            let mut px = [0f32; 4];
            for v in &mut px {
                *v = match rng.next_u64() % 50 {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    2 => -2.0,
                    3 => 7.5,
                    _ => rng.unit() * 1.2 - 0.05,
                };
            }
            px
        })
    }

    fn norms() -> Vec<Normalisation> {
        vec![
            Normalisation::identity(),
            Normalisation {
                range: [-1.0, 1.0],
                mean: vec![],
                std: vec![],
            },
            Normalisation {
                range: [0.0, 255.0],
                mean: vec![123.7],
                std: vec![58.4],
            },
        ]
    }

    /// The general path's input preparation: read with edge replication, sanitise, convert,
    /// clamp, pad to `size` (right and bottom), pack.
    fn general_pack(view: &ImageView, region: Rect, size: (u32, u32), spec: &PackSpec) -> Vec<f32> {
        let mut img = FloatImage::from_view(view, region);
        colour::sanitize(&mut img.data);
        colour::convert_image(&mut img, spec.frame_colour, spec.model_colour);
        if spec.clamp {
            img.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        let padded = Rect::new(
            region.x1,
            region.y2 - size.1 as i32,
            region.x1 + size.0 as i32,
            region.y2,
        );
        let img = resize::crop(&img, padded);
        tensor::pack(&img, padded, spec.layout, spec.channels, spec.normalisation).unwrap()
    }

    /// Integer frames differ only by the tables' exact curve (<= 2e-7 before normalisation).
    fn tolerance(depth: PixelDepth, spec: &PackSpec) -> f32 {
        let converts = spec.frame_colour != spec.model_colour;
        if converts && matches!(depth, PixelDepth::Byte | PixelDepth::Short) {
            let scale = spec.normalisation.forward(spec.channels.count());
            1e-6 * scale.iter().map(|(a, _)| a.abs()).fold(1.0, f32::max)
        } else {
            0.0
        }
    }

    #[test]
    fn pack_equals_the_general_path() {
        let mut rng = Rng(5);
        let vb = Rect::new(2, -3, 13, 6); // 11 x 9
        let img = random_image(&mut rng, vb);
        // inside, padded, partly outside the view on every side
        let cases = [
            (Rect::new(2, -3, 13, 6), (11, 9)),
            (Rect::new(4, -1, 9, 4), (8, 8)),
            (Rect::new(-1, -6, 16, 9), (24, 16)),
            (Rect::new(14, 7, 17, 9), (4, 2)),
        ];
        for depth in DEPTHS {
            for comps in COMPS {
                for top_down in [false, true] {
                    let (bytes, first, rb) = host_buffer(&img, depth, comps, top_down);
                    let view = ImageView::new(&bytes, first, rb, vb, depth, comps).unwrap();
                    for (k, &(region, size)) in cases.iter().enumerate() {
                        for norm in norms() {
                            for &from in &SPACES {
                                for &to in &SPACES {
                                    let order = ORDERS[(k + from as usize) % 4];
                                    let layout = if k % 2 == 0 {
                                        Layout::Nchw
                                    } else {
                                        Layout::Nhwc
                                    };
                                    let spec = PackSpec {
                                        layout,
                                        channels: order,
                                        normalisation: &norm,
                                        frame_colour: from,
                                        model_colour: to,
                                        clamp: to == ColourSpace::Srgb,
                                    };
                                    let want = general_pack(&view, region, size, &spec);
                                    let mut got = vec![42.0; 3];
                                    pack_view(&view, region, size, &spec, 3, &mut got).unwrap();
                                    assert_eq!(got.len(), want.len());
                                    let tol = tolerance(depth, &spec);
                                    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                                        assert!(
                                            (g - w).abs() <= tol,
                                            "{depth:?} {comps:?} {region:?} {order:?} {layout:?} {from:?}->{to:?} [{i}]: {g} vs {w}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pack_image_equals_the_general_path_exactly() {
        let mut rng = Rng(11);
        let b = Rect::new(-2, 3, 9, 12); // 11 x 9
        let img = random_image(&mut rng, b);
        // The general path over a float view of the image's own values.
        let (bytes, first, rb) = host_buffer(&img, PixelDepth::Float, Components::Rgba, false);
        let view =
            ImageView::new(&bytes, first, rb, b, PixelDepth::Float, Components::Rgba).unwrap();
        for (k, size) in [(11, 9), (16, 16), (12, 10)].into_iter().enumerate() {
            for norm in norms() {
                for &from in &SPACES {
                    for &to in &SPACES {
                        for clamp in [false, true] {
                            let spec = PackSpec {
                                layout: if k % 2 == 0 {
                                    Layout::Nchw
                                } else {
                                    Layout::Nhwc
                                },
                                channels: ORDERS[(k + to as usize) % 4],
                                normalisation: &norm,
                                frame_colour: from,
                                model_colour: to,
                                clamp,
                            };
                            let want = general_pack(&view, b, size, &spec);
                            for threads in [1, 2, 4] {
                                let mut got = vec![42.0; 5];
                                pack_image(&img, size, &spec, threads, &mut got).unwrap();
                                assert_eq!(
                                    got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                                    want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                                    "{size:?} {spec:?} {threads} threads"
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        let spec = PackSpec {
            layout: Layout::Nchw,
            channels: ChannelOrder::Rgb,
            normalisation: &norms()[0],
            frame_colour: ColourSpace::Srgb,
            model_colour: ColourSpace::Srgb,
            clamp: false,
        };
        assert!(pack_image(&img, (8, 8), &spec, 1, &mut out).is_err());
        assert!(pack_image(&FloatImage::new(Rect::EMPTY), (8, 8), &spec, 1, &mut out).is_err());
    }

    /// The general path's output side (as in `InferencePipeline::render_region` + `write_to`).
    #[allow(clippy::too_many_arguments)]
    fn general_unpack(
        spec: &UnpackSpec,
        host_view: &ImageView,
        region: Rect,
        size: (u32, u32),
        window: Rect,
        output: &mut ImageViewMut,
    ) {
        let mut host = FloatImage::from_view(host_view, region);
        colour::sanitize(&mut host.data);
        let padded = Rect::new(
            region.x1,
            region.y2 - size.1 as i32,
            region.x1 + size.0 as i32,
            region.y2,
        );
        let mut fitted = host.clone();
        colour::convert_image(&mut fitted, spec.frame_colour, spec.input_colour);
        if spec.apply == Apply::Change {
            fitted.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
        }
        let fitted = resize::crop(&fitted, padded);
        let mut t = spec.tensor.to_vec();
        colour::sanitize(&mut t);
        if let Some(res) = spec.residual {
            t.iter_mut().zip(res).for_each(|(o, i)| *o += *i);
        }
        let mut model_out = fitted.clone();
        tensor::unpack(
            &t,
            spec.layout,
            spec.channels,
            spec.normalisation,
            AlphaUnpack::AlphaOnly,
            &mut model_out,
            padded,
        )
        .unwrap();
        let mut out = resize::crop(&model_out, region);
        colour::convert_image(&mut out, spec.model_colour, spec.frame_colour);
        let mut produced = [false; 4];
        spec.channels
            .sources()
            .iter()
            .for_each(|&s| produced[s] = true);
        let mut model_in = resize::crop(&fitted, region);
        colour::convert_image(&mut model_in, spec.input_colour, spec.frame_colour);
        for ((o, h), i) in out
            .data
            .chunks_exact_mut(4)
            .zip(host.data.chunks_exact(4))
            .zip(model_in.data.chunks_exact(4))
        {
            for c in 0..4 {
                o[c] = match (produced[c], spec.apply) {
                    (false, _) => h[c],
                    (true, Apply::Change) => h[c] + (o[c] - i[c]),
                    (true, _) => o[c],
                };
            }
        }
        out.write_to(output, window);
    }

    fn random_tensor(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| match i % 97 {
                5 => f32::NAN,
                6 => f32::NEG_INFINITY,
                _ => rng.unit() * 1.4 - 0.2,
            })
            .collect()
    }

    /// (depth, components, top-down) of the output buffers tried.
    const OUTPUTS: [(PixelDepth, Components, bool); 5] = [
        (PixelDepth::Float, Components::Rgba, false),
        (PixelDepth::Float, Components::Rgba, true),
        (PixelDepth::Half, Components::Rgb, false),
        (PixelDepth::Byte, Components::Rgba, true),
        (PixelDepth::Short, Components::Alpha, false),
    ];

    #[test]
    fn unpack_equals_the_general_path() {
        let mut rng = Rng(11);
        let hb = Rect::new(-4, 0, 9, 10); // 13 x 10
        let img = random_image(&mut rng, hb);
        // (region, tensor size, window, output bounds)
        let cases = [
            (hb, (13, 10), hb, hb),
            (
                Rect::new(-2, 1, 7, 8),
                (16, 8),
                Rect::new(-3, 2, 6, 9),
                Rect::new(-3, 2, 6, 9),
            ),
            (
                Rect::new(0, 3, 5, 9),
                (8, 8),
                Rect::new(-4, 0, 9, 10),
                Rect::new(-1, 1, 9, 10),
            ),
        ];
        for host_depth in [PixelDepth::Float, PixelDepth::Byte] {
            let (hbytes, hfirst, hrb) = host_buffer(&img, host_depth, Components::Rgba, false);
            let host =
                ImageView::new(&hbytes, hfirst, hrb, hb, host_depth, Components::Rgba).unwrap();
            for (k, &(region, size, window, ob)) in cases.iter().enumerate() {
                for (o, &(depth, comps, top_down)) in OUTPUTS.iter().enumerate() {
                    for apply in [Apply::Replace, Apply::Residual, Apply::Change] {
                        for order in ORDERS {
                            let norm = &norms()[(k + o) % 3];
                            let layout = if (k + o) % 2 == 0 {
                                Layout::Nchw
                            } else {
                                Layout::Nhwc
                            };
                            let n = order.count() * (size.0 * size.1) as usize;
                            let t = random_tensor(&mut rng, n);
                            let res = random_tensor(&mut rng, n);
                            let spec = UnpackSpec {
                                tensor: &t,
                                residual: (apply == Apply::Residual).then_some(&res[..]),
                                layout,
                                channels: order,
                                normalisation: norm,
                                model_colour: SPACES[o % 2],
                                frame_colour: SPACES[k % 2],
                                apply,
                                input_colour: SPACES[(o + k + 1) % 2],
                            };
                            let blank = FloatImage::filled(ob, [0.5; 4]);
                            let (mut want, first, rb) = host_buffer(&blank, depth, comps, top_down);
                            let mut got = want.clone();
                            let mut wv =
                                ImageViewMut::new(&mut want, first, rb, ob, depth, comps).unwrap();
                            general_unpack(&spec, &host, region, size, window, &mut wv);
                            let mut gv =
                                ImageViewMut::new(&mut got, first, rb, ob, depth, comps).unwrap();
                            unpack_to_view(&spec, &host, region, size, window, &mut gv, 2).unwrap();
                            let (gv, wv) = (gv.as_view(), wv.as_view());
                            let what = format!(
                                "{host_depth:?} case {k} {depth:?} {comps:?} {apply:?} {order:?}"
                            );
                            // Byte plates decode through the exact tables in `change`.
                            let tol = if host_depth == PixelDepth::Byte && apply == Apply::Change {
                                2e-6
                            } else {
                                0.0
                            };
                            let mut changed = 0;
                            for (x, y) in ob.pixels() {
                                let (g, w) = (gv.pixel_rgba(x, y), wv.pixel_rgba(x, y));
                                changed +=
                                    (g != gv.pixel_rgba(ob.x1, ob.y1) || g[0] != 0.5) as usize;
                                for c in 0..4 {
                                    let same = g[c].to_bits() == w[c].to_bits()
                                        || (g[c] - w[c]).abs() <= tol;
                                    assert!(same, "{what} at ({x}, {y}): {g:?} vs {w:?}");
                                }
                            }
                            assert!(changed > ob.area() / 4, "{what}: the output was written");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = Rng(3);
        let b = Rect::new(0, 0, 37, 29);
        let img = random_image(&mut rng, b);
        let norm = Normalisation {
            range: [-1.0, 1.0],
            mean: vec![0.1, 0.2, 0.3],
            std: vec![0.5, 0.6, 0.7],
        };
        for depth in [PixelDepth::Byte, PixelDepth::Float] {
            let (bytes, first, rb) = host_buffer(&img, depth, Components::Rgba, true);
            let view = ImageView::new(&bytes, first, rb, b, depth, Components::Rgba).unwrap();
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let spec = PackSpec {
                    layout,
                    channels: ChannelOrder::Bgr,
                    normalisation: &norm,
                    frame_colour: ColourSpace::Linear,
                    model_colour: ColourSpace::Srgb,
                    clamp: false,
                };
                let size = (40, 32);
                let mut reference = Vec::new();
                pack_view(&view, b, size, &spec, 1, &mut reference).unwrap();
                let t = random_tensor(&mut rng, reference.len());
                let unpack = UnpackSpec {
                    tensor: &t,
                    residual: None,
                    layout,
                    channels: ChannelOrder::Bgr,
                    normalisation: &norm,
                    model_colour: ColourSpace::Srgb,
                    frame_colour: ColourSpace::Linear,
                    apply: Apply::Change,
                    input_colour: ColourSpace::Srgb,
                };
                let blank = FloatImage::new(b);
                let (mut out1, of, orb) = host_buffer(&blank, depth, Components::Rgba, false);
                let mut v =
                    ImageViewMut::new(&mut out1, of, orb, b, depth, Components::Rgba).unwrap();
                unpack_to_view(&unpack, &view, b, size, b, &mut v, 1).unwrap();
                for threads in [2, 3, 4, 7, 64] {
                    let mut got = Vec::new();
                    pack_view(&view, b, size, &spec, threads, &mut got).unwrap();
                    let same = got
                        .iter()
                        .zip(&reference)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same && got.len() == reference.len(),
                        "{depth:?} {layout:?} pack, {threads} threads"
                    );
                    let (mut out, _, _) = host_buffer(&blank, depth, Components::Rgba, false);
                    let mut v =
                        ImageViewMut::new(&mut out, of, orb, b, depth, Components::Rgba).unwrap();
                    unpack_to_view(&unpack, &view, b, size, b, &mut v, threads).unwrap();
                    assert!(
                        out == out1,
                        "{depth:?} {layout:?} unpack, {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let b = Rect::new(0, 0, 4, 4);
        let img = FloatImage::new(b);
        let (bytes, first, rb) = host_buffer(&img, PixelDepth::Float, Components::Rgba, false);
        let view =
            ImageView::new(&bytes, first, rb, b, PixelDepth::Float, Components::Rgba).unwrap();
        let norm = Normalisation::identity();
        let spec = PackSpec {
            layout: Layout::Nchw,
            channels: ChannelOrder::Rgb,
            normalisation: &norm,
            frame_colour: ColourSpace::Linear,
            model_colour: ColourSpace::Linear,
            clamp: false,
        };
        let mut out = Vec::new();
        assert!(pack_view(&view, b, (3, 4), &spec, 1, &mut out).is_err());
        assert!(pack_view(&view, Rect::EMPTY, (4, 4), &spec, 1, &mut out).is_err());
        let t = vec![0.0; 3 * 16 - 1];
        let unpack = UnpackSpec {
            tensor: &t,
            residual: None,
            layout: Layout::Nchw,
            channels: ChannelOrder::Rgb,
            normalisation: &norm,
            model_colour: ColourSpace::Linear,
            frame_colour: ColourSpace::Linear,
            apply: Apply::Replace,
            input_colour: ColourSpace::Linear,
        };
        let mut obytes = bytes.clone();
        let mut ov = ImageViewMut::new(
            &mut obytes,
            first,
            rb,
            b,
            PixelDepth::Float,
            Components::Rgba,
        )
        .unwrap();
        let e = unpack_to_view(&unpack, &view, b, (4, 4), b, &mut ov, 1).unwrap_err();
        assert!(e.message().contains("47 values"), "{e}");
        assert_eq!(obytes, bytes, "nothing written");
    }
}
