//! Colour encodings: the exact sRGB transfer curves (IEC 61966-2-1), conversion of a working
//! image between scene-linear and sRGB, and sanitising of non-finite values.
//!
//! The curves are extended beyond [0,1] so HDR frames survive a round trip: above 1 the power
//! segment simply continues, and negative values mirror the positive curve
//! (`f(-x) = -f(x)`), as in scRGB / extended sRGB.

use crate::image::FloatImage;
use serde::{Deserialize, Serialize};

/// How pixel values are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourSpace {
    /// Scene-linear light (no transfer curve).
    Linear,
    /// sRGB-encoded (IEC 61966-2-1 transfer curve, sRGB/Rec.709 primaries).
    Srgb,
}

impl ColourSpace {
    /// The manifest / parameter name: `linear` or `srgb`.
    pub const fn name(self) -> &'static str {
        match self {
            ColourSpace::Linear => "linear",
            ColourSpace::Srgb => "srgb",
        }
    }

    /// Parses `linear` or `srgb` (case-insensitive).
    pub fn parse(s: &str) -> Option<ColourSpace> {
        match s.to_ascii_lowercase().as_str() {
            "linear" => Some(ColourSpace::Linear),
            "srgb" => Some(ColourSpace::Srgb),
            _ => None,
        }
    }
}

/// Decodes an sRGB-encoded value to linear light (exact IEC 61966-2-1 curve, extended:
/// the power segment continues above 1; negative values mirror). NaN stays NaN.
#[inline]
pub fn srgb_to_linear(v: f32) -> f32 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    l.copysign(v)
}

/// Encodes a linear-light value to sRGB (exact IEC 61966-2-1 curve, extended:
/// the power segment continues above 1; negative values mirror). NaN stays NaN.
#[inline]
pub fn linear_to_srgb(v: f32) -> f32 {
    let a = v.abs();
    let s = if a <= 0.003_130_8 {
        a * 12.92
    } else {
        1.055 * a.powf(1.0 / 2.4) - 0.055
    };
    s.copysign(v)
}

/// Converts the RGB components of interleaved RGBA data from one space to another in place;
/// alpha is untouched. Converting a space to itself does nothing.
pub fn convert_rgba(data: &mut [f32], from: ColourSpace, to: ColourSpace) {
    let f: fn(f32) -> f32 = match (from, to) {
        (ColourSpace::Linear, ColourSpace::Srgb) => linear_to_srgb,
        (ColourSpace::Srgb, ColourSpace::Linear) => srgb_to_linear,
        _ => return,
    };
    for px in data.chunks_exact_mut(4) {
        px[0] = f(px[0]);
        px[1] = f(px[1]);
        px[2] = f(px[2]);
    }
}

/// Converts a working image's RGB from one space to another in place (alpha untouched).
pub fn convert_image(image: &mut FloatImage, from: ColourSpace, to: ColourSpace) {
    convert_rgba(&mut image.data, from, to);
}

/// Largest magnitude [`sanitize`] puts in place of an infinity: the largest finite half float,
/// so the value stays finite even in fp16 models, yet lies far above any real pixel value.
pub const SANITIZED_INFINITY: f32 = 65504.0;

/// Replaces non-finite values: NaN becomes 0, +inf becomes [`SANITIZED_INFINITY`], -inf
/// becomes `-SANITIZED_INFINITY`. Finite values are left exactly as they are.
/// Returns how many values were replaced.
pub fn sanitize(values: &mut [f32]) -> usize {
    let mut replaced = 0;
    for v in values.iter_mut() {
        if !v.is_finite() {
            *v = if v.is_nan() {
                0.0
            } else {
                SANITIZED_INFINITY.copysign(*v)
            };
            replaced += 1;
        }
    }
    replaced
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;

    fn rel_close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-3)
    }

    #[test]
    fn known_values() {
        assert_eq!(srgb_to_linear(0.0), 0.0);
        assert_eq!(linear_to_srgb(0.0), 0.0);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-6);
        assert!((linear_to_srgb(1.0) - 1.0).abs() < 1e-6);
        // 50% sRGB grey is 21.404% linear; 18% linear grey is 46.135% sRGB
        assert!((srgb_to_linear(0.5) - 0.214_041_14).abs() < 1e-6);
        assert!((linear_to_srgb(0.18) - 0.461_356_1).abs() < 1e-6);
        // 8-bit code values from published tables
        assert!((srgb_to_linear(128.0 / 255.0) - 0.215_860_5).abs() < 1e-6);
        assert!((srgb_to_linear(10.0 / 255.0) - 0.003_035_27).abs() < 1e-7);
        // linear segment
        assert!((srgb_to_linear(0.04) - 0.04 / 12.92).abs() < 1e-9);
        assert!((linear_to_srgb(0.003) - 0.003 * 12.92).abs() < 1e-9);
        // the two segments meet (the standard's curve is continuous to ~1e-7 there)
        assert!((srgb_to_linear(0.040_45) - srgb_to_linear(0.040_450_1)).abs() < 1e-6);
        assert!((linear_to_srgb(0.003_130_8) - linear_to_srgb(0.003_130_81)).abs() < 1e-6);
    }

    #[test]
    fn extended_range_and_mirror() {
        // above 1 the power segment continues
        let l = srgb_to_linear(2.0);
        assert!(
            rel_close(l, ((2.0f64 + 0.055) / 1.055).powf(2.4) as f32, 1e-6),
            "{l}"
        );
        assert!(linear_to_srgb(16.0) > 2.5);
        for v in [0.001f32, 0.02, 0.3, 0.9, 1.5, 7.0, 100.0] {
            assert_eq!(srgb_to_linear(-v), -srgb_to_linear(v));
            assert_eq!(linear_to_srgb(-v), -linear_to_srgb(v));
        }
        assert!(srgb_to_linear(f32::NAN).is_nan());
        assert_eq!(linear_to_srgb(f32::INFINITY), f32::INFINITY);
        assert_eq!(srgb_to_linear(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn round_trips_and_monotonic() {
        let mut prev_l = f32::NEG_INFINITY;
        let mut prev_s = f32::NEG_INFINITY;
        for i in -2000..=20000 {
            let v = i as f32 / 1000.0; // -2 .. 20
            let l = srgb_to_linear(v);
            let s = linear_to_srgb(v);
            assert!(rel_close(linear_to_srgb(l), v, 2e-6), "{v}");
            assert!(rel_close(srgb_to_linear(s), v, 4e-6), "{v}");
            assert!(l >= prev_l && s >= prev_s, "monotonic at {v}");
            prev_l = l;
            prev_s = s;
        }
        // every 8-bit code survives decode -> encode -> quantise
        for c in 0..=255u32 {
            let v = c as f32 / 255.0;
            assert_eq!(
                (linear_to_srgb(srgb_to_linear(v)) * 255.0).round() as u32,
                c
            );
        }
    }

    #[test]
    fn image_conversion_leaves_alpha() {
        let b = Rect::new(0, 0, 3, 2);
        let mut img = FloatImage::from_fn(b, |x, y| [x as f32 * 0.4, y as f32 * 0.7, 1.5, 0.25]);
        let orig = img.clone();
        convert_image(&mut img, ColourSpace::Srgb, ColourSpace::Linear);
        for (x, y) in b.pixels() {
            let p = img.pixel(x, y);
            let o = orig.pixel(x, y);
            assert_eq!(p[3], 0.25);
            for c in 0..3 {
                assert_eq!(p[c], srgb_to_linear(o[c]));
            }
        }
        convert_image(&mut img, ColourSpace::Linear, ColourSpace::Linear);
        convert_image(&mut img, ColourSpace::Linear, ColourSpace::Srgb);
        assert!(img.max_abs_diff(&orig) < 1e-5);
    }

    #[test]
    fn names_and_serde() {
        assert_eq!(ColourSpace::parse("sRGB"), Some(ColourSpace::Srgb));
        assert_eq!(ColourSpace::parse("linear"), Some(ColourSpace::Linear));
        assert_eq!(ColourSpace::parse("auto"), None);
        assert_eq!(ColourSpace::Srgb.name(), "srgb");
        let c: ColourSpace = serde_json::from_str("\"srgb\"").unwrap();
        assert_eq!(c, ColourSpace::Srgb);
        let c: ColourSpace = serde_json::from_str("\"linear\"").unwrap();
        assert_eq!(c, ColourSpace::Linear);
        assert!(serde_json::from_str::<ColourSpace>("\"Linear\"").is_err());
    }

    #[test]
    fn sanitize_counts_and_replaces() {
        let mut v = [
            1.0,
            f32::NAN,
            f32::INFINITY,
            -2.5,
            f32::NEG_INFINITY,
            f32::MAX,
            -0.0,
        ];
        assert_eq!(sanitize(&mut v), 3);
        assert_eq!(v[..6], [1.0, 0.0, 65504.0, -2.5, -65504.0, f32::MAX]);
        assert_eq!(v[6].to_bits(), (-0.0f32).to_bits());
        assert_eq!(sanitize(&mut v), 0);
    }
}
