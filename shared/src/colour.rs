//! Colour encodings: the sRGB transfer curves (IEC 61966-2-1) for f32 pixels (fast, within
//! f32 rounding of the exact curve) and in f64 (the reference), lookup tables decoding byte and
//! short pixel codes straight into either encoding, conversion of a working image between
//! scene-linear and sRGB, and sanitising of non-finite values.
//!
//! The curves are extended beyond [0,1] so HDR frames survive a round trip: above 1 the power
//! segment simply continues, and negative values mirror the positive curve
//! (`f(-x) = -f(x)`), as in scRGB / extended sRGB.

use crate::image::FloatImage;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

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

/// Decodes an sRGB-encoded value to linear light (IEC 61966-2-1 curve, extended: the power
/// segment continues above 1; negative values mirror). NaN stays NaN, infinities stay.
///
/// Below 64 the power segment is evaluated from a table of cubic polynomials (see
/// [`CurveTable`]): within 3e-8 of the exact curve on [0, 1], the rounding of f32 itself,
/// and 1e-7 relative above (the `fast_curves_match_exact` test sweeps both). Larger values
/// use `powf` in f64.
#[inline]
pub fn srgb_to_linear(v: f32) -> f32 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else if a < CurveTable::END {
        CurveTable::srgb_to_linear().eval(a)
    } else if a.is_finite() {
        ((a as f64 + 0.055) / 1.055).powf(2.4) as f32
    } else {
        a
    };
    l.copysign(v)
}

/// Encodes a linear-light value to sRGB (IEC 61966-2-1 curve, extended: the power segment
/// continues above 1; negative values mirror). NaN stays NaN, infinities stay. Accuracy as
/// [`srgb_to_linear`].
#[inline]
pub fn linear_to_srgb(v: f32) -> f32 {
    let a = v.abs();
    let s = if a <= 0.003_130_8 {
        a * 12.92
    } else if a < CurveTable::END {
        CurveTable::linear_to_srgb().eval(a)
    } else if a.is_finite() {
        (1.055 * (a as f64).powf(1.0 / 2.4) - 0.055) as f32
    } else {
        a
    };
    s.copysign(v)
}

/// The power segment `k (a + b)^p + c` of a transfer curve as cubic polynomials over
/// [2^-9, 64): 32 segments per octave, selected by the f32's exponent and top 5 mantissa
/// bits, each the Taylor cubic at its segment's centre, in f64. The remainder is below 3e-9
/// relative, so results are the exact curve rounded to f32 (give or take one rounding). No
/// `powf` call per pixel: about twice as fast, and the 15 KB table stays in cache.
pub struct CurveTable {
    coefficients: Box<[[f64; 4]]>,
}

impl CurveTable {
    /// log2 of the segment width relative to the octave is 5: 23 - 5 mantissa bits drop.
    const SHIFT: u32 = 18;
    /// Segment index of 2^-9 (biased exponent 118).
    const FIRST: usize = (118usize << 23) >> Self::SHIFT;
    /// Segment index of 64 (biased exponent 133), the end of the table.
    const LAST: usize = (133usize << 23) >> Self::SHIFT;
    /// Values from here on are computed with `powf`.
    pub const END: f32 = 64.0;

    fn new(k: f64, b: f64, p: f64, c: f64) -> CurveTable {
        let coefficients = (Self::FIRST..Self::LAST)
            .map(|i| {
                let mid = f32::from_bits(((i as u32) << Self::SHIFT) | (1 << (Self::SHIFT - 1)));
                let x = mid as f64 + b;
                [
                    k * x.powf(p) + c,
                    k * p * x.powf(p - 1.0),
                    k * p * (p - 1.0) / 2.0 * x.powf(p - 2.0),
                    k * p * (p - 1.0) * (p - 2.0) / 6.0 * x.powf(p - 3.0),
                ]
            })
            .collect();
        CurveTable { coefficients }
    }

    /// `((a + 0.055) / 1.055)^2.4`.
    pub fn srgb_to_linear() -> &'static CurveTable {
        static TABLE: OnceLock<CurveTable> = OnceLock::new();
        TABLE.get_or_init(|| CurveTable::new(1.055f64.powf(-2.4), 0.055, 2.4, 0.0))
    }

    /// `1.055 a^(1/2.4) - 0.055`.
    pub fn linear_to_srgb() -> &'static CurveTable {
        static TABLE: OnceLock<CurveTable> = OnceLock::new();
        TABLE.get_or_init(|| CurveTable::new(1.055, 0.0, 1.0 / 2.4, -0.055))
    }

    /// The curve at `a`, which must lie in [2^-9, 64) (panics on an index outside the table).
    #[inline(always)]
    pub fn eval(&self, a: f32) -> f32 {
        let bits = a.to_bits();
        let c = &self.coefficients[(bits >> Self::SHIFT) as usize - Self::FIRST];
        let mid = f32::from_bits((bits & !((1 << Self::SHIFT) - 1)) | (1 << (Self::SHIFT - 1)));
        // Exact: a and mid share a binade.
        let d = (a - mid) as f64;
        (c[0] + d * (c[1] + d * (c[2] + d * c[3]))) as f32
    }
}

/// The sRGB decoding curve in f64 with the standard library's `powf` (the reference the fast
/// curves and the lookup tables are checked against).
pub fn srgb_to_linear_exact(v: f64) -> f64 {
    let a = v.abs();
    let l = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    l.copysign(v)
}

/// The sRGB encoding curve in f64 with the standard library's `powf`.
pub fn linear_to_srgb_exact(v: f64) -> f64 {
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

/// The curve taking `from` to `to` in f64 (identity when they are the same).
fn exact_curve(from: ColourSpace, to: ColourSpace) -> fn(f64) -> f64 {
    match (from, to) {
        (ColourSpace::Linear, ColourSpace::Srgb) => linear_to_srgb_exact,
        (ColourSpace::Srgb, ColourSpace::Linear) => srgb_to_linear_exact,
        _ => |v| v,
    }
}

/// A table of `max + 1` entries: entry `i` is pixel code `i` (meaning `i / max`) in `to`.
/// The identity table holds `i as f32 / max as f32` exactly as the plain decoder computes it;
/// the others the exact f64 curve of `i / max`, rounded once to f32.
fn build_table(max: u32, from: ColourSpace, to: ColourSpace) -> Box<[f32]> {
    let curve = exact_curve(from, to);
    (0..=max)
        .map(|i| {
            if from == to {
                i as f32 / max as f32
            } else {
                curve(i as f64 / max as f64) as f32
            }
        })
        .collect()
}

/// Index of a (from, to) pair among the three distinct conversions.
fn table_index(from: ColourSpace, to: ColourSpace) -> usize {
    match (from, to) {
        (ColourSpace::Linear, ColourSpace::Srgb) => 1,
        (ColourSpace::Srgb, ColourSpace::Linear) => 2,
        _ => 0,
    }
}

/// Byte pixel codes (0..=255) decoded straight into `to` from a frame encoded in `from`:
/// 256 entries, built once (see [`build_table`] for the exact values).
pub fn byte_table(from: ColourSpace, to: ColourSpace) -> &'static [f32] {
    static TABLES: [OnceLock<Box<[f32]>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    TABLES[table_index(from, to)].get_or_init(|| build_table(255, from, to))
}

/// Short pixel codes (0..=65535) decoded straight into `to` from a frame encoded in `from`:
/// 65536 entries, built once on first use (a few milliseconds).
pub fn short_table(from: ColourSpace, to: ColourSpace) -> &'static [f32] {
    static TABLES: [OnceLock<Box<[f32]>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    TABLES[table_index(from, to)].get_or_init(|| build_table(65535, from, to))
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
            *v = sanitize_value(*v);
            replaced += 1;
        }
    }
    replaced
}

/// One value as [`sanitize`] leaves it.
#[inline(always)]
pub fn sanitize_value(v: f32) -> f32 {
    if v.is_finite() {
        v
    } else if v.is_nan() {
        0.0
    } else {
        SANITIZED_INFINITY.copysign(v)
    }
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
    fn fast_curves_match_exact() {
        // A dense sweep of [0, 1] (every 2^-22, which crosses every table segment many times),
        // then values above 1 up to and beyond the table's end.
        let steps = 1 << 22;
        for i in 0..=steps {
            let v = i as f32 / steps as f32;
            let l = srgb_to_linear_exact(v as f64);
            let s = linear_to_srgb_exact(v as f64);
            assert!(
                (srgb_to_linear(v) as f64 - l).abs() <= 2e-7,
                "srgb_to_linear({v})"
            );
            assert!(
                (linear_to_srgb(v) as f64 - s).abs() <= 2e-7,
                "linear_to_srgb({v})"
            );
        }
        for i in 0..200_000 {
            let v = 1.0 + i as f32 * 0.000_7 * (1.0 + i as f32 * 0.001); // 1 .. ~28000
            let l = srgb_to_linear_exact(v as f64);
            let s = linear_to_srgb_exact(v as f64);
            assert!(
                ((srgb_to_linear(v) as f64 - l) / l).abs() <= 2e-7,
                "srgb_to_linear({v})"
            );
            assert!(
                ((linear_to_srgb(v) as f64 - s) / s).abs() <= 2e-7,
                "linear_to_srgb({v})"
            );
        }
        // Either side of the table's end and of every octave boundary inside it.
        for e in -9..=7 {
            let edge = 2f32.powi(e);
            for v in [edge, edge.next_down(), edge.next_up()] {
                let l = srgb_to_linear_exact(v as f64);
                let s = linear_to_srgb_exact(v as f64);
                assert!(((srgb_to_linear(v) as f64 - l) / l).abs() <= 2e-7, "{v}");
                assert!(((linear_to_srgb(v) as f64 - s) / s).abs() <= 2e-7, "{v}");
            }
        }
        assert_eq!(srgb_to_linear(f32::MAX), f32::INFINITY);
        assert!(linear_to_srgb(f32::MAX).is_finite());
    }

    #[test]
    fn lookup_tables_are_exact() {
        use ColourSpace::{Linear, Srgb};
        for (from, to) in [
            (Linear, Linear),
            (Srgb, Srgb),
            (Srgb, Linear),
            (Linear, Srgb),
        ] {
            let curve = exact_curve(from, to);
            let bytes = byte_table(from, to);
            let shorts = short_table(from, to);
            assert_eq!((bytes.len(), shorts.len()), (256, 65536));
            for (i, &v) in bytes.iter().enumerate() {
                let want = if from == to {
                    i as f32 / 255.0
                } else {
                    curve(i as f64 / 255.0) as f32
                };
                assert_eq!(v.to_bits(), want.to_bits(), "byte {i} {from:?}->{to:?}");
            }
            for (i, &v) in shorts.iter().enumerate() {
                let want = if from == to {
                    i as f32 / 65535.0
                } else {
                    curve(i as f64 / 65535.0) as f32
                };
                assert_eq!(v.to_bits(), want.to_bits(), "short {i} {from:?}->{to:?}");
                // and within the float curves' accuracy of converting the decoded value
                let fast = match (from, to) {
                    (Srgb, Linear) => srgb_to_linear(i as f32 / 65535.0),
                    (Linear, Srgb) => linear_to_srgb(i as f32 / 65535.0),
                    _ => i as f32 / 65535.0,
                };
                assert!((fast - v).abs() <= 2e-7, "short {i}: {fast} vs {v}");
            }
        }
        assert_eq!(byte_table(Srgb, Linear)[255], 1.0);
        assert_eq!(short_table(Linear, Srgb)[0], 0.0);
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
