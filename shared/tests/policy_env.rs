//! The studio licence policy as `InferencePipeline::new` reads it from the process
//! environment and config files. One test in its own process, since it sets variables.

mod common;

use common::*;
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::policy::{ENV_COMMERCIAL_ONLY, ENV_CONFIG};
use pixelspace_shared::runtime::Provider;

fn set(name: &str, value: &str) {
    // SAFETY: this test binary has a single test, so no other thread reads the environment.
    unsafe { std::env::set_var(name, value) }
}

#[test]
fn new_follows_the_environment_and_the_studio_config() {
    init_runtime();
    let path = model("conv1x1");
    let mut nc = Manifest::for_model(&path).unwrap();
    nc.licence.commercial_use = false;
    nc.licence.name = "research only".into();
    let build = || InferencePipeline::new(nc.clone(), path.clone(), Provider::Cpu);
    let dir = temp_dir("policy-env");
    let config = dir.join("studio.json");
    set(ENV_CONFIG, config.to_str().unwrap());

    // The named config file must exist.
    let e = build().unwrap_err();
    assert!(e.message().contains("PIXELSPACE_CONFIG names"), "{e}");

    std::fs::write(&config, r#"{ "commercial_only": false }"#).unwrap();
    build().unwrap();

    std::fs::write(&config, r#"{ "commercial_only": true }"#).unwrap();
    let e = build().unwrap_err();
    assert!(e.message().contains("model 'conv1x1'"), "{e}");
    assert!(e.message().contains("'research only'"), "{e}");
    assert!(
        e.message().contains(&format!(
            "\"commercial_only\": true in {}",
            config.display()
        )),
        "{e}"
    );
    // Commercial models still load.
    InferencePipeline::new(
        Manifest::for_model(&path).unwrap(),
        path.clone(),
        Provider::Cpu,
    )
    .unwrap();

    std::fs::write(&config, r#"{ "commercial_only": true, "comercial": 1 }"#).unwrap();
    let e = build().unwrap_err();
    assert!(
        e.message()
            .contains("is not valid: unknown field `comercial`"),
        "{e}"
    );

    std::fs::write(&config, r#"{ "commercial_only": false }"#).unwrap();
    set(ENV_COMMERCIAL_ONLY, "yes");
    let e = build().unwrap_err();
    assert!(
        e.message()
            .contains("PIXELSPACE_COMMERCIAL_ONLY=yes in the environment"),
        "{e}"
    );
    set(ENV_COMMERCIAL_ONLY, "0");
    build().unwrap();
    set(ENV_COMMERCIAL_ONLY, "sometimes");
    let e = build().unwrap_err();
    assert!(e.message().contains("is not understood"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
