//! Packing working images into model tensors and unpacking model outputs back.
//!
//! A tensor holds one image region as `[1, C, H, W]` (NCHW) or `[1, H, W, C]` (NHWC), rows
//! top-down: tensor row `r` is image row `y = region.y2 - 1 - r`. Channels are taken from the
//! RGBA pixel in the manifest's order (`rgb`, `bgr`, `rgba`, `alpha`).
//!
//! Values are mapped per tensor channel `c`: a pixel value `v` (nominally 0..1) becomes
//! `range.0 + v * (range.1 - range.0)`, then `(x - mean[c]) / std[c]`. Unpacking is the exact
//! inverse. `mean` and `std` are indexed by tensor channel (so for `bgr`, `mean[0]` is blue's);
//! an empty list means 0 (mean) or 1 (std), a single value applies to every channel.

use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;
use serde::{Deserialize, Serialize};

/// Memory order of a 4-D image tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[1, C, H, W]`: one plane per channel.
    Nchw,
    /// `[1, H, W, C]`: channels interleaved.
    Nhwc,
}

/// Which pixel components form the tensor's channels, in tensor order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
    Rgba,
    Alpha,
}

impl ChannelOrder {
    /// Number of tensor channels.
    pub const fn count(self) -> usize {
        self.sources().len()
    }

    /// For each tensor channel, the RGBA component index it comes from.
    pub const fn sources(self) -> &'static [usize] {
        match self {
            ChannelOrder::Rgb => &[0, 1, 2],
            ChannelOrder::Bgr => &[2, 1, 0],
            ChannelOrder::Rgba => &[0, 1, 2, 3],
            ChannelOrder::Alpha => &[3],
        }
    }

    /// The manifest name.
    pub const fn name(self) -> &'static str {
        match self {
            ChannelOrder::Rgb => "rgb",
            ChannelOrder::Bgr => "bgr",
            ChannelOrder::Rgba => "rgba",
            ChannelOrder::Alpha => "alpha",
        }
    }
}

fn default_range() -> [f32; 2] {
    [0.0, 1.0]
}

/// Value mapping between pixel values and tensor values (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalisation {
    /// The tensor value range pixel 0..1 maps to; default `[0, 1]`.
    #[serde(default = "default_range")]
    pub range: [f32; 2],
    /// Per tensor channel, subtracted after the range mapping; empty = 0, one value = all channels.
    #[serde(default)]
    pub mean: Vec<f32>,
    /// Per tensor channel, divided by after the mean; empty = 1, one value = all channels.
    #[serde(default)]
    pub std: Vec<f32>,
}

impl Default for Normalisation {
    fn default() -> Self {
        Normalisation::identity()
    }
}

impl Normalisation {
    /// Pixel values go in unchanged: range `[0, 1]`, no mean, no std.
    pub fn identity() -> Self {
        Normalisation {
            range: [0.0, 1.0],
            mean: Vec::new(),
            std: Vec::new(),
        }
    }

    /// Checks the mapping can be inverted for a tensor of `channels` channels: finite numbers,
    /// a non-empty range, non-zero std, and mean/std lists of length 0, 1 or `channels`.
    pub fn validate(&self, channels: usize) -> Result<()> {
        if !self.range.iter().all(|v| v.is_finite()) || self.range[0] == self.range[1] {
            return Err(Error::new(format!(
                "value range [{}, {}] must be two different finite numbers",
                self.range[0], self.range[1]
            )));
        }
        for (what, list) in [("mean", &self.mean), ("std", &self.std)] {
            if !(list.is_empty() || list.len() == 1 || list.len() == channels) {
                return Err(Error::new(format!(
                    "{what} has {} values but the tensor has {channels} channels (give 1 or {channels})",
                    list.len()
                )));
            }
            if !list.iter().all(|v| v.is_finite()) {
                return Err(Error::new(format!(
                    "{what} values must be finite numbers: {list:?}"
                )));
            }
        }
        if self.std.contains(&0.0) {
            return Err(Error::new(format!(
                "std must not contain 0: {:?}",
                self.std
            )));
        }
        Ok(())
    }

    fn mean_of(&self, c: usize) -> f32 {
        pick(&self.mean, c, 0.0)
    }

    fn std_of(&self, c: usize) -> f32 {
        pick(&self.std, c, 1.0)
    }

    /// `(scale, offset)` per tensor channel for pixel -> tensor: `t = v * scale + offset`.
    pub(crate) fn forward(&self, channels: usize) -> Vec<(f32, f32)> {
        let [r0, r1] = self.range;
        (0..channels)
            .map(|c| {
                let (m, s) = (self.mean_of(c), self.std_of(c));
                if m == 0.0 && s == 1.0 {
                    (r1 - r0, r0)
                } else {
                    ((r1 - r0) / s, (r0 - m) / s)
                }
            })
            .collect()
    }

    /// `(scale, offset)` per tensor channel for tensor -> pixel: `v = t * scale + offset`.
    pub(crate) fn inverse(&self, channels: usize) -> Vec<(f32, f32)> {
        let [r0, r1] = self.range;
        (0..channels)
            .map(|c| {
                let (m, s) = (self.mean_of(c), self.std_of(c));
                let w = r1 - r0;
                if m == 0.0 && s == 1.0 && w == 1.0 {
                    (1.0, -r0)
                } else {
                    (s / w, (m - r0) / w)
                }
            })
            .collect()
    }
}

fn pick(list: &[f32], c: usize, default: f32) -> f32 {
    match list.len() {
        0 => default,
        1 => list[0],
        _ => list[c],
    }
}

/// The shape of a tensor holding a `width` x `height` region.
pub fn tensor_shape(layout: Layout, order: ChannelOrder, width: u32, height: u32) -> [usize; 4] {
    let (c, h, w) = (order.count(), height as usize, width as usize);
    match layout {
        Layout::Nchw => [1, c, h, w],
        Layout::Nhwc => [1, h, w, c],
    }
}

/// How unpacking an `alpha` tensor writes the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AlphaUnpack {
    /// Only the A component is written; RGB is left as it was.
    #[default]
    AlphaOnly,
    /// The value goes to all four components (a grey matte with matching alpha).
    AllChannels,
}

fn check_region(image: &FloatImage, region: Rect) -> Result<()> {
    if region.is_empty() || !image.bounds.contains_rect(&region) {
        return Err(Error::new(format!(
            "tensor region {region:?} must be a non-empty part of the image {:?}",
            image.bounds
        )));
    }
    Ok(())
}

/// Packs `region` of `image` into a new tensor (see the module docs for the mapping).
pub fn pack(
    image: &FloatImage,
    region: Rect,
    layout: Layout,
    order: ChannelOrder,
    norm: &Normalisation,
) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    pack_into(image, region, layout, order, norm, &mut out)?;
    Ok(out)
}

/// Like [`pack`], reusing `out`'s allocation (it is cleared and resized).
pub fn pack_into(
    image: &FloatImage,
    region: Rect,
    layout: Layout,
    order: ChannelOrder,
    norm: &Normalisation,
    out: &mut Vec<f32>,
) -> Result<()> {
    check_region(image, region)?;
    let chans = order.count();
    norm.validate(chans)?;
    let map = norm.forward(chans);
    let src = order.sources();
    let (w, h) = (region.width() as usize, region.height() as usize);
    out.clear();
    out.resize(chans * w * h, 0.0);
    let x0 = 4 * (region.x1 - image.bounds.x1) as usize;
    for r in 0..h {
        let y = region.y2 - 1 - r as i32;
        let row = &image.row(y)[x0..x0 + 4 * w];
        match layout {
            Layout::Nchw => {
                for (c, (&s, &(a, b))) in src.iter().zip(&map).enumerate() {
                    let dst = &mut out[(c * h + r) * w..(c * h + r + 1) * w];
                    for (d, px) in dst.iter_mut().zip(row.chunks_exact(4)) {
                        *d = px[s] * a + b;
                    }
                }
            }
            Layout::Nhwc => {
                let dst = &mut out[r * w * chans..(r + 1) * w * chans];
                for (d, px) in dst.chunks_exact_mut(chans).zip(row.chunks_exact(4)) {
                    for ((dc, &s), &(a, b)) in d.iter_mut().zip(src).zip(&map) {
                        *dc = px[s] * a + b;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Unpacks a tensor (as produced by [`pack`] with the same arguments) into `region` of `image`,
/// inverting the value mapping. `rgb`/`bgr` write RGB and leave A; `rgba` writes all four;
/// `alpha` writes according to `alpha`.
#[allow(clippy::too_many_arguments)]
pub fn unpack(
    tensor: &[f32],
    layout: Layout,
    order: ChannelOrder,
    norm: &Normalisation,
    alpha: AlphaUnpack,
    image: &mut FloatImage,
    region: Rect,
) -> Result<()> {
    check_region(image, region)?;
    let chans = order.count();
    norm.validate(chans)?;
    let (w, h) = (region.width() as usize, region.height() as usize);
    if tensor.len() != chans * w * h {
        return Err(Error::new(format!(
            "model output holds {} values but a {}x{} {} image needs {}",
            tensor.len(),
            w,
            h,
            order.name(),
            chans * w * h
        )));
    }
    let map = norm.inverse(chans);
    let src = order.sources();
    let broadcast = order == ChannelOrder::Alpha && alpha == AlphaUnpack::AllChannels;
    let x0 = 4 * (region.x1 - image.bounds.x1) as usize;
    for r in 0..h {
        let y = region.y2 - 1 - r as i32;
        let row = &mut image.row_mut(y)[x0..x0 + 4 * w];
        match layout {
            Layout::Nchw => {
                for (c, (&s, &(a, b))) in src.iter().zip(&map).enumerate() {
                    let plane = &tensor[(c * h + r) * w..(c * h + r + 1) * w];
                    if broadcast {
                        for (px, &t) in row.chunks_exact_mut(4).zip(plane) {
                            px.fill(t * a + b);
                        }
                    } else {
                        for (px, &t) in row.chunks_exact_mut(4).zip(plane) {
                            px[s] = t * a + b;
                        }
                    }
                }
            }
            Layout::Nhwc => {
                let line = &tensor[r * w * chans..(r + 1) * w * chans];
                for (px, t) in row.chunks_exact_mut(4).zip(line.chunks_exact(chans)) {
                    if broadcast {
                        let (a, b) = map[0];
                        px.fill(t[0] * a + b);
                    } else {
                        for ((&tc, &s), &(a, b)) in t.iter().zip(src).zip(&map) {
                            px[s] = tc * a + b;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::Rng;

    fn test_image(b: Rect) -> FloatImage {
        // every component distinct: r = x, g = y, b = 100 + x*y, a = -x
        FloatImage::from_fn(b, |x, y| {
            [x as f32, y as f32, 100.0 + (x * y) as f32, -(x as f32)]
        })
    }

    #[test]
    fn shapes() {
        assert_eq!(
            tensor_shape(Layout::Nchw, ChannelOrder::Rgb, 5, 3),
            [1, 3, 3, 5]
        );
        assert_eq!(
            tensor_shape(Layout::Nhwc, ChannelOrder::Alpha, 5, 3),
            [1, 3, 5, 1]
        );
        assert_eq!(ChannelOrder::Rgba.count(), 4);
        assert_eq!(ChannelOrder::Bgr.count(), 3);
    }

    #[test]
    fn nchw_index_and_flip() {
        let b = Rect::new(10, 20, 14, 23); // 4 x 3
        let img = test_image(b);
        let t = pack(
            &img,
            b,
            Layout::Nchw,
            ChannelOrder::Rgb,
            &Normalisation::identity(),
        )
        .unwrap();
        let (w, h) = (4usize, 3usize);
        for c in 0..3 {
            for r in 0..h {
                for x in 0..w {
                    let (ix, iy) = (10 + x as i32, 22 - r as i32);
                    assert_eq!(
                        t[(c * h + r) * w + x],
                        img.pixel(ix, iy)[c],
                        "c{c} r{r} x{x}"
                    );
                }
            }
        }
        // the first tensor row is the top image row
        assert_eq!(t[0], 10.0);
        assert_eq!(t[h * w], 22.0);
    }

    #[test]
    fn nhwc_and_channel_orders() {
        let b = Rect::new(-2, -1, 1, 2); // 3 x 3
        let img = test_image(b);
        let id = Normalisation::identity();
        for order in [
            ChannelOrder::Rgb,
            ChannelOrder::Bgr,
            ChannelOrder::Rgba,
            ChannelOrder::Alpha,
        ] {
            let n = pack(&img, b, Layout::Nhwc, order, &id).unwrap();
            let c = pack(&img, b, Layout::Nchw, order, &id).unwrap();
            let ch = order.count();
            for r in 0..3usize {
                for x in 0..3usize {
                    let px = img.pixel(-2 + x as i32, 1 - r as i32);
                    for k in 0..ch {
                        let want = px[order.sources()[k]];
                        assert_eq!(n[(r * 3 + x) * ch + k], want, "{order:?}");
                        assert_eq!(c[(k * 3 + r) * 3 + x], want, "{order:?}");
                    }
                }
            }
        }
        let bgr = pack(&img, b, Layout::Nhwc, ChannelOrder::Bgr, &id).unwrap();
        let p = img.pixel(-2, 1);
        assert_eq!(&bgr[..3], &[p[2], p[1], p[0]]);
    }

    #[test]
    fn normalisation_values() {
        let b = Rect::new(0, 0, 1, 1);
        let img = FloatImage::filled(b, [0.0, 0.5, 1.0, 0.25]);
        let norm = Normalisation {
            range: [-1.0, 1.0],
            mean: vec![],
            std: vec![],
        };
        assert_eq!(
            pack(&img, b, Layout::Nchw, ChannelOrder::Rgb, &norm).unwrap(),
            vec![-1.0, 0.0, 1.0]
        );
        let norm = Normalisation {
            range: [0.0, 255.0],
            mean: vec![],
            std: vec![],
        };
        assert_eq!(
            pack(&img, b, Layout::Nchw, ChannelOrder::Rgba, &norm).unwrap(),
            vec![0.0, 127.5, 255.0, 63.75]
        );
        let imagenet = Normalisation {
            range: [0.0, 1.0],
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        };
        let t = pack(&img, b, Layout::Nchw, ChannelOrder::Rgb, &imagenet).unwrap();
        let want = [
            (0.0 - 0.485) / 0.229,
            (0.5 - 0.456) / 0.224,
            (1.0 - 0.406) / 0.225,
        ];
        for (a, w) in t.iter().zip(want) {
            assert!((a - w).abs() < 1e-6, "{a} vs {w}");
        }
        // mean/std follow the tensor channel order: for bgr, mean[0] applies to blue
        let t = pack(&img, b, Layout::Nchw, ChannelOrder::Bgr, &imagenet).unwrap();
        assert!((t[0] - (1.0 - 0.485) / 0.229).abs() < 1e-6);
        // single values broadcast
        let one = Normalisation {
            range: [0.0, 1.0],
            mean: vec![0.5],
            std: vec![0.5],
        };
        assert_eq!(
            pack(&img, b, Layout::Nhwc, ChannelOrder::Rgb, &one).unwrap(),
            vec![-1.0, 0.0, 1.0]
        );
    }

    #[test]
    fn validation_errors() {
        let b = Rect::new(0, 0, 2, 2);
        let img = FloatImage::new(b);
        let bad =
            |n: Normalisation| pack(&img, b, Layout::Nchw, ChannelOrder::Rgb, &n).unwrap_err();
        assert!(
            bad(Normalisation {
                range: [1.0, 1.0],
                ..Default::default()
            })
            .message()
            .contains("range")
        );
        assert!(
            bad(Normalisation {
                mean: vec![0.0; 2],
                ..Default::default()
            })
            .message()
            .contains("mean has 2")
        );
        assert!(
            bad(Normalisation {
                std: vec![1.0, 0.0, 1.0],
                ..Default::default()
            })
            .message()
            .contains("std")
        );
        assert!(
            bad(Normalisation {
                std: vec![f32::NAN],
                ..Default::default()
            })
            .message()
            .contains("finite")
        );
        let id = Normalisation::identity();
        assert!(
            pack(
                &img,
                Rect::new(0, 0, 3, 2),
                Layout::Nchw,
                ChannelOrder::Rgb,
                &id
            )
            .is_err()
        );
        assert!(pack(&img, Rect::EMPTY, Layout::Nchw, ChannelOrder::Rgb, &id).is_err());
        let mut out = img.clone();
        let e = unpack(
            &[0.0; 11],
            Layout::Nchw,
            ChannelOrder::Rgb,
            &id,
            AlphaUnpack::AlphaOnly,
            &mut out,
            b,
        )
        .unwrap_err();
        assert!(e.message().contains("11 values"), "{e}");
    }

    #[test]
    fn unpack_inverts_pack_for_every_layout_order_and_normalisation() {
        let mut rng = Rng(99);
        let b = Rect::new(3, -4, 10, 1);
        let img = FloatImage::from_fn(b, |_, _| [rng.unit(), rng.unit(), rng.unit(), rng.unit()]);
        let region = Rect::new(4, -3, 9, 1);
        let norms = [
            Normalisation::identity(),
            Normalisation {
                range: [-1.0, 1.0],
                mean: vec![],
                std: vec![],
            },
            Normalisation {
                range: [0.0, 255.0],
                mean: vec![123.7, 116.3, 103.5, 50.0],
                std: vec![58.4, 57.1, 57.4, 10.0],
            },
            Normalisation {
                range: [1.0, 0.0],
                mean: vec![0.25],
                std: vec![2.0],
            },
        ];
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for order in [
                ChannelOrder::Rgb,
                ChannelOrder::Bgr,
                ChannelOrder::Rgba,
                ChannelOrder::Alpha,
            ] {
                for norm in &norms {
                    let mut norm = norm.clone();
                    for l in [&mut norm.mean, &mut norm.std] {
                        if l.len() > 1 {
                            l.truncate(order.count());
                        }
                    }
                    let t = pack(&img, region, layout, order, &norm).unwrap();
                    assert_eq!(t.len(), order.count() * 5 * 4);
                    let mut out = FloatImage::filled(b, [9.0; 4]);
                    unpack(
                        &t,
                        layout,
                        order,
                        &norm,
                        AlphaUnpack::AlphaOnly,
                        &mut out,
                        region,
                    )
                    .unwrap();
                    for (x, y) in b.pixels() {
                        let got = out.pixel(x, y);
                        let src = img.pixel(x, y);
                        for k in 0..4 {
                            let written = region.contains(x, y) && order.sources().contains(&k);
                            if written {
                                assert!(
                                    (got[k] - src[k]).abs() < 2e-6,
                                    "{layout:?} {order:?} {norm:?}: {got:?} vs {src:?}"
                                );
                            } else {
                                assert_eq!(got[k], 9.0, "{layout:?} {order:?} untouched component");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn identity_round_trip_is_bit_exact() {
        let mut rng = Rng(7);
        let b = Rect::new(0, 0, 6, 5);
        let img = FloatImage::from_fn(b, |_, _| {
            [rng.unit() * 4.0 - 1.0, rng.unit(), rng.unit(), rng.unit()]
        });
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let t = pack(
                &img,
                b,
                layout,
                ChannelOrder::Rgba,
                &Normalisation::identity(),
            )
            .unwrap();
            let mut out = FloatImage::new(b);
            unpack(
                &t,
                layout,
                ChannelOrder::Rgba,
                &Normalisation::identity(),
                AlphaUnpack::AlphaOnly,
                &mut out,
                b,
            )
            .unwrap();
            assert_eq!(out, img);
        }
    }

    #[test]
    fn alpha_unpack_modes() {
        let b = Rect::new(0, 0, 2, 1);
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let mut img = FloatImage::filled(b, [0.1, 0.2, 0.3, 0.4]);
            let id = Normalisation::identity();
            unpack(
                &[0.5, 0.75],
                layout,
                ChannelOrder::Alpha,
                &id,
                AlphaUnpack::AlphaOnly,
                &mut img,
                b,
            )
            .unwrap();
            assert_eq!(img.pixel(0, 0), [0.1, 0.2, 0.3, 0.5]);
            assert_eq!(img.pixel(1, 0), [0.1, 0.2, 0.3, 0.75]);
            unpack(
                &[0.5, 0.75],
                layout,
                ChannelOrder::Alpha,
                &id,
                AlphaUnpack::AllChannels,
                &mut img,
                b,
            )
            .unwrap();
            assert_eq!(img.pixel(0, 0), [0.5; 4]);
            assert_eq!(img.pixel(1, 0), [0.75; 4]);
        }
    }

    #[test]
    fn serde_names() {
        let l: Layout = serde_json::from_str("\"nhwc\"").unwrap();
        assert_eq!(l, Layout::Nhwc);
        let c: ChannelOrder = serde_json::from_str("\"bgr\"").unwrap();
        assert_eq!(c, ChannelOrder::Bgr);
        assert!(serde_json::from_str::<ChannelOrder>("\"BGR\"").is_err());
        let n: Normalisation = serde_json::from_str(r#"{"range": [-1, 1], "std": [0.5]}"#).unwrap();
        assert_eq!(
            n,
            Normalisation {
                range: [-1.0, 1.0],
                mean: vec![],
                std: vec![0.5]
            }
        );
        let n: Normalisation = serde_json::from_str("{}").unwrap();
        assert_eq!(n, Normalisation::identity());
    }
}
