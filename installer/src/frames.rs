//! Frame patterns (`shot/%04d.png`, `shot/####.exr`) and frame ranges (`-4..27`).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// A file pattern with at most one frame-number placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramePattern {
    prefix: String,
    suffix: String,
    /// `None`: no placeholder, the same file for every frame (a still).
    width: Option<usize>,
}

impl FramePattern {
    /// Parses `%d`, `%04d` or a run of `#` (its length is the zero-padded width).
    pub fn parse(pattern: &str) -> Result<Self> {
        if let Some(start) = pattern.find('%') {
            let rest = &pattern[start + 1..];
            let end = rest.find('d').ok_or_else(|| {
                Error::new(format!("frame pattern {pattern:?}: expected %d or %04d"))
            })?;
            let spec = &rest[..end];
            let width = if spec.is_empty() {
                0
            } else if spec.bytes().all(|b| b.is_ascii_digit()) {
                spec.parse::<usize>()
                    .map_err(|_| Error::new(format!("frame pattern {pattern:?}: bad width")))?
            } else {
                return Err(Error::new(format!(
                    "frame pattern {pattern:?}: expected %d or %04d"
                )));
            };
            let suffix = &rest[end + 1..];
            if suffix.contains('%') {
                return Err(Error::new(format!(
                    "frame pattern {pattern:?} has more than one placeholder"
                )));
            }
            return Ok(FramePattern {
                prefix: pattern[..start].to_string(),
                suffix: suffix.to_string(),
                width: Some(width),
            });
        }
        if let Some(start) = pattern.find('#') {
            let count = pattern[start..].bytes().take_while(|&b| b == b'#').count();
            let suffix = &pattern[start + count..];
            if suffix.contains('#') {
                return Err(Error::new(format!(
                    "frame pattern {pattern:?} has more than one placeholder"
                )));
            }
            return Ok(FramePattern {
                prefix: pattern[..start].to_string(),
                suffix: suffix.to_string(),
                width: Some(count),
            });
        }
        Ok(FramePattern {
            prefix: pattern.to_string(),
            suffix: String::new(),
            width: None,
        })
    }

    /// True when the pattern names one file for every frame.
    pub fn is_still(&self) -> bool {
        self.width.is_none()
    }

    /// The file of frame `frame` (printf semantics: the width includes a minus sign).
    pub fn path(&self, frame: i32) -> PathBuf {
        match self.width {
            None => PathBuf::from(&self.prefix),
            Some(w) => PathBuf::from(format!("{}{:0w$}{}", self.prefix, frame, self.suffix)),
        }
    }

    /// The lower-case extension of the files (`png`, `exr`).
    pub fn extension(&self) -> String {
        self.path(0)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// The frames that exist on disk, sorted.
    pub fn existing_frames(&self) -> Vec<i32> {
        let Some(width) = self.width else {
            return Vec::new();
        };
        // The placeholder may sit in the middle of the file name: split the prefix at the last '/'.
        let (dir, name_prefix) = match self.prefix.rfind('/') {
            Some(i) => (
                PathBuf::from(&self.prefix[..=i]),
                self.prefix[i + 1..].to_string(),
            ),
            None => (PathBuf::from("."), self.prefix.clone()),
        };
        if self.suffix.contains('/') {
            // Frame number in a folder name: probe the paths instead of listing (rare).
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut frames: Vec<i32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let middle = name
                    .strip_prefix(&name_prefix)?
                    .strip_suffix(&self.suffix)?;
                let digits = middle.strip_prefix('-').unwrap_or(middle);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || middle.len() < width
                {
                    return None;
                }
                let frame: i32 = middle.parse().ok()?;
                // Only names this pattern would produce (so `0001` and `1` are not both frame 1).
                (self.path(frame).file_name()? == std::ffi::OsStr::new(&name)).then_some(frame)
            })
            .collect();
        frames.sort_unstable();
        frames.dedup();
        frames
    }
}

/// Parses `A..B` (both ends included; either may be negative) or a single frame `A`.
pub fn parse_range(text: &str) -> Result<(i32, i32)> {
    let bad = || {
        Error::new(format!(
            "frame range {text:?}: expected A..B, e.g. 1..24 or -4..27"
        ))
    };
    let (a, b) = match text.find("..") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => (text, text),
    };
    let a: i32 = a.trim().parse().map_err(|_| bad())?;
    let b: i32 = b.trim().parse().map_err(|_| bad())?;
    if b < a {
        return Err(Error::new(format!(
            "frame range {text:?} ends before it starts"
        )));
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_and_hash_patterns() {
        let p = FramePattern::parse("shot/%04d.png").unwrap();
        assert_eq!(p.path(7), PathBuf::from("shot/0007.png"));
        assert_eq!(p.path(-4), PathBuf::from("shot/-004.png"));
        assert_eq!(p.extension(), "png");
        let h = FramePattern::parse("a/b.####.exr").unwrap();
        assert_eq!(h.path(12), PathBuf::from("a/b.0012.exr"));
        let d = FramePattern::parse("x%d.png").unwrap();
        assert_eq!(d.path(12), PathBuf::from("x12.png"));
        let s = FramePattern::parse("still.png").unwrap();
        assert!(s.is_still());
        assert_eq!(s.path(3), PathBuf::from("still.png"));
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("1..24").unwrap(), (1, 24));
        assert_eq!(parse_range("-4..27").unwrap(), (-4, 27));
        assert_eq!(parse_range("5").unwrap(), (5, 5));
        assert!(parse_range("3..1").is_err());
        assert!(parse_range("a..b").is_err());
    }

    #[test]
    fn lists_existing_frames() {
        let dir = std::env::temp_dir().join(format!("pixelspace-frames-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "0001.png", "0002.png", "0010.png", "12.png", "0003.exr", "-001.png",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let p = FramePattern::parse(&format!("{}/%04d.png", dir.display())).unwrap();
        assert_eq!(p.existing_frames(), vec![-1, 1, 2, 10]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
