//! Loading ONNX Runtime from a wrong file is an error, never a panic, and does not prevent a
//! later load of the right library. (Own test binary: the runtime loads once per process.)

mod common;

use std::path::Path;

use pixelspace_shared::runtime;

#[test]
fn wrong_library_files_are_errors_then_the_right_one_loads() {
    let err = runtime::init(Path::new("/no/such/dir/libonnxruntime.so.1.32.0")).unwrap_err();
    assert_eq!(
        err.message(),
        "ONNX Runtime library not found at /no/such/dir/libonnxruntime.so.1.32.0; run `pixelspace doctor`"
    );
    assert!(runtime::info().is_none());

    let dir = common::temp_dir("bad-ort");
    let err = runtime::init(&dir).unwrap_err();
    assert!(err.message().contains("is not a file"), "{err}");

    for (name, bytes) in [
        ("empty.so", Vec::new()),
        (
            "garbage.so",
            (0..5000u32).map(|i| (i * 7919) as u8).collect(),
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = runtime::init(&path).unwrap_err();
        assert!(err.message().contains("could not be loaded"), "{err}");
        assert!(err.message().contains(name), "{err}");
        assert!(err.message().ends_with("run `pixelspace doctor`"), "{err}");
        assert!(runtime::info().is_none());
    }
    // A session before the runtime is loaded is an error too.
    let err = runtime::SessionCache::global()
        .get(&dir.join("empty.so"), runtime::Provider::Cpu, None)
        .unwrap_err();
    assert!(
        err.message().starts_with("ONNX Runtime is not loaded"),
        "{err}"
    );

    let info = common::init_runtime();
    assert_eq!(info.version, "1.32.0");
    let _ = std::fs::remove_dir_all(dir);
}
