//! Downloads one model file over HTTP(S): progress on stderr, resume from a `.part` file, size and
//! sha256 checks, and an atomic rename into place.
//!
//! The file is written to `DEST.part` beside the destination. A dropped connection leaves the
//! `.part` file, and the next attempt asks the server for the rest (`Range: bytes=N-`). Only a
//! complete file whose size and digest are right is renamed over `DEST`; on any other outcome the
//! previous `DEST` is untouched. A file that arrives complete but has the wrong digest is deleted,
//! so the next attempt starts again from the beginning.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};

/// Environment variable: fetch from this base address instead of the publisher's host, keeping
/// the path (a studio mirror, or a local server in tests). E.g. `http://mirror.studio:8080`.
pub const ENV_MIRROR: &str = "PIXELSPACE_MODEL_MIRROR";

/// What to fetch and what the result must be.
pub struct Request<'a> {
    /// The publisher's address of the file.
    pub url: &'a str,
    /// Where the file goes.
    pub dest: &'a Path,
    /// Expected sha256 (lower-case hex), if published.
    pub sha256: Option<&'a str>,
    /// Expected size in bytes, if published.
    pub size: Option<u64>,
}

/// The `.part` file a download of `dest` is written to.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// The address actually fetched: the publisher's, or the same path on the mirror of `ENV_MIRROR`.
pub fn effective_url(url: &str) -> String {
    match std::env::var(ENV_MIRROR) {
        Ok(mirror) if !mirror.trim().is_empty() => {
            let path = url
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or("/");
            format!("{}{}", mirror.trim_end_matches('/'), path)
        }
        _ => url.to_string(),
    }
}

/// The host (and port) of an address, for messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Downloads `req.url` to `req.dest` and returns the file's sha256. See the module docs.
pub fn fetch(req: &Request) -> Result<String> {
    let url = effective_url(req.url);
    let host = host_of(&url).to_string();
    let part = part_path(req.dest);
    if let Some(parent) = req.dest.parent() {
        fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
    }
    let by_hand = || {
        format!(
            "the file can also be downloaded by hand from {} and given with `--from FILE` (it is installed as {})",
            req.url,
            req.dest.display()
        )
    };

    let mut have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if let Some(size) = req.size
        && have > size
    {
        let _ = fs::remove_file(&part);
        have = 0;
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(None)
        .user_agent(concat!("pixelspace/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    // A complete .part left by an earlier run (e.g. interrupted during the check): check it again.
    let complete_part = req.size.is_some_and(|s| have == s && s > 0);
    if !complete_part {
        let mut call = agent.get(&url);
        if have > 0 {
            call = call.header("Range", format!("bytes={have}-"));
        }
        let response = call
            .call()
            .map_err(|e| unreachable(&host, &e, &by_hand()))?;
        let status = response.status().as_u16();
        let append = match status {
            206 if have > 0 => true,
            200 => false,
            416 if have > 0 => {
                // The server has nothing after `have` bytes: the .part is already complete or
                // longer than the file. Check it below (a wrong one is deleted).
                true
            }
            _ => {
                return Err(Error::new(format!(
                    "{host} answered HTTP {status} for {url}{}; {}",
                    match status {
                        404 => " (not found: the publisher may have moved the file)",
                        401 | 403 => " (access refused)",
                        500..=599 => " (a server error; try again later)",
                        _ => "",
                    },
                    by_hand()
                )));
            }
        };
        if status == 200 && have > 0 {
            eprintln!("  {host} does not resume downloads; starting again");
        }
        if status == 206 {
            eprintln!("  resuming after {} ", human_size(have));
        }
        if status != 416 {
            let expected_len = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let start = if append { have } else { 0 };
            let total = expected_len.map(|n| n + start).or(req.size);
            let mut out = fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&part)
                .context(|| format!("cannot write {}", part.display()))?;
            let mut reader = response.into_body().into_reader();
            let got = copy_with_progress(&mut reader, &mut out, start, total, &host);
            out.flush()
                .context(|| format!("cannot write {}", part.display()))?;
            drop(out);
            let received = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
            if let Err(e) = got {
                return Err(Error::new(format!(
                    "the download from {host} stopped after {} of {}: {e}; run the same command again to resume \
                     (the partial file is kept at {})",
                    human_size(received),
                    total.map_or("an unknown size".to_string(), human_size),
                    part.display()
                )));
            }
            if let Some(n) = expected_len
                && received != start + n
            {
                return Err(Error::new(format!(
                    "the download from {host} is truncated: the server announced {} but sent {}; run the same \
                     command again to resume (the partial file is kept at {})",
                    human_size(start + n),
                    human_size(received),
                    part.display()
                )));
            }
        }
    }
    finish(&part, req)
}

/// Copies a local file (downloaded by hand) through the same checks and rename.
pub fn from_file(file: &Path, req: &Request) -> Result<String> {
    let part = part_path(req.dest);
    if let Some(parent) = req.dest.parent() {
        fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::copy(file, &part).context(|| format!("cannot copy {}", file.display()))?;
    finish(&part, req)
}

/// Checks size and digest of the complete `.part` file and renames it over the destination.
fn finish(part: &Path, req: &Request) -> Result<String> {
    let received = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if let Some(size) = req.size
        && received != size
    {
        let _ = fs::remove_file(part);
        return Err(Error::new(format!(
            "the downloaded file has {} but the manifest expects {} bytes; it was deleted and {} was left as it was",
            human_size(received),
            size,
            req.dest.display()
        )));
    }
    let digest = sha256_file(part)?;
    if let Some(expected) = req.sha256
        && !digest.eq_ignore_ascii_case(expected)
    {
        let _ = fs::remove_file(part);
        return Err(Error::new(format!(
            "the downloaded file's sha256 is {digest} but the manifest expects {}: it is damaged or not the \
             published file; it was deleted and {} was left as it was",
            expected.to_ascii_lowercase(),
            req.dest.display()
        )));
    }
    fs::rename(part, req.dest)
        .context(|| format!("cannot move the download to {}", req.dest.display()))?;
    Ok(digest)
}

fn unreachable(host: &str, e: &ureq::Error, by_hand: &str) -> Error {
    let what = match e {
        ureq::Error::HostNotFound => "the name does not resolve".to_string(),
        ureq::Error::ConnectionFailed => "the connection failed".to_string(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    };
    Error::new(format!(
        "cannot reach {host}: {what}; are you offline or behind a proxy? {by_hand}"
    ))
}

fn copy_with_progress(
    reader: &mut impl Read,
    out: &mut impl Write,
    start: u64,
    total: Option<u64>,
    host: &str,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    let mut done = start;
    let began = Instant::now();
    let mut last = Instant::now() - Duration::from_secs(1);
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        done += n as u64;
        if last.elapsed() >= Duration::from_millis(500) {
            last = Instant::now();
            progress(done, start, total, began, host);
        }
    }
    progress(done, start, total, began, host);
    eprintln!();
    Ok(())
}

fn progress(done: u64, start: u64, total: Option<u64>, began: Instant, host: &str) {
    let secs = began.elapsed().as_secs_f64().max(1e-3);
    let rate = (done - start) as f64 / secs;
    let pct = match total {
        Some(t) if t > 0 => format!("{:5.1}% ", 100.0 * done as f64 / t as f64),
        _ => String::new(),
    };
    eprint!(
        "\r  {pct}{} of {} from {host}, {}/s   ",
        human_size(done),
        total.map_or("?".to_string(), human_size),
        human_size(rate as u64)
    );
}

/// A byte count for people: `1.2 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parts_and_sizes() {
        assert_eq!(host_of("https://example.org/a/b.onnx"), "example.org");
        assert_eq!(host_of("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(
            part_path(Path::new("/m/a.onnx")),
            PathBuf::from("/m/a.onnx.part")
        );
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_500_000), "1.5 MB");
    }
}
