//! Time mapping of the ExtendShot effect: which source frames an output frame shows.
//!
//! * `retime`: output frame `first + i` shows source time `first + i / speed`, so the first
//!   frames line up and the shot lasts `speed` times as long (`speed` > 1 slows it down).
//!   Output times past the last source frame (the last `speed - 1` frames of a stretched
//!   shot) continue the motion past the last frame.
//! * `extend`: source frame `k` stays at time `k`; `head` frames sit before the first source
//!   frame (negative offsets from it) and `tail` frames after the last.

/// How the effect maps time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Stretch the whole shot by `speed` (output duration over input duration).
    Retime { speed: f64 },
    /// Keep the shot and add `head` frames before it and `tail` frames after it.
    Extend { head: u32, tail: u32 },
}

/// What one output frame shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample {
    /// Source frame `k` unchanged.
    Source(i32),
    /// The frame at fraction `t` (0 < t < 1) of the way from source frame `k0` to `k1 = k0 + 1`.
    Between { k0: i32, k1: i32, t: f64 },
    /// `steps` frames (> 0, may be fractional) after the last source frame `last`.
    After { last: i32, steps: f64 },
    /// `steps` frames (> 0) before the first source frame `first`.
    Before { first: i32, steps: f64 },
}

impl Sample {
    /// The source frames the sample is made from, in the order an effect reads them: the
    /// frame nearest the output first. Extrapolation reads the edge frame and the one beside
    /// it (when the source has it).
    pub fn source_frames(&self, first: i32, last: i32) -> Vec<i32> {
        let clamp = |k: i32| k.clamp(first, last);
        let mut v = match *self {
            Sample::Source(k) => vec![clamp(k)],
            Sample::Between { k0, k1, .. } => vec![clamp(k0), clamp(k1)],
            Sample::After { last: l, .. } => vec![clamp(l), clamp(l - 1)],
            Sample::Before { first: f, .. } => vec![clamp(f), clamp(f + 1)],
        };
        v.dedup();
        v
    }
}

/// Times closer than this to a whole frame count as that frame.
const FRAME_EPS: f64 = 1e-6;

/// The time map of one source clip (frames `first..=last`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeMap {
    pub mode: Mode,
    pub first: i32,
    pub last: i32,
}

impl TimeMap {
    /// A map for source frames `first..=last` (`last >= first`).
    pub fn new(mode: Mode, first: i32, last: i32) -> TimeMap {
        TimeMap {
            mode,
            first,
            last: last.max(first),
        }
    }

    /// Number of source frames.
    pub fn source_len(&self) -> i64 {
        self.last as i64 - self.first as i64 + 1
    }

    /// The frames the effect produces, both ends included.
    pub fn domain(&self) -> (i32, i32) {
        match self.mode {
            Mode::Retime { speed } => {
                let speed = sane_speed(speed);
                let n = (self.source_len() as f64 * speed - FRAME_EPS)
                    .ceil()
                    .max(1.0) as i64;
                (self.first, clamp_i32(self.first as i64 + n - 1))
            }
            Mode::Extend { head, tail } => (
                clamp_i32(self.first as i64 - head as i64),
                clamp_i32(self.last as i64 + tail as i64),
            ),
        }
    }

    /// The source time output frame `frame` shows (may lie outside the source range).
    pub fn source_time(&self, frame: f64) -> f64 {
        match self.mode {
            Mode::Retime { speed } => {
                self.first as f64 + (frame - self.first as f64) / sane_speed(speed)
            }
            Mode::Extend { .. } => frame,
        }
    }

    /// What output frame `frame` shows.
    pub fn sample(&self, frame: f64) -> Sample {
        let s = self.source_time(frame);
        let (first, last) = (self.first as f64, self.last as f64);
        if s > last + FRAME_EPS {
            return Sample::After {
                last: self.last,
                steps: s - last,
            };
        }
        if s < first - FRAME_EPS {
            return Sample::Before {
                first: self.first,
                steps: first - s,
            };
        }
        let nearest = s.round();
        if (s - nearest).abs() <= FRAME_EPS {
            return Sample::Source(clamp_i32(nearest as i64).clamp(self.first, self.last));
        }
        let k0 = s.floor() as i32;
        Sample::Between {
            k0,
            k1: k0 + 1,
            t: s - k0 as f64,
        }
    }
}

/// Speeds at or below zero (or not a number) count as 1.
fn sane_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 1e-3 {
        speed
    } else {
        1.0
    }
}

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retime_by_two_interleaves_midpoints() {
        let m = TimeMap::new(Mode::Retime { speed: 2.0 }, 1, 5);
        // 5 source frames last 10 output frames: 1..=10.
        assert_eq!(m.domain(), (1, 10));
        assert_eq!(m.sample(1.0), Sample::Source(1));
        assert_eq!(
            m.sample(2.0),
            Sample::Between {
                k0: 1,
                k1: 2,
                t: 0.5
            }
        );
        assert_eq!(m.sample(3.0), Sample::Source(2));
        assert_eq!(m.sample(9.0), Sample::Source(5));
        assert_eq!(
            m.sample(10.0),
            Sample::After {
                last: 5,
                steps: 0.5
            }
        );
    }

    #[test]
    fn retime_at_arbitrary_speeds() {
        let m = TimeMap::new(Mode::Retime { speed: 1.25 }, 0, 7);
        assert_eq!(m.domain(), (0, 9));
        match m.sample(3.0) {
            Sample::Between { k0: 2, k1: 3, t } => assert!((t - 0.4).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.sample(5.0), Sample::Source(4));
        // Nonsense speeds are 1: the shot is unchanged.
        let same = TimeMap::new(Mode::Retime { speed: 0.0 }, 0, 3);
        assert_eq!(same.domain(), (0, 3));
        assert_eq!(same.sample(2.0), Sample::Source(2));
    }

    #[test]
    fn extend_keeps_source_frames_in_place() {
        let m = TimeMap::new(Mode::Extend { head: 4, tail: 3 }, 0, 23);
        assert_eq!(m.domain(), (-4, 26));
        assert_eq!(m.sample(0.0), Sample::Source(0));
        assert_eq!(m.sample(23.0), Sample::Source(23));
        assert_eq!(
            m.sample(-4.0),
            Sample::Before {
                first: 0,
                steps: 4.0
            }
        );
        assert_eq!(
            m.sample(25.0),
            Sample::After {
                last: 23,
                steps: 2.0
            }
        );
        assert_eq!(
            Sample::After {
                last: 23,
                steps: 2.0
            }
            .source_frames(0, 23),
            vec![23, 22]
        );
        assert_eq!(
            Sample::Before {
                first: 0,
                steps: 1.0
            }
            .source_frames(0, 23),
            vec![0, 1]
        );
        // A one-frame shot extrapolates from its only frame.
        assert_eq!(
            Sample::After {
                last: 5,
                steps: 1.0
            }
            .source_frames(5, 5),
            vec![5]
        );
    }
}
