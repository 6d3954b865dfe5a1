//! Views over host image buffers (borrowed bytes, any stride, any depth) and the RGBA float
//! working image the pipeline computes on.
//!
//! Conventions (OFX): pixel `(x, y)` with y up; row `y` of an image with bounds `(x1, y1, x2, y2)`
//! starts at `first_row_offset + (y - y1) * row_bytes` in the borrowed slice, where `row_bytes`
//! may be negative (top-down buffers) or larger than the packed row (padding). Components are
//! interleaved in RGBA order (or RGB, or a single alpha), in native byte order.
//!
//! Reading maps byte/short to [0,1] (`v / 255`, `v / 65535`); half and float are read as is.
//! Writing byte/short clamps to [0,1], then rounds to nearest, ties to even (NaN becomes 0);
//! half converts with round-to-nearest-even (values beyond ±65504 become ±inf, NaN stays NaN);
//! float stores the value unchanged, NaN and inf included. The pipeline sanitises non-finite
//! values before they reach a model (see `colour::sanitize`); writing never alters what it is
//! given beyond what the depth forces.
//!
//! Conversions are row-wise: the depth and component layout are matched once per row and the
//! inner loops are monomorphised, so a 1920x1080 frame converts in a few milliseconds (release).

use crate::colour::{self, ColourSpace};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use half::f16;
use half::slice::HalfFloatSliceExt;

/// Storage type of one pixel component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelDepth {
    /// u8, 0..255 maps to 0..1.
    Byte,
    /// u16, 0..65535 maps to 0..1.
    Short,
    /// IEEE 754 binary16.
    Half,
    /// IEEE 754 binary32.
    Float,
}

impl PixelDepth {
    /// Bytes one component takes.
    pub const fn bytes_per_component(self) -> usize {
        match self {
            PixelDepth::Byte => 1,
            PixelDepth::Short | PixelDepth::Half => 2,
            PixelDepth::Float => 4,
        }
    }

    /// The OFX name (`byte`, `short`, `half`, `float`).
    pub const fn name(self) -> &'static str {
        match self {
            PixelDepth::Byte => "byte",
            PixelDepth::Short => "short",
            PixelDepth::Half => "half",
            PixelDepth::Float => "float",
        }
    }
}

/// Which components a pixel has, interleaved in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Components {
    Rgba,
    Rgb,
    Alpha,
}

impl Components {
    /// Number of components per pixel.
    pub const fn count(self) -> usize {
        match self {
            Components::Rgba => 4,
            Components::Rgb => 3,
            Components::Alpha => 1,
        }
    }
}

/// Validated memory layout shared by [`ImageView`] and [`ImageViewMut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    first_row_offset: usize,
    row_bytes: isize,
    bounds: Rect,
    depth: PixelDepth,
    components: Components,
}

impl Layout {
    fn new(
        len: usize,
        first_row_offset: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Layout> {
        let layout = Layout {
            first_row_offset,
            row_bytes,
            bounds,
            depth,
            components,
        };
        let bpc = depth.bytes_per_component();
        let describe = || {
            format!(
                "image {}x{} at ({}, {}), {} {:?}, row bytes {}, first row at byte {}, buffer {} bytes",
                bounds.width(),
                bounds.height(),
                bounds.x1,
                bounds.y1,
                depth.name(),
                components,
                row_bytes,
                first_row_offset,
                len
            )
        };
        if bounds.is_empty() {
            return Ok(layout);
        }
        if !row_bytes.unsigned_abs().is_multiple_of(bpc) || !first_row_offset.is_multiple_of(bpc) {
            return Err(Error::new(format!(
                "image rows are not aligned to the {}-byte pixel components: {}",
                bpc,
                describe()
            )));
        }
        let row_len = layout.row_len();
        let height = bounds.height() as i128;
        if height > 1 && (row_bytes.unsigned_abs() as u128) < row_len as u128 {
            return Err(Error::new(format!(
                "image rows overlap: row bytes {} is smaller than a row of {} bytes: {}",
                row_bytes,
                row_len,
                describe()
            )));
        }
        let first = first_row_offset as i128;
        let last = first + (height - 1) * row_bytes as i128;
        let (lo, hi) = (first.min(last), first.max(last));
        if lo < 0 || hi + row_len as i128 > len as i128 {
            return Err(Error::new(format!(
                "image rows do not fit in the buffer (rows span bytes {}..{}): {}",
                lo,
                hi + row_len as i128,
                describe()
            )));
        }
        Ok(layout)
    }

    fn pixel_bytes(&self) -> usize {
        self.depth.bytes_per_component() * self.components.count()
    }

    fn row_len(&self) -> usize {
        self.bounds.width() as usize * self.pixel_bytes()
    }

    /// Byte range of the pixels `x1..x2` of row `y` (caller ensures they are inside the bounds).
    fn span(&self, y: i32, x1: i32, x2: i32) -> std::ops::Range<usize> {
        debug_assert!(y >= self.bounds.y1 && y < self.bounds.y2);
        debug_assert!(x1 >= self.bounds.x1 && x2 <= self.bounds.x2 && x1 <= x2);
        let row = self.first_row_offset as isize + (y - self.bounds.y1) as isize * self.row_bytes;
        let pb = self.pixel_bytes();
        let start = row as usize + (x1 - self.bounds.x1) as usize * pb;
        start..start + (x2 - x1) as usize * pb
    }
}

/// A read-only view over a borrowed image buffer.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a> {
    bytes: &'a [u8],
    layout: Layout,
}

impl<'a> ImageView<'a> {
    /// A view over `bytes`; row `y1` starts at `first_row_offset`, row `y` at
    /// `first_row_offset + (y - y1) * row_bytes`.
    ///
    /// Fails with a clear message if any row would lie outside `bytes`, if rows overlap
    /// (`|row_bytes|` smaller than a packed row), or if offsets are not multiples of the
    /// component size.
    pub fn new(
        bytes: &'a [u8],
        first_row_offset: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let layout = Layout::new(
            bytes.len(),
            first_row_offset,
            row_bytes,
            bounds,
            depth,
            components,
        )?;
        Ok(ImageView { bytes, layout })
    }

    /// Pixel bounds.
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    /// Component depth.
    pub fn depth(&self) -> PixelDepth {
        self.layout.depth
    }
    /// Component layout.
    pub fn components(&self) -> Components {
        self.layout.components
    }
    /// Signed distance in bytes from row `y` to row `y + 1`.
    pub fn row_bytes(&self) -> isize {
        self.layout.row_bytes
    }

    /// The raw bytes of row `y` (only the pixels, no padding). Panics if `y` is outside the bounds.
    pub fn row(&self, y: i32) -> &'a [u8] {
        assert!(
            y >= self.layout.bounds.y1 && y < self.layout.bounds.y2,
            "row {y} outside the image"
        );
        &self.bytes[self
            .layout
            .span(y, self.layout.bounds.x1, self.layout.bounds.x2)]
    }

    /// Pixel `(x, y)` as RGBA in float. Alpha-only images give `[a, a, a, a]`, RGB images
    /// `[r, g, b, 1]`. Outside the bounds: transparent black `[0, 0, 0, 0]`.
    pub fn pixel_rgba(&self, x: i32, y: i32) -> [f32; 4] {
        if !self.layout.bounds.contains(x, y) {
            return [0.0; 4];
        }
        let mut out = [0.0f32; 4];
        let src = &self.bytes[self.layout.span(y, x, x + 1)];
        decode_row(self.layout.depth, self.layout.components, src, &mut out);
        out
    }

    /// Decodes pixels `x1..x2` of row `y` into `out` as RGBA (4 floats per pixel, `out.len()`
    /// must be `4 * (x2 - x1)`). The span must lie inside the bounds.
    pub fn read_row_rgba(&self, y: i32, x1: i32, x2: i32, out: &mut [f32]) {
        let b = self.layout.bounds;
        assert!(
            y >= b.y1 && y < b.y2 && x1 >= b.x1 && x2 <= b.x2 && x1 <= x2,
            "row span ({x1}..{x2}, {y}) outside the image bounds {b:?}"
        );
        assert_eq!(out.len(), 4 * (x2 - x1) as usize, "output row length");
        let src = &self.bytes[self.layout.span(y, x1, x2)];
        decode_row(self.layout.depth, self.layout.components, src, out);
    }
}

impl ImageView<'_> {
    /// Like [`ImageView::read_row_rgba`], then sanitised and converted from the frame's colour
    /// encoding `from` to `to` (RGB only; alpha is read as is): the one step that turns host
    /// pixels into model-space values. Byte and short pixels go through the exact lookup tables
    /// of [`colour::byte_table`] / [`colour::short_table`]; half and float pixels are decoded,
    /// non-finite values replaced ([`colour::sanitize`]) and converted with
    /// [`colour::convert_rgba`].
    pub fn read_row_rgba_as(
        &self,
        y: i32,
        x1: i32,
        x2: i32,
        out: &mut [f32],
        from: ColourSpace,
        to: ColourSpace,
    ) {
        let b = self.layout.bounds;
        assert!(
            y >= b.y1 && y < b.y2 && x1 >= b.x1 && x2 <= b.x2 && x1 <= x2,
            "row span ({x1}..{x2}, {y}) outside the image bounds {b:?}"
        );
        assert_eq!(out.len(), 4 * (x2 - x1) as usize, "output row length");
        let src = &self.bytes[self.layout.span(y, x1, x2)];
        let comps = self.layout.components;
        match self.layout.depth {
            PixelDepth::Byte => {
                let colour = colour::byte_table(from, to);
                decode_with_tables(
                    comps,
                    src.as_chunks::<1>().0,
                    out,
                    |b| b[0] as usize,
                    colour,
                    &U8_TO_F32,
                );
            }
            PixelDepth::Short => {
                let colour = colour::short_table(from, to);
                let plain = colour::short_table(from, from);
                decode_with_tables(
                    comps,
                    src.as_chunks::<2>().0,
                    out,
                    |b| u16::from_ne_bytes(*b) as usize,
                    colour,
                    plain,
                );
            }
            PixelDepth::Half | PixelDepth::Float => {
                decode_row(self.layout.depth, comps, src, out);
                colour::sanitize(out);
                colour::convert_rgba(out, from, to);
            }
        }
    }
}

/// Like [`decode_with`] for integer codes: RGB through `colour`, alpha through `plain`.
#[inline(always)]
fn decode_with_tables<T>(
    comps: Components,
    cells: &[T],
    dst: &mut [f32],
    code: impl Fn(&T) -> usize,
    colour: &[f32],
    plain: &[f32],
) {
    match comps {
        Components::Rgba => {
            for (s, d) in cells.chunks_exact(4).zip(dst.chunks_exact_mut(4)) {
                d[0] = colour[code(&s[0])];
                d[1] = colour[code(&s[1])];
                d[2] = colour[code(&s[2])];
                d[3] = plain[code(&s[3])];
            }
        }
        Components::Rgb => {
            for (s, d) in cells.chunks_exact(3).zip(dst.chunks_exact_mut(4)) {
                d[0] = colour[code(&s[0])];
                d[1] = colour[code(&s[1])];
                d[2] = colour[code(&s[2])];
                d[3] = 1.0;
            }
        }
        Components::Alpha => {
            // [a, a, a, a]: the RGB copies are colour values like any other.
            for (s, d) in cells.iter().zip(dst.chunks_exact_mut(4)) {
                let c = code(s);
                let (v, a) = (colour[c], plain[c]);
                d.copy_from_slice(&[v, v, v, a]);
            }
        }
    }
}

/// One writable row span of an [`ImageViewMut`], from [`ImageViewMut::rows_mut`]. Rows are
/// disjoint, so they can be written from different threads.
#[derive(Debug)]
pub struct RowMut<'a> {
    y: i32,
    bytes: &'a mut [u8],
    depth: PixelDepth,
    components: Components,
}

impl RowMut<'_> {
    /// The row's y.
    pub fn y(&self) -> i32 {
        self.y
    }

    /// The row's raw bytes (its pixels in the image's depth and components), for copies that
    /// must be bit for bit.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.bytes
    }

    /// Encodes RGBA floats (4 per pixel, the span's width) into the row, like
    /// [`ImageViewMut::write_row_rgba`].
    pub fn write_rgba(&mut self, rgba: &[f32]) {
        let pixels =
            self.bytes.len() / (self.depth.bytes_per_component() * self.components.count());
        assert_eq!(rgba.len(), 4 * pixels, "input row length");
        encode_row(self.depth, self.components, rgba, self.bytes);
    }
}

/// A writable view over a borrowed image buffer (same layout rules as [`ImageView`]).
#[derive(Debug)]
pub struct ImageViewMut<'a> {
    bytes: &'a mut [u8],
    layout: Layout,
}

impl<'a> ImageViewMut<'a> {
    /// A writable view; see [`ImageView::new`] for the layout and what is checked.
    pub fn new(
        bytes: &'a mut [u8],
        first_row_offset: usize,
        row_bytes: isize,
        bounds: Rect,
        depth: PixelDepth,
        components: Components,
    ) -> Result<Self> {
        let layout = Layout::new(
            bytes.len(),
            first_row_offset,
            row_bytes,
            bounds,
            depth,
            components,
        )?;
        Ok(ImageViewMut { bytes, layout })
    }

    /// Pixel bounds.
    pub fn bounds(&self) -> Rect {
        self.layout.bounds
    }
    /// Component depth.
    pub fn depth(&self) -> PixelDepth {
        self.layout.depth
    }
    /// Component layout.
    pub fn components(&self) -> Components {
        self.layout.components
    }
    /// Signed distance in bytes from row `y` to row `y + 1`.
    pub fn row_bytes(&self) -> isize {
        self.layout.row_bytes
    }

    /// A read-only view of the same pixels.
    pub fn as_view(&self) -> ImageView<'_> {
        ImageView {
            bytes: self.bytes,
            layout: self.layout,
        }
    }

    /// Pixel `(x, y)` as RGBA (see [`ImageView::pixel_rgba`]).
    pub fn pixel_rgba(&self, x: i32, y: i32) -> [f32; 4] {
        self.as_view().pixel_rgba(x, y)
    }

    /// Writes pixel `(x, y)`; RGB images take `rgba[0..3]`, alpha-only images `rgba[3]`.
    /// Byte/short values are clamped to [0,1] and rounded; pixels outside the bounds are ignored.
    pub fn set_rgba(&mut self, x: i32, y: i32, rgba: [f32; 4]) {
        if !self.layout.bounds.contains(x, y) {
            return;
        }
        let span = self.layout.span(y, x, x + 1);
        encode_row(
            self.layout.depth,
            self.layout.components,
            &rgba,
            &mut self.bytes[span],
        );
    }

    /// Encodes RGBA floats (4 per pixel) into pixels `x1..x2` of row `y`. The span must lie
    /// inside the bounds and `rgba.len()` must be `4 * (x2 - x1)`.
    pub fn write_row_rgba(&mut self, y: i32, x1: i32, x2: i32, rgba: &[f32]) {
        let b = self.layout.bounds;
        assert!(
            y >= b.y1 && y < b.y2 && x1 >= b.x1 && x2 <= b.x2 && x1 <= x2,
            "row span ({x1}..{x2}, {y}) outside the image bounds {b:?}"
        );
        assert_eq!(rgba.len(), 4 * (x2 - x1) as usize, "input row length");
        let span = self.layout.span(y, x1, x2);
        encode_row(
            self.layout.depth,
            self.layout.components,
            rgba,
            &mut self.bytes[span],
        );
    }

    /// The rows of `rect ∩ bounds`, each over that rectangle's x span, as separate writable
    /// rows in ascending y (an empty list when they do not overlap).
    pub fn rows_mut(&mut self, rect: Rect) -> Vec<RowMut<'_>> {
        let r = rect.intersect(&self.layout.bounds);
        if r.is_empty() {
            return Vec::new();
        }
        let layout = self.layout;
        let mut spans: Vec<(i32, std::ops::Range<usize>)> = (r.y1..r.y2)
            .map(|y| (y, layout.span(y, r.x1, r.x2)))
            .collect();
        spans.sort_by_key(|(_, s)| s.start);
        let mut rows = Vec::with_capacity(spans.len());
        let mut rest: &mut [u8] = self.bytes;
        let mut consumed = 0;
        for (y, span) in spans {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(span.start - consumed);
            let (row, tail) = tail.split_at_mut(span.len());
            consumed = span.end;
            rest = tail;
            rows.push(RowMut {
                y,
                bytes: row,
                depth: layout.depth,
                components: layout.components,
            });
        }
        rows.sort_by_key(|row| row.y);
        rows
    }

    /// Sets every pixel of `rect ∩ bounds` to `rgba`.
    pub fn fill(&mut self, rect: Rect, rgba: [f32; 4]) {
        let r = rect.intersect(&self.layout.bounds);
        if r.is_empty() {
            return;
        }
        let row: Vec<f32> = rgba
            .iter()
            .copied()
            .cycle()
            .take(4 * r.width() as usize)
            .collect();
        for y in r.y1..r.y2 {
            self.write_row_rgba(y, r.x1, r.x2, &row);
        }
    }
}

const fn u8_table() -> [f32; 256] {
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as f32 / 255.0;
        i += 1;
    }
    t
}

static U8_TO_F32: [f32; 256] = u8_table();

/// Decodes packed pixels into RGBA floats (`dst.len() == 4 * pixels`).
fn decode_row(depth: PixelDepth, comps: Components, src: &[u8], dst: &mut [f32]) {
    match depth {
        PixelDepth::Byte => decode_with(comps, src.as_chunks::<1>().0, dst, |b| {
            U8_TO_F32[b[0] as usize]
        }),
        PixelDepth::Short => decode_with(comps, src.as_chunks::<2>().0, dst, |b| {
            u16::from_ne_bytes(*b) as f32 / 65535.0
        }),
        PixelDepth::Half => decode_half(comps, src, dst),
        PixelDepth::Float => decode_with(comps, src.as_chunks::<4>().0, dst, |b| {
            f32::from_ne_bytes(*b)
        }),
    }
}

/// Pixels converted per batch by the half-float paths (the `half` crate's slice conversions
/// use the CPU's F16C instructions when present).
const HALF_BATCH: usize = 64;

fn decode_half(comps: Components, src: &[u8], dst: &mut [f32]) {
    let n = comps.count();
    let mut h = [f16::ZERO; 4 * HALF_BATCH];
    let mut f = [0.0f32; 4 * HALF_BATCH];
    for (s, d) in src
        .chunks(2 * n * HALF_BATCH)
        .zip(dst.chunks_mut(4 * HALF_BATCH))
    {
        let k = s.len() / 2;
        for (hv, b) in h[..k].iter_mut().zip(s.as_chunks::<2>().0) {
            *hv = f16::from_ne_bytes(*b);
        }
        h[..k].convert_to_f32_slice(&mut f[..k]);
        decode_with(comps, &f[..k], d, |v| *v);
    }
}

/// Spreads component cells (`comps.count()` per pixel) into RGBA floats.
#[inline(always)]
fn decode_with<T>(comps: Components, cells: &[T], dst: &mut [f32], read: impl Fn(&T) -> f32) {
    match comps {
        Components::Rgba => {
            for (s, d) in cells.chunks_exact(4).zip(dst.chunks_exact_mut(4)) {
                d[0] = read(&s[0]);
                d[1] = read(&s[1]);
                d[2] = read(&s[2]);
                d[3] = read(&s[3]);
            }
        }
        Components::Rgb => {
            for (s, d) in cells.chunks_exact(3).zip(dst.chunks_exact_mut(4)) {
                d[0] = read(&s[0]);
                d[1] = read(&s[1]);
                d[2] = read(&s[2]);
                d[3] = 1.0;
            }
        }
        Components::Alpha => {
            for (s, d) in cells.iter().zip(dst.chunks_exact_mut(4)) {
                let a = read(s);
                d.copy_from_slice(&[a, a, a, a]);
            }
        }
    }
}

/// Clamps to [0,1] (NaN to 0), scales to `max` (at most 65535) and rounds to nearest, ties to
/// even, returning the integer.
#[inline(always)]
#[allow(clippy::manual_clamp)] // clamp() would keep NaN; max() turns it into 0
fn unorm(v: f32, max: f32) -> u32 {
    // Adding 2^23 rounds a value in [0, 2^23) to an integer (ties to even) that then sits in
    // the low mantissa bits: plain SIMD arithmetic, no rounding call, no saturating cast.
    // `max(0.0)` also maps NaN to 0.
    const MAGIC: f32 = 8_388_608.0;
    (v.max(0.0).min(1.0) * max + MAGIC).to_bits() & 0xFFFF
}

/// Encodes RGBA floats (4 per pixel) into packed pixels.
fn encode_row(depth: PixelDepth, comps: Components, src: &[f32], dst: &mut [u8]) {
    match depth {
        PixelDepth::Byte => encode_with(comps, src, dst.as_chunks_mut::<1>().0, |v| {
            [unorm(v, 255.0) as u8]
        }),
        PixelDepth::Short => encode_with(comps, src, dst.as_chunks_mut::<2>().0, |v| {
            (unorm(v, 65535.0) as u16).to_ne_bytes()
        }),
        PixelDepth::Half => encode_half(comps, src, dst),
        PixelDepth::Float => {
            encode_with(comps, src, dst.as_chunks_mut::<4>().0, |v| v.to_ne_bytes())
        }
    }
}

fn encode_half(comps: Components, src: &[f32], dst: &mut [u8]) {
    let n = comps.count();
    let mut h = [f16::ZERO; 4 * HALF_BATCH];
    let mut f = [0.0f32; 4 * HALF_BATCH];
    for (s, d) in src
        .chunks(4 * HALF_BATCH)
        .zip(dst.chunks_mut(2 * n * HALF_BATCH))
    {
        let k = d.len() / 2;
        encode_with(comps, s, &mut f[..k], |v| v);
        h[..k].convert_from_f32_slice(&f[..k]);
        for (b, hv) in d.as_chunks_mut::<2>().0.iter_mut().zip(&h[..k]) {
            *b = hv.to_ne_bytes();
        }
    }
}

/// Gathers RGBA floats into component cells (`comps.count()` per pixel).
#[inline(always)]
fn encode_with<T>(comps: Components, src: &[f32], cells: &mut [T], write: impl Fn(f32) -> T) {
    match comps {
        Components::Rgba => {
            for (s, d) in src.chunks_exact(4).zip(cells.chunks_exact_mut(4)) {
                d[0] = write(s[0]);
                d[1] = write(s[1]);
                d[2] = write(s[2]);
                d[3] = write(s[3]);
            }
        }
        Components::Rgb => {
            for (s, d) in src.chunks_exact(4).zip(cells.chunks_exact_mut(3)) {
                d[0] = write(s[0]);
                d[1] = write(s[1]);
                d[2] = write(s[2]);
            }
        }
        Components::Alpha => {
            for (s, d) in src.chunks_exact(4).zip(cells.iter_mut()) {
                *d = write(s[3]);
            }
        }
    }
}

/// The working image: RGBA float, interleaved, rows bottom-up (y up) like OFX.
///
/// Pixel `(x, y)` lives at `data[4 * ((y - y1) * width + (x - x1)) ..][..4]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatImage {
    pub bounds: Rect,
    pub data: Vec<f32>,
}

impl FloatImage {
    /// A transparent black image over `bounds` (empty bounds give an empty image). Zeroed
    /// memory straight from the allocator: cheaper than filling.
    pub fn new(bounds: Rect) -> FloatImage {
        let bounds = if bounds.is_empty() {
            Rect::EMPTY
        } else {
            bounds
        };
        FloatImage {
            bounds,
            data: vec![0.0; 4 * bounds.area()],
        }
    }

    /// An image over `bounds` with every pixel set to `rgba`.
    pub fn filled(bounds: Rect, rgba: [f32; 4]) -> FloatImage {
        let bounds = if bounds.is_empty() {
            Rect::EMPTY
        } else {
            bounds
        };
        let data = rgba
            .iter()
            .copied()
            .cycle()
            .take(4 * bounds.area())
            .collect();
        FloatImage { bounds, data }
    }

    /// An image over `bounds` whose pixel `(x, y)` is `f(x, y)`.
    pub fn from_fn(bounds: Rect, mut f: impl FnMut(i32, i32) -> [f32; 4]) -> FloatImage {
        let bounds = if bounds.is_empty() {
            Rect::EMPTY
        } else {
            bounds
        };
        let mut data = Vec::with_capacity(4 * bounds.area());
        for (x, y) in bounds.pixels() {
            data.extend_from_slice(&f(x, y));
        }
        FloatImage { bounds, data }
    }

    /// Wraps existing RGBA data; fails if its length does not match the bounds.
    pub fn from_data(bounds: Rect, data: Vec<f32>) -> Result<FloatImage> {
        let bounds = if bounds.is_empty() {
            Rect::EMPTY
        } else {
            bounds
        };
        if data.len() != 4 * bounds.area() {
            return Err(Error::new(format!(
                "image data holds {} floats but a {}x{} RGBA image needs {}",
                data.len(),
                bounds.width(),
                bounds.height(),
                4 * bounds.area()
            )));
        }
        Ok(FloatImage { bounds, data })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.bounds.width()
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.bounds.height()
    }

    /// Index of pixel `(x, y)`'s red component in `data`. Panics outside the bounds.
    pub fn index(&self, x: i32, y: i32) -> usize {
        assert!(
            self.bounds.contains(x, y),
            "pixel ({x}, {y}) outside {:?}",
            self.bounds
        );
        4 * ((y - self.bounds.y1) as usize * self.width() as usize + (x - self.bounds.x1) as usize)
    }

    /// Pixel `(x, y)`; panics outside the bounds.
    pub fn pixel(&self, x: i32, y: i32) -> [f32; 4] {
        let i = self.index(x, y);
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }

    /// Pixel `(x, y)` with the coordinates clamped into the bounds (edge replication).
    /// Panics if the image is empty.
    pub fn pixel_clamped(&self, x: i32, y: i32) -> [f32; 4] {
        let b = self.bounds;
        assert!(!b.is_empty(), "empty image has no pixels");
        self.pixel(x.clamp(b.x1, b.x2 - 1), y.clamp(b.y1, b.y2 - 1))
    }

    /// Sets pixel `(x, y)`; panics outside the bounds.
    pub fn set_pixel(&mut self, x: i32, y: i32, rgba: [f32; 4]) {
        let i = self.index(x, y);
        self.data[i..i + 4].copy_from_slice(&rgba);
    }

    /// Row `y` (4 floats per pixel); panics outside the bounds.
    pub fn row(&self, y: i32) -> &[f32] {
        assert!(
            y >= self.bounds.y1 && y < self.bounds.y2,
            "row {y} outside {:?}",
            self.bounds
        );
        let w = 4 * self.width() as usize;
        let start = (y - self.bounds.y1) as usize * w;
        &self.data[start..start + w]
    }

    /// Row `y`, writable; panics outside the bounds.
    pub fn row_mut(&mut self, y: i32) -> &mut [f32] {
        assert!(
            y >= self.bounds.y1 && y < self.bounds.y2,
            "row {y} outside {:?}",
            self.bounds
        );
        let w = 4 * self.width() as usize;
        let start = (y - self.bounds.y1) as usize * w;
        &mut self.data[start..start + w]
    }

    /// Reads `region` of `view` into a new image; pixels outside the view's bounds repeat the
    /// nearest edge pixel. A view with empty bounds gives transparent black.
    pub fn from_view(view: &ImageView, region: Rect) -> FloatImage {
        let mut img = FloatImage::new(region);
        img.read_from_view(view);
        img
    }

    /// Fills this image (over its own bounds) from `view`, like [`FloatImage::from_view`],
    /// reusing the allocation.
    pub fn read_from_view(&mut self, view: &ImageView) {
        let region = self.bounds;
        let vb = view.bounds();
        if region.is_empty() {
            return;
        }
        if vb.is_empty() {
            self.data.fill(0.0);
            return;
        }
        let w = region.width() as usize;
        let ox1 = region.x1.max(vb.x1);
        let ox2 = region.x2.min(vb.x2);
        for y in region.y1..region.y2 {
            let sy = y.clamp(vb.y1, vb.y2 - 1);
            let row = self.row_mut(y);
            if ox1 < ox2 {
                let a = (ox1 - region.x1) as usize;
                let b = (ox2 - region.x1) as usize;
                view.read_row_rgba(sy, ox1, ox2, &mut row[4 * a..4 * b]);
                let left: [f32; 4] = row[4 * a..4 * a + 4].try_into().unwrap();
                for px in row[..4 * a].chunks_exact_mut(4) {
                    px.copy_from_slice(&left);
                }
                let right: [f32; 4] = row[4 * b - 4..4 * b].try_into().unwrap();
                for px in row[4 * b..].chunks_exact_mut(4) {
                    px.copy_from_slice(&right);
                }
            } else {
                let sx = region.x1.clamp(vb.x1, vb.x2 - 1);
                let px = view.pixel_rgba(sx, sy);
                for d in row[..4 * w].chunks_exact_mut(4) {
                    d.copy_from_slice(&px);
                }
            }
        }
    }

    /// Writes the pixels of `window ∩ output.bounds` to `output`. Pixels of that area outside
    /// this image's bounds are written transparent black, so the whole window is defined.
    pub fn write_to(&self, output: &mut ImageViewMut, window: Rect) {
        let area = window.intersect(&output.bounds());
        if area.is_empty() {
            return;
        }
        let ours = area.intersect(&self.bounds);
        let zeros = if ours != area {
            vec![0.0f32; 4 * area.width() as usize]
        } else {
            Vec::new()
        };
        for y in area.y1..area.y2 {
            if ours.is_empty() || y < ours.y1 || y >= ours.y2 {
                output.write_row_rgba(y, area.x1, area.x2, &zeros);
                continue;
            }
            if area.x1 < ours.x1 {
                output.write_row_rgba(
                    y,
                    area.x1,
                    ours.x1,
                    &zeros[..4 * (ours.x1 - area.x1) as usize],
                );
            }
            let row = self.row(y);
            let a = 4 * (ours.x1 - self.bounds.x1) as usize;
            let b = 4 * (ours.x2 - self.bounds.x1) as usize;
            output.write_row_rgba(y, ours.x1, ours.x2, &row[a..b]);
            if ours.x2 < area.x2 {
                output.write_row_rgba(
                    y,
                    ours.x2,
                    area.x2,
                    &zeros[..4 * (area.x2 - ours.x2) as usize],
                );
            }
        }
    }

    /// Largest absolute difference between two images' components over their common bounds
    /// (0 if they do not overlap). NaN differences count as infinite.
    pub fn max_abs_diff(&self, other: &FloatImage) -> f32 {
        let common = self.bounds.intersect(&other.bounds);
        let mut m = 0.0f32;
        for y in common.y1..common.y2 {
            let a = self.row(y);
            let b = other.row(y);
            let a = &a[4 * (common.x1 - self.bounds.x1) as usize
                ..4 * (common.x2 - self.bounds.x1) as usize];
            let b = &b[4 * (common.x1 - other.bounds.x1) as usize
                ..4 * (common.x2 - other.bounds.x1) as usize];
            for (p, q) in a.iter().zip(b) {
                let d = (p - q).abs();
                m = if d.is_nan() { f32::INFINITY } else { m.max(d) };
                if m.is_infinite() {
                    return m;
                }
            }
        }
        m
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Small deterministic generator for randomised tests (xorshift64*).
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// Uniform in [0, 1).
        pub fn unit(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
        }
        #[allow(dead_code)]
        pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
            lo + (self.next_u64() % (hi - lo) as u64) as i32
        }
    }

    const ALL_DEPTHS: [PixelDepth; 4] = [
        PixelDepth::Byte,
        PixelDepth::Short,
        PixelDepth::Half,
        PixelDepth::Float,
    ];
    const ALL_COMPS: [Components; 3] = [Components::Rgba, Components::Rgb, Components::Alpha];

    /// Allocates a buffer for `bounds` with `pad` bytes of padding per row, rows bottom-up or
    /// top-down (negative row bytes). Returns (buffer, first_row_offset, row_bytes).
    fn buffer(
        bounds: Rect,
        depth: PixelDepth,
        comps: Components,
        pad: usize,
        top_down: bool,
    ) -> (Vec<u8>, usize, isize) {
        let row = bounds.width() as usize * depth.bytes_per_component() * comps.count() + pad;
        let len = row * bounds.height() as usize;
        if top_down {
            (vec![0xAB; len], len - row, -(row as isize))
        } else {
            (vec![0xAB; len], 0, row as isize)
        }
    }

    fn quantise(depth: PixelDepth, v: f32) -> f32 {
        match depth {
            PixelDepth::Byte => (v.clamp(0.0, 1.0) * 255.0).round_ties_even() / 255.0,
            PixelDepth::Short => (v.clamp(0.0, 1.0) * 65535.0).round_ties_even() / 65535.0,
            PixelDepth::Half => f16::from_f32(v).to_f32(),
            PixelDepth::Float => v,
        }
    }

    fn expected(depth: PixelDepth, comps: Components, px: [f32; 4]) -> [f32; 4] {
        let q = px.map(|v| quantise(depth, v));
        match comps {
            Components::Rgba => q,
            Components::Rgb => [q[0], q[1], q[2], 1.0],
            Components::Alpha => [q[3]; 4],
        }
    }

    fn close(a: [f32; 4], b: [f32; 4]) -> bool {
        a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 1e-6)
    }

    #[test]
    fn sizes() {
        assert_eq!(PixelDepth::Byte.bytes_per_component(), 1);
        assert_eq!(PixelDepth::Short.bytes_per_component(), 2);
        assert_eq!(PixelDepth::Half.bytes_per_component(), 2);
        assert_eq!(PixelDepth::Float.bytes_per_component(), 4);
        assert_eq!(Components::Rgba.count(), 4);
        assert_eq!(Components::Rgb.count(), 3);
        assert_eq!(Components::Alpha.count(), 1);
    }

    #[test]
    fn every_depth_layout_and_stride_round_trips() {
        let bounds = Rect::new(-3, 5, 6, 11);
        let mut rng = Rng(0x1234_5678);
        for depth in ALL_DEPTHS {
            for comps in ALL_COMPS {
                for (pad, top_down) in [(0, false), (0, true), (12, false), (8, true)] {
                    let src = FloatImage::from_fn(bounds, |_, _| {
                        [rng.unit() * 1.2 - 0.1, rng.unit(), rng.unit(), rng.unit()]
                    });
                    let (mut buf, first, rb) = buffer(bounds, depth, comps, pad, top_down);
                    {
                        let mut out =
                            ImageViewMut::new(&mut buf, first, rb, bounds, depth, comps).unwrap();
                        src.write_to(&mut out, bounds);
                        // per-pixel read agrees with the row path
                        for (x, y) in bounds.pixels() {
                            let want = expected(depth, comps, src.pixel(x, y));
                            let got = out.pixel_rgba(x, y);
                            assert!(
                                close(got, want),
                                "{depth:?} {comps:?} pad {pad} td {top_down} ({x},{y}): {got:?} vs {want:?}"
                            );
                        }
                    }
                    let view = ImageView::new(&buf, first, rb, bounds, depth, comps).unwrap();
                    let back = FloatImage::from_view(&view, bounds);
                    for (x, y) in bounds.pixels() {
                        assert!(close(
                            back.pixel(x, y),
                            expected(depth, comps, src.pixel(x, y))
                        ));
                    }
                    // quantised values are a fixed point: writing them again gives identical bytes
                    let mut buf2 = buf.clone();
                    let mut out2 =
                        ImageViewMut::new(&mut buf2, first, rb, bounds, depth, comps).unwrap();
                    back.write_to(&mut out2, bounds);
                    assert_eq!(buf, buf2, "{depth:?} {comps:?}");
                    // padding bytes are never touched
                    if pad > 0 {
                        let row = buf.len() / bounds.height() as usize;
                        for r in 0..bounds.height() as usize {
                            assert!(
                                buf[r * row + row - pad..(r + 1) * row]
                                    .iter()
                                    .all(|&b| b == 0xAB)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn negative_stride_row_order() {
        // top-down buffer: the first row in memory is the top row y2 - 1
        let bounds = Rect::new(0, 0, 2, 3);
        let mut buf = vec![0u8; 2 * 3];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = i as u8 * 10;
        }
        let view =
            ImageView::new(&buf, 4, -2, bounds, PixelDepth::Byte, Components::Alpha).unwrap();
        assert_eq!(view.row(0), &[40, 50]);
        assert_eq!(view.row(2), &[0, 10]);
        assert_eq!(view.pixel_rgba(1, 2), [10.0 / 255.0; 4]);
        assert_eq!(view.row_bytes(), -2);
    }

    #[test]
    fn byte_and_short_exact_values() {
        let bounds = Rect::new(0, 0, 1, 1);
        let mut buf = [0u8, 128, 255, 7];
        let view = ImageView::new(&buf, 0, 4, bounds, PixelDepth::Byte, Components::Rgba).unwrap();
        assert_eq!(
            view.pixel_rgba(0, 0),
            [0.0, 128.0 / 255.0, 1.0, 7.0 / 255.0]
        );
        let mut out =
            ImageViewMut::new(&mut buf, 0, 4, bounds, PixelDepth::Byte, Components::Rgba).unwrap();
        out.set_rgba(0, 0, [-0.5, 1.7, f32::NAN, 0.5]);
        assert_eq!(buf, [0, 255, 0, 128]);
        let mut out =
            ImageViewMut::new(&mut buf, 0, 4, bounds, PixelDepth::Byte, Components::Rgba).unwrap();
        out.set_rgba(
            0,
            0,
            [
                0.5 / 255.0 - 1e-4,
                0.5 / 255.0 + 1e-4,
                f32::INFINITY,
                f32::NEG_INFINITY,
            ],
        );
        assert_eq!(buf, [0, 1, 255, 0]);

        let mut sbuf = vec![0u8; 8];
        let mut out =
            ImageViewMut::new(&mut sbuf, 0, 8, bounds, PixelDepth::Short, Components::Rgba)
                .unwrap();
        out.set_rgba(0, 0, [1.0, 0.0, 0.5, 2.0]);
        assert_eq!(out.pixel_rgba(0, 0), [1.0, 0.0, 32768.0 / 65535.0, 1.0]);
        assert_eq!(u16::from_ne_bytes([sbuf[4], sbuf[5]]), 32768);
    }

    #[test]
    fn integer_rounding_is_nearest_ties_even() {
        let mut rng = Rng(42);
        for i in 0..200_000 {
            let v = if i < 1000 {
                (i as f32 + 0.5) / 255.0
            } else {
                rng.unit() * 1.4 - 0.2
            };
            assert_eq!(
                unorm(v, 255.0) as f32,
                (v.clamp(0.0, 1.0) * 255.0).round_ties_even(),
                "{v}"
            );
            assert_eq!(
                unorm(v, 65535.0) as f32,
                (v.clamp(0.0, 1.0) * 65535.0).round_ties_even(),
                "{v}"
            );
        }
        assert_eq!(unorm(2.5 / 255.0, 255.0), 2);
        assert_eq!(unorm(1.0, 65535.0), 65535);
        assert_eq!(unorm(f32::NAN, 255.0), 0);
        assert_eq!(unorm(f32::INFINITY, 255.0), 255);
        assert_eq!(unorm(f32::NEG_INFINITY, 65535.0), 0);
    }

    #[test]
    fn half_batches_cover_long_rows() {
        // rows longer than one conversion batch, odd lengths, every layout
        for comps in ALL_COMPS {
            let b = Rect::new(0, 0, 3 * HALF_BATCH as i32 + 5, 2);
            let img = FloatImage::from_fn(b, |x, y| {
                [x as f32 * 0.25, y as f32, -(x as f32), 0.5 + x as f32]
            });
            let (mut buf, first, rb) = buffer(b, PixelDepth::Half, comps, 2, false);
            let mut out =
                ImageViewMut::new(&mut buf, first, rb, b, PixelDepth::Half, comps).unwrap();
            img.write_to(&mut out, b);
            let back = FloatImage::from_view(&out.as_view(), b);
            for (x, y) in b.pixels() {
                assert_eq!(
                    back.pixel(x, y),
                    expected(PixelDepth::Half, comps, img.pixel(x, y)),
                    "{comps:?} {x}"
                );
            }
        }
    }

    #[test]
    fn half_and_float_keep_out_of_range_values() {
        let bounds = Rect::new(0, 0, 1, 1);
        let mut hbuf = vec![0u8; 8];
        let mut out =
            ImageViewMut::new(&mut hbuf, 0, 8, bounds, PixelDepth::Half, Components::Rgba).unwrap();
        out.set_rgba(0, 0, [4.5, -2.25, 1e6, 0.1]);
        let p = out.pixel_rgba(0, 0);
        assert_eq!(&p[..2], &[4.5, -2.25]);
        assert!(p[2].is_infinite());
        assert_eq!(p[3], f16::from_f32(0.1).to_f32());
        let mut fbuf = vec![0u8; 16];
        let mut out = ImageViewMut::new(
            &mut fbuf,
            0,
            16,
            bounds,
            PixelDepth::Float,
            Components::Rgba,
        )
        .unwrap();
        out.set_rgba(0, 0, [12.5, -3.0, f32::INFINITY, 0.1]);
        assert_eq!(out.pixel_rgba(0, 0), [12.5, -3.0, f32::INFINITY, 0.1]);
        out.set_rgba(0, 0, [f32::NAN, 0.0, 0.0, 0.0]);
        assert!(
            out.pixel_rgba(0, 0)[0].is_nan(),
            "float stores NaN as given"
        );
    }

    #[test]
    fn rgb_and_alpha_semantics() {
        let bounds = Rect::new(0, 0, 1, 1);
        let mut buf = vec![0u8; 3];
        let mut out =
            ImageViewMut::new(&mut buf, 0, 3, bounds, PixelDepth::Byte, Components::Rgb).unwrap();
        out.set_rgba(0, 0, [1.0, 0.0, 1.0, 0.0]);
        assert_eq!(out.pixel_rgba(0, 0), [1.0, 0.0, 1.0, 1.0]);
        let mut abuf = vec![0u8; 4];
        let mut out = ImageViewMut::new(
            &mut abuf,
            0,
            4,
            bounds,
            PixelDepth::Float,
            Components::Alpha,
        )
        .unwrap();
        out.set_rgba(0, 0, [0.1, 0.2, 0.3, 0.75]);
        assert_eq!(out.pixel_rgba(0, 0), [0.75; 4]);
        // out-of-bounds reads are transparent black, writes are ignored
        assert_eq!(out.pixel_rgba(1, 0), [0.0; 4]);
        out.set_rgba(5, 5, [1.0; 4]);
        assert_eq!(out.pixel_rgba(0, 0), [0.75; 4]);
    }

    #[test]
    fn constructor_rejects_bad_layouts() {
        let bounds = Rect::new(0, 0, 4, 3);
        let buf = [0u8; 4 * 4 * 3];
        let f = |first, rb, len: usize| {
            ImageView::new(
                &buf[..len],
                first,
                rb,
                bounds,
                PixelDepth::Byte,
                Components::Rgba,
            )
        };
        assert!(f(0, 16, 48).is_ok());
        assert!(f(32, -16, 48).is_ok());
        let e = f(0, 16, 47).unwrap_err();
        assert!(e.message().contains("do not fit"), "{e}");
        assert!(
            f(16, -16, 48).is_err(),
            "negative stride running off the front"
        );
        assert!(f(1, 16, 48).is_err());
        let e = f(0, 12, 48).unwrap_err();
        assert!(e.message().contains("overlap"), "{e}");
        let fbuf = vec![0u8; 4 * 16 * 3 + 8];
        let e =
            ImageView::new(&fbuf, 2, 64, bounds, PixelDepth::Float, Components::Rgba).unwrap_err();
        assert!(e.message().contains("aligned"), "{e}");
        assert!(ImageView::new(&fbuf, 0, 66, bounds, PixelDepth::Float, Components::Rgba).is_err());
        assert!(ImageView::new(&fbuf, 0, 64, bounds, PixelDepth::Float, Components::Rgba).is_ok());
        // huge bounds must not overflow
        let big = Rect::new(i32::MIN, i32::MIN, i32::MAX, i32::MAX);
        assert!(
            ImageView::new(
                &fbuf,
                0,
                isize::MAX,
                big,
                PixelDepth::Float,
                Components::Rgba
            )
            .is_err()
        );
        // empty bounds need no bytes
        assert!(
            ImageView::new(&[], 0, 0, Rect::EMPTY, PixelDepth::Float, Components::Rgba).is_ok()
        );
        // a single row may have any row bytes
        assert!(
            ImageView::new(
                &buf[..16],
                0,
                0,
                Rect::new(0, 0, 4, 1),
                PixelDepth::Byte,
                Components::Rgba
            )
            .is_ok()
        );
    }

    #[test]
    fn from_view_replicates_edges() {
        let vb = Rect::new(10, 20, 13, 22);
        let src = FloatImage::from_fn(vb, |x, y| [x as f32, y as f32, 0.0, 1.0]);
        let mut buf = vec![0u8; 16 * 3 * 2];
        let mut out =
            ImageViewMut::new(&mut buf, 0, 48, vb, PixelDepth::Float, Components::Rgba).unwrap();
        src.write_to(&mut out, vb);
        let view = out.as_view();
        let region = Rect::new(7, 17, 16, 25);
        let img = FloatImage::from_view(&view, region);
        for (x, y) in region.pixels() {
            assert_eq!(
                img.pixel(x, y),
                [x.clamp(10, 12) as f32, y.clamp(20, 21) as f32, 0.0, 1.0]
            );
        }
        // regions entirely outside the view
        for region in [
            Rect::new(0, 0, 3, 3),
            Rect::new(20, 30, 22, 31),
            Rect::new(0, 21, 5, 40),
        ] {
            let img = FloatImage::from_view(&view, region);
            for (x, y) in region.pixels() {
                assert_eq!(
                    img.pixel(x, y),
                    [x.clamp(10, 12) as f32, y.clamp(20, 21) as f32, 0.0, 1.0]
                );
            }
        }
        let empty =
            ImageView::new(&[], 0, 0, Rect::EMPTY, PixelDepth::Float, Components::Rgba).unwrap();
        assert_eq!(
            FloatImage::from_view(&empty, region),
            FloatImage::new(region)
        );
    }

    #[test]
    fn write_to_respects_window_and_zero_fills() {
        let ob = Rect::new(0, 0, 6, 4);
        let mut buf = vec![0u8; 6 * 4];
        let mut out =
            ImageViewMut::new(&mut buf, 0, 6, ob, PixelDepth::Byte, Components::Alpha).unwrap();
        out.fill(ob, [0.0, 0.0, 0.0, 1.0]);
        let img = FloatImage::filled(Rect::new(2, 1, 4, 3), [0.0, 0.0, 0.0, 0.5]);
        img.write_to(&mut out, Rect::new(1, 1, 5, 3));
        let v = out.as_view();
        for (x, y) in ob.pixels() {
            let a = v.pixel_rgba(x, y)[3];
            let want = if Rect::new(2, 1, 4, 3).contains(x, y) {
                128.0 / 255.0
            } else if Rect::new(1, 1, 5, 3).contains(x, y) {
                0.0
            } else {
                1.0
            };
            assert_eq!(a, want, "({x},{y})");
        }
    }

    #[test]
    fn float_image_accessors() {
        let b = Rect::new(1, 1, 4, 3);
        let mut img = FloatImage::new(b);
        assert_eq!(img.data.len(), 24);
        img.set_pixel(3, 2, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(img.pixel(3, 2), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(img.pixel_clamped(10, 10), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(&img.row(2)[8..], &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(img.index(1, 2), 12);
        assert!(FloatImage::from_data(b, vec![0.0; 23]).is_err());
        assert!(FloatImage::from_data(b, vec![0.0; 24]).is_ok());
        let other = FloatImage::filled(b, [0.5; 4]);
        assert_eq!(img.max_abs_diff(&other), 3.5);
        assert_eq!(FloatImage::new(Rect::new(5, 5, 1, 1)).bounds, Rect::EMPTY);
    }

    #[test]
    fn full_hd_conversion_is_fast() {
        // A sanity bound that holds even for unoptimised test builds; release is ~10x faster.
        let b = Rect::from_size(1920, 1080);
        let mut buf = vec![0u8; 1920 * 1080 * 4];
        let img = FloatImage::filled(b, [0.2, 0.4, 0.6, 1.0]);
        let t = std::time::Instant::now();
        let mut out =
            ImageViewMut::new(&mut buf, 0, 1920 * 4, b, PixelDepth::Byte, Components::Rgba)
                .unwrap();
        img.write_to(&mut out, b);
        let back = FloatImage::from_view(&out.as_view(), b);
        let dt = t.elapsed();
        assert!(back.max_abs_diff(&img) <= 0.5 / 255.0);
        assert!(dt.as_secs_f64() < 5.0, "{dt:?}");
    }
}
