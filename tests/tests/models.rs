//! `pixelspace models fetch | list | verify` through the real binary, against a small HTTP server
//! on loopback (never the internet): a good fetch with progress, resume after a dropped
//! connection, a wrong sha256, a corrupt and a truncated download, an unreachable host, manifests
//! with unknown fields or no licence, a modified file, and trust on first use. Every failure must
//! say what happened and leave the previous good file in place.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use pixelspace_tests::*;
use sha2::{Digest, Sha256};

/// How the server answers one request.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The file (or the requested range of it).
    Full,
    /// Announces the full length but closes after this many body bytes.
    DropAfter(usize),
    /// The file with some bytes flipped.
    Corrupt,
}

/// A loopback HTTP/1.1 server for one file, with `Range: bytes=N-` support. Answers requests
/// with `modes` in order (the last one repeats), at most 16 connections.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(body: Vec<u8>, modes: Vec<Mode>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().take(16).enumerate() {
                let Ok(stream) = stream else { continue };
                let mode = modes[i.min(modes.len() - 1)];
                let _ = answer(stream, &body, mode, &seen);
            }
        });
        Server { port, requests }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(
    mut stream: TcpStream,
    body: &[u8],
    mode: Mode,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    let mut start = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("range: bytes=") {
            start = r.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
        request.push_str(&line);
    }
    seen.lock().unwrap().push(request.clone());
    if !request.starts_with("GET /files/tiny.onnx ") {
        stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        return Ok(());
    }
    let mut data = body.to_vec();
    if let Mode::Corrupt = mode {
        for i in (0..data.len()).step_by(97) {
            data[i] ^= 0x5a;
        }
    }
    let part = &data[start.min(data.len())..];
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nConnection: close\r\n\r\n",
            part.len(),
            start,
            data.len() - 1,
            data.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
            part.len()
        )
    };
    stream.write_all(head.as_bytes())?;
    match mode {
        Mode::DropAfter(n) => {
            stream.write_all(&part[..n.min(part.len())])?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)?;
        }
        _ => stream.write_all(part)?,
    }
    Ok(())
}

/// A small real ONNX file: one of the generated test models, padded to at least 64 KB by
/// repeating it, so a connection can drop midway. (Its bytes are what matters here.)
fn payload() -> Vec<u8> {
    let dir = data_dir().join("models");
    let mut onnx: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("test models in {}: {e} (run tests/run)", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
        .collect();
    onnx.sort();
    let one = std::fs::read(&onnx[0]).unwrap();
    let mut out = Vec::new();
    while out.len() < 64 * 1024 {
        out.extend_from_slice(&one);
    }
    out
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest of the test model, as a publisher would write it (https URL; the test points the
/// mirror variable at the loopback server).
fn manifest(sha256: Option<&str>, size: Option<u64>) -> serde_json::Value {
    serde_json::json!({
        "schema": 1,
        "name": "tiny-external",
        "description": "test model fetched from a loopback server",
        "model": "tiny.onnx",
        "sha256": sha256,
        "licence": { "name": "CC-BY-NC-4.0", "commercial_use": false, "source": "tests/tests/models.rs", "url": null },
        "download": { "url": "https://models.example.org/files/tiny.onnx", "size": size },
        "inputs": [ { "name": "input", "clip": "Source", "frame_offset": 0, "layout": "nchw", "channels": "rgb",
                      "range": [0.0, 1.0], "colour_space": "srgb" } ],
        "size": { "mode": "dynamic", "multiple": 1 },
        "outputs": [ { "name": "output", "layout": "nchw", "channels": "rgb", "range": [0.0, 1.0],
                       "colour_space": "srgb", "apply": "replace" } ],
        "parity": null
    })
}

/// A scratch setup: model folder, external manifest folder, cache, and the server's address.
struct Env {
    root: PathBuf,
    mirror: String,
}

impl Env {
    fn new(name: &str, mirror: String, manifest: &serde_json::Value) -> Env {
        let root = scratch(name);
        std::fs::create_dir_all(root.join("external")).unwrap();
        let env = Env { root, mirror };
        env.set_manifest(manifest);
        env
    }

    fn set_manifest(&self, manifest: &serde_json::Value) {
        std::fs::write(
            self.root.join("external/tiny-external.json"),
            serde_json::to_string_pretty(manifest).unwrap(),
        )
        .unwrap();
    }

    fn models(&self) -> PathBuf {
        self.root.join("models")
    }

    fn installed(&self) -> PathBuf {
        self.models().join("tiny-external/tiny.onnx")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(pixelspace())
            .args(args)
            .env("PIXELSPACE_MODELS_DIR", self.models())
            .env("PIXELSPACE_EXTERNAL_MANIFESTS", self.root.join("external"))
            .env("PIXELSPACE_MODEL_MIRROR", &self.mirror)
            .env("XDG_CACHE_HOME", self.root.join("cache"))
            .env("OFX_PLUGIN_PATH", self.root.join("plugins"))
            .output()
            .expect("run pixelspace")
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "expected success:\n{}", text(out));
}

fn assert_fails_with(out: &Output, needles: &[&str]) {
    let all = text(out);
    assert!(!out.status.success(), "expected failure:\n{all}");
    for n in needles {
        assert!(all.contains(n), "expected '{n}' in:\n{all}");
    }
}

fn no_part_left(path: &Path) {
    let part = PathBuf::from(format!("{}.part", path.display()));
    assert!(!part.exists(), "{} was left behind", part.display());
}

#[test]
fn fetch_list_verify() {
    let body = payload();
    let server = Server::start(body.clone(), vec![Mode::Full]);
    let env = Env::new(
        "models-fetch-ok",
        server.base(),
        &manifest(Some(&sha(&body)), Some(body.len() as u64)),
    );
    let out = env.run(&["models", "fetch", "tiny-external"]);
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("100.0%") && stderr.contains("127.0.0.1"),
        "progress on stderr:\n{stderr}"
    );
    assert_eq!(std::fs::read(env.installed()).unwrap(), body);
    assert!(
        env.models().join("tiny-external/tiny.json").is_file(),
        "manifest beside the model"
    );
    no_part_left(&env.installed());
    assert_eq!(server.requests().len(), 1);
    assert!(server.requests()[0].starts_with("GET /files/tiny.onnx HTTP/1.1"));

    let list = env.run(&["models", "list"]);
    assert_ok(&list);
    let stdout = String::from_utf8_lossy(&list.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("tiny-external"))
        .unwrap_or_else(|| panic!("no row:\n{stdout}"));
    for col in ["user", "CC-BY-NC-4.0", " no ", "ok"] {
        assert!(row.contains(col), "'{col}' in row '{row}'");
    }
    assert!(
        stdout.contains(&env.models().display().to_string()),
        "list says where:\n{stdout}"
    );
    assert!(
        stdout.contains("rife") && stdout.contains("not converted"),
        "defaults listed:\n{stdout}"
    );
    assert_ok(&env.run(&["models", "verify"]));

    // A second fetch finds the intact file and downloads nothing.
    let again = env.run(&["models", "fetch", "tiny-external"]);
    assert_ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already fetched and intact"));
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn resume_after_a_dropped_connection() {
    let body = payload();
    let half = body.len() / 2;
    let server = Server::start(body.clone(), vec![Mode::DropAfter(half), Mode::Full]);
    let env = Env::new(
        "models-resume",
        server.base(),
        &manifest(Some(&sha(&body)), Some(body.len() as u64)),
    );
    let first = env.run(&["models", "fetch", "tiny-external"]);
    assert_fails_with(
        &first,
        &["127.0.0.1", "run the same command again to resume"],
    );
    assert!(
        !env.installed().exists(),
        "nothing installed from a partial download"
    );
    let part = PathBuf::from(format!("{}.part", env.installed().display()));
    assert_eq!(std::fs::metadata(&part).unwrap().len(), half as u64);

    let second = env.run(&["models", "fetch", "tiny-external"]);
    assert_ok(&second);
    assert!(String::from_utf8_lossy(&second.stderr).contains("resuming"));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1]
            .to_ascii_lowercase()
            .contains(&format!("range: bytes={half}-")),
        "the second request asks for the rest:\n{}",
        requests[1]
    );
    assert_eq!(std::fs::read(env.installed()).unwrap(), body);
    no_part_left(&env.installed());
}

/// Fetches a good copy first, then runs `bad` and checks the good copy survived.
fn previous_survives(name: &str, modes: Vec<Mode>, edit: impl Fn(&Env, &[u8]), needles: &[&str]) {
    let body = payload();
    let server = Server::start(body.clone(), modes);
    let env = Env::new(
        name,
        server.base(),
        &manifest(Some(&sha(&body)), Some(body.len() as u64)),
    );
    assert_ok(&env.run(&["models", "fetch", "tiny-external"]));
    edit(&env, &body);
    let out = env.run(&["models", "fetch", "--force", "tiny-external"]);
    assert_fails_with(&out, needles);
    assert!(
        text(&out).contains("left as it was"),
        "says the old file was kept:\n{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(env.installed()).unwrap(),
        body,
        "previous good file kept"
    );
    assert_ok(&env.run(&["models", "verify"]));
}

#[test]
fn wrong_sha256_keeps_the_previous_file() {
    previous_survives(
        "models-wrong-sha",
        vec![Mode::Full],
        |env, body| {
            env.set_manifest(&manifest(Some(&"ab".repeat(32)), Some(body.len() as u64)));
        },
        &["sha256", "abababab", "deleted"],
    );
}

#[test]
fn corrupt_download_keeps_the_previous_file() {
    previous_survives(
        "models-corrupt",
        vec![Mode::Full, Mode::Corrupt],
        |_, _| {},
        &["sha256", "damaged", "deleted"],
    );
}

#[test]
fn truncated_download_keeps_the_previous_file() {
    previous_survives(
        "models-truncated",
        vec![Mode::Full, Mode::DropAfter(1000)],
        |_, _| {},
        &["stopped after", "resume"],
    );
}

#[test]
fn manifest_with_unknown_fields_is_refused_and_keeps_the_previous_file() {
    previous_survives(
        "models-unknown-field",
        vec![Mode::Full],
        |env, body| {
            let mut m = manifest(Some(&sha(body)), Some(body.len() as u64));
            m["mirror"] = "elsewhere".into();
            env.set_manifest(&m);
        },
        &["unknown field `mirror`", "nothing was fetched"],
    );
}

#[test]
fn unreachable_host_is_a_clear_message() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let env = Env::new(
        "models-unreachable",
        format!("http://127.0.0.1:{port}"),
        &manifest(None, None),
    );
    let out = env.run(&["models", "fetch", "tiny-external"]);
    assert_fails_with(
        &out,
        &[
            &format!("cannot reach 127.0.0.1:{port}"),
            "offline",
            "--from FILE",
        ],
    );
    assert!(!env.installed().exists());
}

#[test]
fn trust_on_first_use_then_verify_finds_a_modified_file() {
    let body = payload();
    let server = Server::start(body.clone(), vec![Mode::Full]);
    let env = Env::new("models-tofu", server.base(), &manifest(None, None));
    let out = env.run(&["models", "fetch", "tiny-external"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("trust on first use"));
    let record =
        std::fs::read_to_string(env.models().join("tiny-external/tiny.onnx.sha256")).unwrap();
    assert!(record.starts_with(&sha(&body)), "{record}");
    let list = env.run(&["models", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("ok (trust on first use)"),
        "{}",
        text(&list)
    );
    assert_ok(&env.run(&["models", "verify"]));

    let mut changed = body.clone();
    changed[100] ^= 1;
    std::fs::write(env.installed(), &changed).unwrap();
    let verify = env.run(&["models", "verify"]);
    assert_fails_with(&verify, &["MODIFIED", "tiny-external", "failed the check"]);
    let list = env.run(&["models", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("MODIFIED"),
        "{}",
        text(&list)
    );
}

#[test]
fn bad_manifests_in_the_model_folder_are_reported() {
    let env = Env::new(
        "models-bad-manifests",
        "http://127.0.0.1:9".into(),
        &manifest(None, None),
    );
    let body = payload();
    let mut unknown = manifest(Some(&sha(&body)), None);
    unknown["name"] = "typo-model".into();
    unknown["licence"]["comercial_use"] = true.into();
    let mut unlicensed = manifest(Some(&sha(&body)), None);
    unlicensed["name"] = "no-licence".into();
    unlicensed.as_object_mut().unwrap().remove("licence");
    for (folder, m) in [("typo-model", &unknown), ("no-licence", &unlicensed)] {
        let dir = env.models().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tiny.onnx"), &body).unwrap();
        std::fs::write(dir.join("tiny.json"), m.to_string()).unwrap();
    }
    let list = env.run(&["models", "list"]);
    assert_ok(&list);
    let all = text(&list);
    for needle in [
        "INVALID MANIFEST",
        "unknown field `comercial_use`",
        "missing field `licence`",
    ] {
        assert!(all.contains(needle), "'{needle}' in:\n{all}");
    }
    let verify = env.run(&["models", "verify"]);
    assert_fails_with(
        &verify,
        &[
            "INVALID MANIFEST",
            "unknown field `comercial_use`",
            "missing field `licence`",
            "2 of 2",
        ],
    );
}
