//! What the host offers an effect, found out at render time instead of assumed: frames of a
//! clip at other times (temporal clip access), the frames a clip has (its frame range) and the
//! context the instance runs in; and notices, posted once per process, when an effect does
//! less than it would elsewhere because the host offers less.
//!
//! Hosts differ (see docs/hosts.md): MLT (Shotcut, Kdenlive) runs every effect in the filter
//! context, returns the current frame whatever time is asked, and has no frame range on clips.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::ofx::{Clip, Context, ImageEffect, MessageLevel};

/// Hosts documented to give an effect other frames of a clip and the general context's extra
/// clips (docs/hosts.md), for messages.
pub const TEMPORAL_HOSTS: &str = "Natron, Nuke, DaVinci Resolve or the `pixelspace render` command";
/// Hosts documented to let an effect change its clip's length (the time domain action).
pub const LENGTHENING_HOSTS: &str = "Natron or the `pixelspace render` command";

/// Why an effect sees only the frame being rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneFrameOnly {
    /// The host gives no frames at other times (`kOfxImageEffectPropTemporalClipAccess` 0 or
    /// absent).
    NoTemporalAccess,
    /// The host gives other frames but does not say which frames the clip has.
    NoFrameRange,
}

impl OneFrameOnly {
    /// The reason in words, for messages.
    pub fn reason(self) -> &'static str {
        match self {
            OneFrameOnly::NoTemporalAccess => {
                "this host gives an effect no frames of a clip other than the one being rendered \
                 (no temporal clip access)"
            }
            OneFrameOnly::NoFrameRange => {
                "this host does not say which frames a clip has (no clip frame range)"
            }
        }
    }
}

/// The frames of a clip that a render may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClipFrames {
    /// Any frame from `first` to `last`, both included.
    Range { first: i32, last: i32 },
    /// Only the frame being rendered.
    CurrentOnly(OneFrameOnly),
}

/// The frames of `clip` that a render of `effect` may read.
pub fn clip_frames(effect: &ImageEffect, clip: &Clip) -> ClipFrames {
    if !effect.host().temporal_clip_access() {
        return ClipFrames::CurrentOnly(OneFrameOnly::NoTemporalAccess);
    }
    match clip.frame_range() {
        Ok((a, b)) if a.is_finite() && b.is_finite() => {
            let first = a.round() as i32;
            ClipFrames::Range {
                first,
                last: (b.round() as i32).max(first),
            }
        }
        _ => ClipFrames::CurrentOnly(OneFrameOnly::NoFrameRange),
    }
}

/// Whether the instance runs in the general context (the one with extra clips and, for
/// effects that change a clip's length, the time domain). A host that does not say counts as
/// the filter context.
pub fn is_general_context(effect: &ImageEffect) -> bool {
    effect.context().is_ok_and(|c| c == Context::General)
}

/// Why a clip the render needs is absent in the filter context (which has Source and Output
/// only), for an error message: `node` is the effect's name, `clip` the missing clip.
pub fn not_in_filter_context(node: &str, clip: &str) -> String {
    format!(
        "{clip} clip, which this host does not have: it runs {node} as a filter (the Source clip \
         only); use a host with the general context ({TEMPORAL_HOSTS})"
    )
}

/// Notices already posted in this process (by effect and topic).
static POSTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Posts `text` as a warning the first time this process asks with `effect_id` and `topic`,
/// so a host that renders every frame with a fresh instance (MLT) shows it once, not per
/// frame. Returns whether it was posted now.
pub fn notice_once(effect: &ImageEffect, effect_id: &str, topic: &str, text: &str) -> bool {
    let key = format!("{effect_id}/{topic}");
    let first = POSTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key);
    if first {
        effect.post_message(MessageLevel::Warning, text);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_missing_feature_in_words() {
        assert!(
            OneFrameOnly::NoTemporalAccess
                .reason()
                .contains("no temporal clip access")
        );
        assert!(
            OneFrameOnly::NoFrameRange
                .reason()
                .contains("no clip frame range")
        );
        for r in [OneFrameOnly::NoTemporalAccess, OneFrameOnly::NoFrameRange] {
            assert!(!r.reason().contains("kOfx"));
        }
    }
}
