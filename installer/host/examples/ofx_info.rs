//! Lists the OpenFX effects in plugin directories with their clips and params:
//! `cargo run -p pixelspace-host --example ofx_info -- DIR...`

use pixelspace_host::Host;
use std::path::PathBuf;

fn main() {
    let dirs: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let host = match Host::new(&dirs) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    for e in host.effects() {
        println!(
            "{} \"{}\" v{} [{}] {}",
            e.id,
            e.label,
            e.version,
            e.contexts.join(", "),
            e.bundle_path.display()
        );
        match host.instance(&e.id) {
            Ok(fx) => {
                println!("  context {} / {}", fx.context(), fx.render_thread_safety());
                for c in fx.clips() {
                    println!(
                        "  clip {}{}{}",
                        c.name,
                        if c.optional { " (optional)" } else { "" },
                        if c.output { " (output)" } else { "" }
                    );
                }
                for p in fx.params() {
                    let opts = if p.options.is_empty() {
                        String::new()
                    } else {
                        format!(" options {:?} names {:?}", p.options, p.option_names)
                    };
                    println!(
                        "  param {} {:?} = {:?} (default {:?}){}",
                        p.name, p.kind, p.value, p.default, opts
                    );
                }
                for m in fx.messages() {
                    println!("  posted {m}");
                }
            }
            Err(err) => println!("  cannot instantiate: {err}"),
        }
    }
}
