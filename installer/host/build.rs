//! Compiles the OpenFX reference host library (HostSupport, taken from the
//! unpacked `openfx-sys` crate sources, never committed here) together with
//! our own C++ host in `cpp/`, and links expat, the C++ runtime and libdl.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const OPENFX_SYS_DIR: &str = "openfx-sys-0.1.0";

fn main() {
    println!("cargo:rerun-if-env-changed=PIXELSPACE_OPENFX_SOURCE");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");
    println!("cargo:rerun-if-changed=cpp");

    let openfx = match find_openfx_source() {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("{msg}");
            panic!("{msg}");
        }
    };
    let host_support = openfx.join("HostSupport");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++11")
        .pic(true)
        .warnings(false)
        .flag_if_supported("-w")
        .define("OFX_SUPPORTS_MULTITHREAD", None)
        .include(host_support.join("include"))
        .include(openfx.join("include"))
        .include("cpp");

    let mut sources: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(host_support.join("src")).expect("HostSupport/src is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "cpp") {
            sources.push(path);
        }
    }
    for entry in fs::read_dir("cpp").expect("cpp/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "cpp") {
            sources.push(path);
        }
    }
    sources.sort();
    build.files(&sources);
    build.compile("pixelspacehost");

    println!("cargo:rustc-link-lib=expat");
    println!("cargo:rustc-link-lib=stdc++");
    println!("cargo:rustc-link-lib=dl");
    println!("cargo:rustc-link-lib=pthread");
    // Tests compile OFX example plugins against these headers.
    println!("cargo:rustc-env=PIXELSPACE_OPENFX_DIR={}", openfx.display());
    println!("cargo:openfx_dir={}", openfx.display());
}

/// `$PIXELSPACE_OPENFX_SOURCE`, else `$CARGO_HOME` (default `~/.cargo`)
/// `/registry/src/*/openfx-sys-0.1.0/openfx`.
fn find_openfx_source() -> Result<PathBuf, String> {
    if let Some(dir) = env::var_os("PIXELSPACE_OPENFX_SOURCE") {
        let dir = PathBuf::from(dir);
        return if is_openfx(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "PIXELSPACE_OPENFX_SOURCE={} does not contain HostSupport/src and include/ofxCore.h",
                dir.display()
            ))
        };
    }
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set; set PIXELSPACE_OPENFX_SOURCE")?;
    let registry = cargo_home.join("registry").join("src");
    let mut candidates = Vec::new();
    if let Ok(entries) = fs::read_dir(&registry) {
        for entry in entries.flatten() {
            let dir = entry.path().join(OPENFX_SYS_DIR).join("openfx");
            if is_openfx(&dir) {
                candidates.push(dir);
            }
        }
    }
    candidates.sort();
    candidates.into_iter().next().ok_or_else(|| {
        format!(
            "the OpenFX sources ({OPENFX_SYS_DIR}) were not found under {}; \
             run `cargo fetch` or set PIXELSPACE_OPENFX_SOURCE to an OpenFX checkout",
            registry.display()
        )
    })
}

fn is_openfx(dir: &Path) -> bool {
    dir.join("HostSupport")
        .join("src")
        .join("ofxhImageEffect.cpp")
        .is_file()
        && dir.join("include").join("ofxCore.h").is_file()
}
