//! Where the plugin binary itself lies on disk (dladdr), to find files shipped next to it
//! such as the ONNX Runtime library.

use std::path::PathBuf;

#[cfg(unix)]
mod imp {
    use std::ffi::{CStr, c_char, c_int, c_void};
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    #[repr(C)]
    struct DlInfo {
        dli_fname: *const c_char,
        dli_fbase: *mut c_void,
        dli_sname: *const c_char,
        dli_saddr: *mut c_void,
    }

    unsafe extern "C" {
        fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    }

    pub fn binary_path() -> Option<PathBuf> {
        let mut info = DlInfo {
            dli_fname: std::ptr::null(),
            dli_fbase: std::ptr::null_mut(),
            dli_sname: std::ptr::null(),
            dli_saddr: std::ptr::null_mut(),
        };
        let addr = binary_path as fn() -> Option<PathBuf> as *const c_void;
        // SAFETY: `addr` is an address inside this binary; `info` is a valid out struct.
        let found = unsafe { dladdr(addr, &mut info) };
        if found == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dladdr returns a NUL-terminated path owned by the loader.
        let bytes = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
        // The loader may report the path it was given (possibly relative): make it absolute.
        std::fs::canonicalize(&path).ok().or(Some(path))
    }
}

/// The path of the loaded plugin binary (`.../Contents/Linux-x86-64/Pixelspace.ofx`).
pub fn binary_path() -> Option<PathBuf> {
    #[cfg(unix)]
    {
        imp::binary_path()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The directory holding the plugin binary.
pub fn binary_dir() -> Option<PathBuf> {
    binary_path().and_then(|p| p.parent().map(|d| d.to_path_buf()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_binary_holding_this_code() {
        // In unit tests the code lives in the test executable itself.
        let p = super::binary_path().expect("dladdr path");
        assert!(p.is_absolute(), "{}", p.display());
        assert!(p.exists(), "{}", p.display());
        assert_eq!(super::binary_dir().unwrap(), p.parent().unwrap());
    }
}
