//! Typed access to OFX property sets: get/set int, double, string and pointer, single values
//! and multi-dimensional ones. Failures come back as [`Error`]s naming the property.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::ptr;

use openfx::sys::generic::core::OfxPropertySetHandle;
use openfx::sys::generic::property::OfxPropertySuiteV1;

use super::host::{Host, func, string_from_host};
use super::status::{Error, Result, check};

/// A property set owned by the host, valid for `'a`.
#[derive(Clone, Copy)]
pub struct PropertySet<'a> {
    handle: OfxPropertySetHandle,
    suite: &'static OfxPropertySuiteV1,
    _life: PhantomData<&'a ()>,
}

// SAFETY: property sets are host objects that OFX lets plugins read from any thread in which
// the action owning them runs; the lifetime keeps them from outliving that action.
unsafe impl Send for PropertySet<'_> {}
unsafe impl Sync for PropertySet<'_> {}

fn what(op: &str, name: &CStr) -> String {
    format!("{op} property {}", name.to_string_lossy())
}

/// A property name built at run time (`OfxImageClipPropRoI_` + clip name).
pub fn dynamic_name(prefix: &str, suffix: &str) -> Result<CString> {
    CString::new(format!("{prefix}{suffix}"))
        .map_err(|_| Error::failed(format!("invalid property name {prefix}{suffix}")))
}

impl<'a> PropertySet<'a> {
    /// Wraps a raw handle.
    ///
    /// # Safety
    /// `handle` must be a valid property set of `host` for the whole of `'a`.
    pub(crate) unsafe fn from_raw(handle: OfxPropertySetHandle, host: &'static Host) -> Self {
        PropertySet {
            handle,
            suite: host.prop,
            _life: PhantomData,
        }
    }

    /// Whether the handle is null (the host passed no argument set).
    pub fn is_null(&self) -> bool {
        self.handle.is_null()
    }

    fn require(&self, name: &CStr) -> Result<()> {
        if self.handle.is_null() {
            Err(Error::failed(format!(
                "property {}: no property set",
                name.to_string_lossy()
            )))
        } else {
            Ok(())
        }
    }

    /// Number of values the property holds.
    pub fn dimension(&self, name: &CStr) -> Result<usize> {
        self.require(name)?;
        let f = func(self.suite.propGetDimension, "propGetDimension")?;
        let mut n: c_int = 0;
        // SAFETY: valid handle (from_raw contract), NUL-terminated name, valid out pointer.
        check(
            unsafe { f(self.handle, name.as_ptr(), &mut n) },
            what("dimension of", name),
        )?;
        Ok(n.max(0) as usize)
    }

    /// Whether the property exists on this set.
    pub fn exists(&self, name: &CStr) -> bool {
        self.dimension(name).is_ok()
    }

    pub fn get_int(&self, name: &CStr, index: usize) -> Result<i32> {
        self.require(name)?;
        let f = func(self.suite.propGetInt, "propGetInt")?;
        let mut v: c_int = 0;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) },
            what("get", name),
        )?;
        Ok(v)
    }

    pub fn get_double(&self, name: &CStr, index: usize) -> Result<f64> {
        self.require(name)?;
        let f = func(self.suite.propGetDouble, "propGetDouble")?;
        let mut v = 0.0;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) },
            what("get", name),
        )?;
        Ok(v)
    }

    /// A string value, copied out of the host's storage.
    pub fn get_string(&self, name: &CStr, index: usize) -> Result<String> {
        self.require(name)?;
        let f = func(self.suite.propGetString, "propGetString")?;
        let mut v: *mut c_char = ptr::null_mut();
        // SAFETY: as in dimension; the returned string is valid until the property changes,
        // and is copied before returning.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) },
            what("get", name),
        )?;
        Ok(unsafe { string_from_host(v) })
    }

    /// A pointer value (image data, instance data). Raw pointers stay inside the OFX layer.
    pub(crate) fn get_pointer(&self, name: &CStr, index: usize) -> Result<*mut c_void> {
        self.require(name)?;
        let f = func(self.suite.propGetPointer, "propGetPointer")?;
        let mut v: *mut c_void = ptr::null_mut();
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, &mut v) },
            what("get", name),
        )?;
        Ok(v)
    }

    /// All int values of the property.
    pub fn get_ints(&self, name: &CStr) -> Result<Vec<i32>> {
        (0..self.dimension(name)?)
            .map(|i| self.get_int(name, i))
            .collect()
    }

    /// All double values of the property.
    pub fn get_doubles(&self, name: &CStr) -> Result<Vec<f64>> {
        (0..self.dimension(name)?)
            .map(|i| self.get_double(name, i))
            .collect()
    }

    /// All string values of the property.
    pub fn get_strings(&self, name: &CStr) -> Result<Vec<String>> {
        (0..self.dimension(name)?)
            .map(|i| self.get_string(name, i))
            .collect()
    }

    /// Exactly `N` int values (`kOfxImagePropBounds`: 4).
    pub fn get_int_n<const N: usize>(&self, name: &CStr) -> Result<[i32; N]> {
        self.require(name)?;
        let f = func(self.suite.propGetIntN, "propGetIntN")?;
        let mut v = [0 as c_int; N];
        // SAFETY: `v` holds N values.
        check(
            unsafe { f(self.handle, name.as_ptr(), N as c_int, v.as_mut_ptr()) },
            what("get", name),
        )?;
        Ok(v)
    }

    /// Exactly `N` double values (`kOfxImageEffectPropRenderScale`: 2).
    pub fn get_double_n<const N: usize>(&self, name: &CStr) -> Result<[f64; N]> {
        self.require(name)?;
        let f = func(self.suite.propGetDoubleN, "propGetDoubleN")?;
        let mut v = [0.0f64; N];
        // SAFETY: `v` holds N values.
        check(
            unsafe { f(self.handle, name.as_ptr(), N as c_int, v.as_mut_ptr()) },
            what("get", name),
        )?;
        Ok(v)
    }

    pub fn set_int(&self, name: &CStr, index: usize, value: i32) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetInt, "propSetInt")?;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, value) },
            what("set", name),
        )
    }

    pub fn set_double(&self, name: &CStr, index: usize, value: f64) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetDouble, "propSetDouble")?;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, value) },
            what("set", name),
        )
    }

    /// Sets a string value (the host copies it).
    pub fn set_string(&self, name: &CStr, index: usize, value: &str) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetString, "propSetString")?;
        let value = CString::new(value).map_err(|_| {
            Error::failed(format!("{}: value contains a NUL byte", what("set", name)))
        })?;
        // SAFETY: as in dimension; the host copies the string during the call.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, value.as_ptr()) },
            what("set", name),
        )
    }

    /// Sets a C string constant (`kOfxBitDepthFloat`, ...).
    pub fn set_cstr(&self, name: &CStr, index: usize, value: &CStr) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetString, "propSetString")?;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, value.as_ptr()) },
            what("set", name),
        )
    }

    /// Sets a pointer value (instance data).
    pub(crate) fn set_pointer(&self, name: &CStr, index: usize, value: *mut c_void) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetPointer, "propSetPointer")?;
        // SAFETY: as in dimension.
        check(
            unsafe { f(self.handle, name.as_ptr(), index as c_int, value) },
            what("set", name),
        )
    }

    /// Sets all values of a multi-dimensional int property.
    pub fn set_ints(&self, name: &CStr, values: &[i32]) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetIntN, "propSetIntN")?;
        // SAFETY: `values` holds values.len() ints.
        check(
            unsafe {
                f(
                    self.handle,
                    name.as_ptr(),
                    values.len() as c_int,
                    values.as_ptr(),
                )
            },
            what("set", name),
        )
    }

    /// Sets all values of a multi-dimensional double property.
    pub fn set_doubles(&self, name: &CStr, values: &[f64]) -> Result<()> {
        self.require(name)?;
        let f = func(self.suite.propSetDoubleN, "propSetDoubleN")?;
        // SAFETY: `values` holds values.len() doubles.
        check(
            unsafe {
                f(
                    self.handle,
                    name.as_ptr(),
                    values.len() as c_int,
                    values.as_ptr(),
                )
            },
            what("set", name),
        )
    }

    /// Sets the values of a multi-dimensional string constant property, one index at a time
    /// (hosts grow the property as indices are set).
    pub fn set_cstrs(&self, name: &CStr, values: &[&CStr]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_cstr(name, i, v)?;
        }
        Ok(())
    }

    /// Sets the values of a multi-dimensional string property, one index at a time.
    pub fn set_strings(&self, name: &CStr, values: &[&str]) -> Result<()> {
        for (i, v) in values.iter().enumerate() {
            self.set_string(name, i, v)?;
        }
        Ok(())
    }
}
