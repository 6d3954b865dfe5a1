//! Parameters: defining them in describeInContext and reading/writing them on instances.

use std::ffi::{CStr, CString, c_char, c_int};
use std::marker::PhantomData;
use std::ptr;

use openfx::sys::generic::core::OfxPropertySetHandle;
use openfx::sys::generic::core::kOfxPropLabel;
use openfx::sys::image_effect_v1::param::{
    OfxParamHandle, OfxParamSetHandle, kOfxParamInvalidateAll, kOfxParamPropAnimates,
    kOfxParamPropCacheInvalidation, kOfxParamPropChoiceOption, kOfxParamPropDefault,
    kOfxParamPropEnabled, kOfxParamPropEvaluateOnChange, kOfxParamPropHint,
    kOfxParamPropPersistant, kOfxParamPropScriptName, kOfxParamPropStringMode,
    kOfxParamStringIsFilePath, kOfxParamStringIsLabel, kOfxParamStringIsMultiLine,
    kOfxParamStringIsSingleLine, kOfxParamTypeBoolean, kOfxParamTypeChoice, kOfxParamTypeDouble,
    kOfxParamTypeInteger, kOfxParamTypeString,
};
use openfx::sys::image_effect_v1::param::{
    kOfxParamPropDisplayMax, kOfxParamPropDisplayMin, kOfxParamPropMax, kOfxParamPropMin,
};

use super::host::{Host, func, string_from_host};
use super::property::PropertySet;
use super::status::{Error, Result, check};

/// How a string parameter is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringMode {
    SingleLine,
    MultiLine,
    FilePath,
    /// Shown as read-only text.
    Label,
}

impl StringMode {
    fn c_name(self) -> &'static CStr {
        match self {
            StringMode::SingleLine => kOfxParamStringIsSingleLine,
            StringMode::MultiLine => kOfxParamStringIsMultiLine,
            StringMode::FilePath => kOfxParamStringIsFilePath,
            StringMode::Label => kOfxParamStringIsLabel,
        }
    }
}

/// An effect's parameter set (descriptor or instance), valid for `'a`.
#[derive(Clone, Copy)]
pub struct ParamSet<'a> {
    handle: OfxParamSetHandle,
    host: &'static Host,
    _life: PhantomData<&'a ()>,
}

// SAFETY: host objects usable from the threads the owning action runs on; see PropertySet.
unsafe impl Send for ParamSet<'_> {}
unsafe impl Sync for ParamSet<'_> {}

fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::failed(format!("invalid parameter name {name:?}")))
}

impl<'a> ParamSet<'a> {
    /// # Safety
    /// `handle` must be a valid parameter set of `host` for the whole of `'a`.
    pub(crate) unsafe fn from_raw(handle: OfxParamSetHandle, host: &'static Host) -> Self {
        ParamSet {
            handle,
            host,
            _life: PhantomData,
        }
    }

    fn define(&self, kind: &CStr, name: &str) -> Result<ParamDescriptor<'a>> {
        let f = func(self.host.param.paramDefine, "paramDefine")?;
        let cname = c_name(name)?;
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid param set, NUL-terminated strings, valid out pointer.
        check(
            unsafe { f(self.handle, kind.as_ptr(), cname.as_ptr(), &mut props) },
            format!("define parameter {name}"),
        )?;
        // SAFETY: the descriptor's properties live as long as the param set.
        let props = unsafe { PropertySet::from_raw(props, self.host) };
        let d = ParamDescriptor { props };
        d.props.set_string(kOfxParamPropScriptName, 0, name)?;
        Ok(d)
    }

    /// Defines a string parameter.
    pub fn define_string(
        &self,
        name: &str,
        label: &str,
        mode: StringMode,
        default: &str,
    ) -> Result<ParamDescriptor<'a>> {
        let d = self.define(kOfxParamTypeString, name)?;
        d.props.set_string(kOfxPropLabel, 0, label)?;
        d.props
            .set_cstr(kOfxParamPropStringMode, 0, mode.c_name())?;
        d.props.set_string(kOfxParamPropDefault, 0, default)?;
        Ok(d)
    }

    /// Defines a choice parameter with the given options (labels) and default index.
    pub fn define_choice(
        &self,
        name: &str,
        label: &str,
        options: &[&str],
        default: usize,
    ) -> Result<ParamDescriptor<'a>> {
        let d = self.define(kOfxParamTypeChoice, name)?;
        d.props.set_string(kOfxPropLabel, 0, label)?;
        d.props.set_strings(kOfxParamPropChoiceOption, options)?;
        d.props.set_int(kOfxParamPropDefault, 0, default as i32)?;
        Ok(d)
    }

    /// Defines an integer parameter with its default and the range it accepts (also shown).
    pub fn define_int(
        &self,
        name: &str,
        label: &str,
        default: i32,
        range: (i32, i32),
    ) -> Result<ParamDescriptor<'a>> {
        let d = self.define(kOfxParamTypeInteger, name)?;
        d.props.set_string(kOfxPropLabel, 0, label)?;
        d.props.set_int(kOfxParamPropDefault, 0, default)?;
        d.props.set_int(kOfxParamPropMin, 0, range.0)?;
        d.props.set_int(kOfxParamPropMax, 0, range.1)?;
        d.props.set_int(kOfxParamPropDisplayMin, 0, range.0)?;
        d.props.set_int(kOfxParamPropDisplayMax, 0, range.1)?;
        Ok(d)
    }

    /// Defines a boolean (checkbox) parameter; read it with [`Param::get_int_at`] (0 or 1).
    pub fn define_boolean(
        &self,
        name: &str,
        label: &str,
        default: bool,
    ) -> Result<ParamDescriptor<'a>> {
        let d = self.define(kOfxParamTypeBoolean, name)?;
        d.props.set_string(kOfxPropLabel, 0, label)?;
        d.props.set_int(kOfxParamPropDefault, 0, default as i32)?;
        Ok(d)
    }

    /// Defines a double parameter with its default, the range it accepts and the range a
    /// slider shows (hosts such as Resolve need both).
    pub fn define_double(
        &self,
        name: &str,
        label: &str,
        default: f64,
        range: (f64, f64),
        display: (f64, f64),
    ) -> Result<ParamDescriptor<'a>> {
        let d = self.define(kOfxParamTypeDouble, name)?;
        d.props.set_string(kOfxPropLabel, 0, label)?;
        d.props.set_double(kOfxParamPropDefault, 0, default)?;
        d.props.set_double(kOfxParamPropMin, 0, range.0)?;
        d.props.set_double(kOfxParamPropMax, 0, range.1)?;
        d.props.set_double(kOfxParamPropDisplayMin, 0, display.0)?;
        d.props.set_double(kOfxParamPropDisplayMax, 0, display.1)?;
        Ok(d)
    }

    /// An instance's parameter by script name.
    pub fn param(&self, name: &str) -> Result<Param<'a>> {
        let f = func(self.host.param.paramGetHandle, "paramGetHandle")?;
        let cname = c_name(name)?;
        let mut handle: OfxParamHandle = ptr::null_mut();
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid param set, NUL-terminated name, valid out pointers.
        check(
            unsafe { f(self.handle, cname.as_ptr(), &mut handle, &mut props) },
            format!("parameter {name}"),
        )?;
        Ok(Param {
            handle,
            // SAFETY: the param's properties live as long as the param set.
            props: unsafe { PropertySet::from_raw(props, self.host) },
            host: self.host,
            name: name.to_string(),
            _life: PhantomData,
        })
    }
}

/// A parameter being described.
#[derive(Clone, Copy)]
pub struct ParamDescriptor<'a> {
    props: PropertySet<'a>,
}

impl<'a> ParamDescriptor<'a> {
    /// The raw property set, for properties without a helper.
    pub fn properties(&self) -> PropertySet<'a> {
        self.props
    }
    pub fn hint(self, hint: &str) -> Result<Self> {
        self.props.set_string(kOfxParamPropHint, 0, hint)?;
        Ok(self)
    }
    pub fn animates(self, animates: bool) -> Result<Self> {
        self.props
            .set_int(kOfxParamPropAnimates, 0, animates as i32)?;
        Ok(self)
    }
    pub fn enabled(self, enabled: bool) -> Result<Self> {
        self.props
            .set_int(kOfxParamPropEnabled, 0, enabled as i32)?;
        Ok(self)
    }
    pub fn persistent(self, persistent: bool) -> Result<Self> {
        self.props
            .set_int(kOfxParamPropPersistant, 0, persistent as i32)?;
        Ok(self)
    }
    /// Whether changing the value re-renders (and invalidates all cached frames).
    pub fn evaluate_on_change(self, evaluate: bool) -> Result<Self> {
        self.props
            .set_int(kOfxParamPropEvaluateOnChange, 0, evaluate as i32)?;
        if evaluate {
            self.props
                .set_cstr(kOfxParamPropCacheInvalidation, 0, kOfxParamInvalidateAll)?;
        }
        Ok(self)
    }
}

/// A parameter of an effect instance.
pub struct Param<'a> {
    handle: OfxParamHandle,
    props: PropertySet<'a>,
    host: &'static Host,
    name: String,
    _life: PhantomData<&'a ()>,
}

// SAFETY: see ParamSet.
unsafe impl Send for Param<'_> {}
unsafe impl Sync for Param<'_> {}

impl<'a> Param<'a> {
    pub fn properties(&self) -> PropertySet<'a> {
        self.props
    }

    /// String value (current time).
    pub fn get_string(&self) -> Result<String> {
        let f = func(self.host.param.paramGetValue, "paramGetValue")?;
        let mut v: *const c_char = ptr::null();
        // SAFETY: a string param's value is returned through one `const char**`.
        check(
            unsafe { f(self.handle, &mut v as *mut *const c_char) },
            format!("value of {}", self.name),
        )?;
        // SAFETY: host-owned string, copied at once.
        Ok(unsafe { string_from_host(v) })
    }

    /// String value at `time`.
    pub fn get_string_at(&self, time: f64) -> Result<String> {
        let f = func(self.host.param.paramGetValueAtTime, "paramGetValueAtTime")?;
        let mut v: *const c_char = ptr::null();
        // SAFETY: as in get_string.
        check(
            unsafe { f(self.handle, time, &mut v as *mut *const c_char) },
            format!("value of {}", self.name),
        )?;
        // SAFETY: host-owned string, copied at once.
        Ok(unsafe { string_from_host(v) })
    }

    /// Int or choice value (current time).
    pub fn get_int(&self) -> Result<i32> {
        let f = func(self.host.param.paramGetValue, "paramGetValue")?;
        let mut v: c_int = 0;
        // SAFETY: int and choice params return their value through one `int*`.
        check(
            unsafe { f(self.handle, &mut v as *mut c_int) },
            format!("value of {}", self.name),
        )?;
        Ok(v)
    }

    /// Int or choice value at `time`.
    pub fn get_int_at(&self, time: f64) -> Result<i32> {
        let f = func(self.host.param.paramGetValueAtTime, "paramGetValueAtTime")?;
        let mut v: c_int = 0;
        // SAFETY: as in get_int.
        check(
            unsafe { f(self.handle, time, &mut v as *mut c_int) },
            format!("value of {}", self.name),
        )?;
        Ok(v)
    }

    /// Double value at `time`.
    pub fn get_double_at(&self, time: f64) -> Result<f64> {
        let f = func(self.host.param.paramGetValueAtTime, "paramGetValueAtTime")?;
        let mut v: f64 = 0.0;
        // SAFETY: a double param returns its value through one `double*`.
        check(
            unsafe { f(self.handle, time, &mut v as *mut f64) },
            format!("value of {}", self.name),
        )?;
        Ok(v)
    }

    /// Sets a string value (allowed in instanceChanged and similar actions).
    pub fn set_string(&self, value: &str) -> Result<()> {
        let f = func(self.host.param.paramSetValue, "paramSetValue")?;
        let v = CString::new(value.replace('\0', " ")).unwrap_or_default();
        // SAFETY: a string param takes one `const char*`; the host copies it.
        check(
            unsafe { f(self.handle, v.as_ptr()) },
            format!("set {}", self.name),
        )
    }
}
