//! Images fetched from clips: typed properties, release on drop, and zero-copy views of the
//! pixels as `pixelspace_shared::image::{ImageView, ImageViewMut}`.

use std::ffi::CStr;
use std::marker::PhantomData;

use openfx::sys::generic::core::{
    OfxPropertySetHandle, kOfxBitDepthByte, kOfxBitDepthFloat, kOfxBitDepthHalf, kOfxBitDepthShort,
};
use openfx::sys::image_effect_v1::image_effect::{
    kOfxImageComponentAlpha, kOfxImageComponentRGB, kOfxImageComponentRGBA,
    kOfxImageEffectPropComponents, kOfxImageEffectPropPixelDepth, kOfxImageEffectPropRenderScale,
    kOfxImagePropBounds, kOfxImagePropData, kOfxImagePropPixelAspectRatio, kOfxImagePropRowBytes,
};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, ImageView, ImageViewMut, PixelDepth};

use super::host::Host;
use super::property::PropertySet;
use super::status::{Error, Result};

/// The pixel depth named by an OFX bit depth string, if Pixelspace supports it.
pub fn parse_depth(name: &str) -> Option<PixelDepth> {
    let c = name.as_bytes();
    [
        (kOfxBitDepthByte, PixelDepth::Byte),
        (kOfxBitDepthShort, PixelDepth::Short),
        (kOfxBitDepthHalf, PixelDepth::Half),
        (kOfxBitDepthFloat, PixelDepth::Float),
    ]
    .into_iter()
    .find(|(n, _)| n.to_bytes() == c)
    .map(|(_, d)| d)
}

/// The OFX name of a pixel depth.
pub fn depth_name(depth: PixelDepth) -> &'static CStr {
    match depth {
        PixelDepth::Byte => kOfxBitDepthByte,
        PixelDepth::Short => kOfxBitDepthShort,
        PixelDepth::Half => kOfxBitDepthHalf,
        PixelDepth::Float => kOfxBitDepthFloat,
    }
}

/// The components named by an OFX component string, if Pixelspace supports them.
pub fn parse_components(name: &str) -> Option<Components> {
    let c = name.as_bytes();
    [
        (kOfxImageComponentRGBA, Components::Rgba),
        (kOfxImageComponentRGB, Components::Rgb),
        (kOfxImageComponentAlpha, Components::Alpha),
    ]
    .into_iter()
    .find(|(n, _)| n.to_bytes() == c)
    .map(|(_, d)| d)
}

/// The OFX name of a component layout.
pub fn components_name(components: Components) -> &'static CStr {
    match components {
        Components::Rgba => kOfxImageComponentRGBA,
        Components::Rgb => kOfxImageComponentRGB,
        Components::Alpha => kOfxImageComponentAlpha,
    }
}

/// Where the rows of an image lie relative to its data pointer (the start of row `y1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSpan {
    /// Offset from the data pointer to the lowest byte of any row (<= 0).
    pub start: isize,
    /// Bytes from `start` to the end of the highest row.
    pub len: usize,
    /// Offset of row `y1` from `start` (what `ImageView::new` calls `first_row_offset`).
    pub first_row_offset: usize,
}

/// The byte span covering every row of an image `width` x `height` pixels of `pixel_bytes`
/// bytes each, whose rows are `row_bytes` apart (negative: rows go down in memory).
pub fn byte_span(
    width: u32,
    height: u32,
    pixel_bytes: usize,
    row_bytes: isize,
) -> Result<ByteSpan> {
    if width == 0 || height == 0 {
        return Ok(ByteSpan {
            start: 0,
            len: 0,
            first_row_offset: 0,
        });
    }
    let overflow = || {
        Error::failed(format!(
            "image of {width}x{height} pixels is too large to address"
        ))
    };
    let row_len = (width as usize)
        .checked_mul(pixel_bytes)
        .ok_or_else(overflow)?;
    if height > 1 && row_bytes.unsigned_abs() < row_len {
        return Err(Error::failed(format!(
            "the host gave an image whose rows overlap: row bytes {row_bytes}, but a row of {width} pixels needs {row_len}"
        )));
    }
    let between = (height as usize - 1)
        .checked_mul(row_bytes.unsigned_abs())
        .ok_or_else(overflow)?;
    let len = between.checked_add(row_len).ok_or_else(overflow)?;
    if len > isize::MAX as usize {
        return Err(overflow());
    }
    if row_bytes >= 0 {
        Ok(ByteSpan {
            start: 0,
            len,
            first_row_offset: 0,
        })
    } else {
        Ok(ByteSpan {
            start: -(between as isize),
            len,
            first_row_offset: between,
        })
    }
}

/// An image from a clip, released (clipReleaseImage) when dropped.
pub struct Image<'a> {
    handle: OfxPropertySetHandle,
    host: &'static Host,
    data: *mut u8,
    bounds: Rect,
    row_bytes: isize,
    depth: PixelDepth,
    components: Components,
    render_scale: [f64; 2],
    pixel_aspect_ratio: f64,
    _life: PhantomData<&'a ()>,
}

// SAFETY: an image's memory is exclusively ours until released; views borrow the Image.
unsafe impl Send for Image<'_> {}
unsafe impl Sync for Image<'_> {}

impl<'a> Image<'a> {
    /// Wraps an image handle from clipGetImage and reads its properties. On error the image is
    /// still released.
    ///
    /// # Safety
    /// `handle` must be an image returned by clipGetImage and not yet released.
    pub(crate) unsafe fn from_raw(
        handle: OfxPropertySetHandle,
        host: &'static Host,
    ) -> Result<Self> {
        let mut image = Image {
            handle,
            host,
            data: std::ptr::null_mut(),
            bounds: Rect {
                x1: 0,
                y1: 0,
                x2: 0,
                y2: 0,
            },
            row_bytes: 0,
            depth: PixelDepth::Float,
            components: Components::Rgba,
            render_scale: [1.0, 1.0],
            pixel_aspect_ratio: 1.0,
            _life: PhantomData,
        };
        // Fill in; if anything fails, `image` drops and releases the handle.
        // SAFETY: the handle is valid until `image` drops.
        let props = unsafe { PropertySet::from_raw(handle, host) };
        let depth_str = props.get_string(kOfxImageEffectPropPixelDepth, 0)?;
        image.depth = parse_depth(&depth_str)
            .ok_or_else(|| Error::failed(format!("unsupported pixel depth {depth_str}")))?;
        let comp_str = props.get_string(kOfxImageEffectPropComponents, 0)?;
        image.components = parse_components(&comp_str)
            .ok_or_else(|| Error::failed(format!("unsupported image components {comp_str}")))?;
        let b = props.get_int_n::<4>(kOfxImagePropBounds)?;
        image.bounds = Rect {
            x1: b[0],
            y1: b[1],
            x2: b[2],
            y2: b[3],
        };
        image.row_bytes = props.get_int(kOfxImagePropRowBytes, 0)? as isize;
        image.data = props.get_pointer(kOfxImagePropData, 0)? as *mut u8;
        image.render_scale = props
            .get_double_n::<2>(kOfxImageEffectPropRenderScale)
            .unwrap_or([1.0, 1.0]);
        image.pixel_aspect_ratio = props
            .get_double(kOfxImagePropPixelAspectRatio, 0)
            .unwrap_or(1.0);
        Ok(image)
    }

    /// The image's property set.
    pub fn properties(&self) -> PropertySet<'_> {
        // SAFETY: the handle is valid until drop.
        unsafe { PropertySet::from_raw(self.handle, self.host) }
    }

    /// Pixel bounds (pixel coordinates at the render scale).
    pub fn bounds(&self) -> Rect {
        self.bounds
    }
    pub fn depth(&self) -> PixelDepth {
        self.depth
    }
    pub fn components(&self) -> Components {
        self.components
    }
    /// Signed bytes from one row to the next.
    pub fn row_bytes(&self) -> isize {
        self.row_bytes
    }
    pub fn render_scale(&self) -> [f64; 2] {
        self.render_scale
    }
    pub fn pixel_aspect_ratio(&self) -> f64 {
        self.pixel_aspect_ratio
    }

    fn span(&self) -> Result<ByteSpan> {
        let pixel_bytes = self.depth.bytes_per_component() * self.components.count();
        let span = byte_span(
            self.bounds.width(),
            self.bounds.height(),
            pixel_bytes,
            self.row_bytes,
        )?;
        if span.len > 0 && self.data.is_null() {
            return Err(Error::failed("the host gave an image without pixel data"));
        }
        Ok(span)
    }

    /// The pixels, read-only, without copying.
    pub fn view(&self) -> Result<ImageView<'_>> {
        let span = self.span()?;
        let bytes: &[u8] = if span.len == 0 {
            &[]
        } else {
            // SAFETY: the host guarantees `height` rows of `width` pixels at data + k*row_bytes;
            // byte_span covers exactly those rows. The memory lives until clipReleaseImage (drop),
            // and the borrow of self keeps it alive.
            unsafe { std::slice::from_raw_parts(self.data.offset(span.start), span.len) }
        };
        Ok(ImageView::new(
            bytes,
            span.first_row_offset,
            self.row_bytes,
            self.bounds,
            self.depth,
            self.components,
        )?)
    }

    /// The pixels, writable, without copying (the output image).
    pub fn view_mut(&mut self) -> Result<ImageViewMut<'_>> {
        let span = self.span()?;
        let bytes: &mut [u8] = if span.len == 0 {
            &mut []
        } else {
            // SAFETY: as in `view`; `&mut self` makes this the only view of the memory.
            unsafe { std::slice::from_raw_parts_mut(self.data.offset(span.start), span.len) }
        };
        Ok(ImageViewMut::new(
            bytes,
            span.first_row_offset,
            self.row_bytes,
            self.bounds,
            self.depth,
            self.components,
        )?)
    }
}

impl Drop for Image<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.host.effect.clipReleaseImage {
            // SAFETY: the handle came from clipGetImage and is released exactly once.
            unsafe { release(self.handle) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_positive_rows() {
        let s = byte_span(10, 3, 16, 160).unwrap();
        assert_eq!(
            s,
            ByteSpan {
                start: 0,
                len: 480,
                first_row_offset: 0
            }
        );
        // padded rows: last row needs only its pixels, not the padding
        let s = byte_span(10, 3, 16, 200).unwrap();
        assert_eq!(
            s,
            ByteSpan {
                start: 0,
                len: 400 + 160,
                first_row_offset: 0
            }
        );
    }

    #[test]
    fn span_negative_rows() {
        // rows go down in memory: row y1 is the highest, row y2-1 the lowest
        let s = byte_span(10, 3, 16, -200).unwrap();
        assert_eq!(
            s,
            ByteSpan {
                start: -400,
                len: 560,
                first_row_offset: 400
            }
        );
        // the last row starts at first_row_offset + 2 * row_bytes = 0
        assert_eq!(s.first_row_offset as isize + 2 * -200, 0);
        let s = byte_span(4, 1, 4, -16).unwrap();
        assert_eq!(
            s,
            ByteSpan {
                start: 0,
                len: 16,
                first_row_offset: 0
            }
        );
    }

    #[test]
    fn span_empty_and_bad() {
        assert_eq!(byte_span(0, 5, 4, 0).unwrap().len, 0);
        assert_eq!(byte_span(5, 0, 4, 20).unwrap().len, 0);
        let e = byte_span(10, 2, 16, 100).unwrap_err();
        assert!(e.message().contains("rows overlap"), "{e}");
        assert!(byte_span(u32::MAX, u32::MAX, 16, isize::MAX).is_err());
    }

    #[test]
    fn span_matches_shared_view_validation() {
        // A top-down buffer of 3 rows x 2 RGBA byte pixels: row y1 is the last in memory.
        let mut buf = [0u8; 3 * 8];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = i as u8;
        }
        let s = byte_span(2, 3, 4, -8).unwrap();
        // data pointer = start of the last 8 bytes
        let data_offset = 16isize;
        let lo = (data_offset + s.start) as usize;
        let bytes = &buf[lo..lo + s.len];
        let bounds = Rect {
            x1: 5,
            y1: 7,
            x2: 7,
            y2: 10,
        };
        let v = ImageView::new(
            bytes,
            s.first_row_offset,
            -8,
            bounds,
            PixelDepth::Byte,
            Components::Rgba,
        )
        .unwrap();
        assert_eq!(v.row(7), &buf[16..24]);
        assert_eq!(v.row(9), &buf[0..8]);
    }

    #[test]
    fn depth_and_component_names() {
        for d in [
            PixelDepth::Byte,
            PixelDepth::Short,
            PixelDepth::Half,
            PixelDepth::Float,
        ] {
            assert_eq!(parse_depth(depth_name(d).to_str().unwrap()), Some(d));
        }
        assert_eq!(parse_depth("OfxBitDepthNone"), None);
        for c in [Components::Rgba, Components::Rgb, Components::Alpha] {
            assert_eq!(
                parse_components(components_name(c).to_str().unwrap()),
                Some(c)
            );
        }
        assert_eq!(parse_components("OfxImageComponentYUVA"), None);
    }
}
