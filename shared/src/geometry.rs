//! Integer pixel rectangles in OFX pixel coordinates (y up, `x2`/`y2` exclusive).

/// A pixel rectangle: columns `x1..x2`, rows `y1..y2` (both ends exclusive at the top).
///
/// A rect with `x2 <= x1` or `y2 <= y1` is empty. Operations on empty rects return empty rects
/// (normalised to the all-zero rect where a result would otherwise be ill-formed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub x1: i32,
    pub y1: i32,
    pub x2: i32,
    pub y2: i32,
}

impl Rect {
    /// The empty rect at the origin.
    pub const EMPTY: Rect = Rect {
        x1: 0,
        y1: 0,
        x2: 0,
        y2: 0,
    };

    /// A rect from its corners (`x2`, `y2` exclusive).
    pub const fn new(x1: i32, y1: i32, x2: i32, y2: i32) -> Rect {
        Rect { x1, y1, x2, y2 }
    }

    /// A rect at the origin: `(0, 0, width, height)`.
    pub const fn from_size(width: u32, height: u32) -> Rect {
        Rect {
            x1: 0,
            y1: 0,
            x2: width as i32,
            y2: height as i32,
        }
    }

    /// Width in pixels (0 if empty).
    pub fn width(&self) -> u32 {
        if self.x2 > self.x1 {
            (self.x2 as i64 - self.x1 as i64) as u32
        } else {
            0
        }
    }

    /// Height in pixels (0 if empty).
    pub fn height(&self) -> u32 {
        if self.y2 > self.y1 {
            (self.y2 as i64 - self.y1 as i64) as u32
        } else {
            0
        }
    }

    /// Number of pixels.
    pub fn area(&self) -> usize {
        self.width() as usize * self.height() as usize
    }

    /// True if the rect holds no pixel.
    pub fn is_empty(&self) -> bool {
        self.x2 <= self.x1 || self.y2 <= self.y1
    }

    /// The overlap of two rects; [`Rect::EMPTY`] if they do not overlap.
    pub fn intersect(&self, other: &Rect) -> Rect {
        let r = Rect {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        };
        if r.is_empty() { Rect::EMPTY } else { r }
    }

    /// The smallest rect holding both. An empty operand is ignored.
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return if other.is_empty() {
                Rect::EMPTY
            } else {
                *other
            };
        }
        if other.is_empty() {
            return *self;
        }
        Rect {
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
            x2: self.x2.max(other.x2),
            y2: self.y2.max(other.y2),
        }
    }

    /// The rect grown by `margin` pixels on every side (shrunk for a negative margin;
    /// shrinking past nothing gives [`Rect::EMPTY`]). Growing an empty rect gives it back unchanged.
    pub fn grow(&self, margin: i32) -> Rect {
        if self.is_empty() {
            return *self;
        }
        let r = Rect {
            x1: self.x1.saturating_sub(margin),
            y1: self.y1.saturating_sub(margin),
            x2: self.x2.saturating_add(margin),
            y2: self.y2.saturating_add(margin),
        };
        if r.is_empty() { Rect::EMPTY } else { r }
    }

    /// True if pixel `(x, y)` lies inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x1 && x < self.x2 && y >= self.y1 && y < self.y2
    }

    /// True if every pixel of `other` lies inside `self` (an empty `other` is always contained).
    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.is_empty()
            || (other.x1 >= self.x1
                && other.y1 >= self.y1
                && other.x2 <= self.x2
                && other.y2 <= self.y2)
    }

    /// The rect moved by `(dx, dy)`.
    pub fn translate(&self, dx: i32, dy: i32) -> Rect {
        Rect {
            x1: self.x1 + dx,
            y1: self.y1 + dy,
            x2: self.x2 + dx,
            y2: self.y2 + dy,
        }
    }

    /// The rect in a space scaled by `(sx, sy)` (an OFX render scale), rounded outward:
    /// `x1,y1` floor, `x2,y2` ceil, so every scaled pixel touched is included.
    /// Scaling by 1 is the identity.
    pub fn scaled(&self, sx: f64, sy: f64) -> Rect {
        if self.is_empty() {
            return Rect::EMPTY;
        }
        let r = Rect {
            x1: clamp_i32((self.x1 as f64 * sx).floor()),
            y1: clamp_i32((self.y1 as f64 * sy).floor()),
            x2: clamp_i32((self.x2 as f64 * sx).ceil()),
            y2: clamp_i32((self.y2 as f64 * sy).ceil()),
        };
        if r.is_empty() { Rect::EMPTY } else { r }
    }

    /// The rect back in full-resolution space from a space scaled by `(sx, sy)`:
    /// the same as `scaled(1/sx, 1/sy)` (outward rounding).
    pub fn unscaled(&self, sx: f64, sy: f64) -> Rect {
        self.scaled(1.0 / sx, 1.0 / sy)
    }

    /// Iterates over the rect's pixels, row by row from `y1` up, `x1` to `x2 - 1` within a row.
    pub fn pixels(&self) -> impl Iterator<Item = (i32, i32)> + use<> {
        let r = *self;
        let (ys, xs) = if r.is_empty() {
            (0..0, 0..0)
        } else {
            (r.y1..r.y2, r.x1..r.x2)
        };
        ys.flat_map(move |y| xs.clone().map(move |x| (x, y)))
    }
}

fn clamp_i32(v: f64) -> i32 {
    v.clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_empty() {
        let r = Rect::new(-2, 3, 8, 7);
        assert_eq!(r.width(), 10);
        assert_eq!(r.height(), 4);
        assert_eq!(r.area(), 40);
        assert!(!r.is_empty());
        assert!(Rect::new(1, 1, 1, 5).is_empty());
        assert!(Rect::new(5, 1, 1, 5).is_empty());
        assert_eq!(Rect::new(5, 1, 1, 5).width(), 0);
        assert_eq!(Rect::from_size(4, 3), Rect::new(0, 0, 4, 3));
        assert_eq!(Rect::new(i32::MIN, 0, i32::MAX, 1).width(), u32::MAX);
    }

    #[test]
    fn intersect_and_union() {
        let a = Rect::new(0, 0, 10, 10);
        let b = Rect::new(5, -5, 15, 5);
        assert_eq!(a.intersect(&b), Rect::new(5, 0, 10, 5));
        assert_eq!(b.intersect(&a), Rect::new(5, 0, 10, 5));
        assert_eq!(a.intersect(&Rect::new(10, 0, 20, 10)), Rect::EMPTY);
        assert_eq!(a.union(&b), Rect::new(0, -5, 15, 10));
        assert_eq!(a.union(&Rect::EMPTY), a);
        assert_eq!(Rect::new(50, 50, 40, 40).union(&a), a);
        assert_eq!(Rect::EMPTY.union(&Rect::EMPTY), Rect::EMPTY);
    }

    #[test]
    fn grow_and_contains() {
        let a = Rect::new(0, 0, 10, 10);
        assert_eq!(a.grow(3), Rect::new(-3, -3, 13, 13));
        assert_eq!(a.grow(-2), Rect::new(2, 2, 8, 8));
        assert_eq!(a.grow(-5), Rect::EMPTY);
        assert_eq!(Rect::EMPTY.grow(4), Rect::EMPTY);
        assert!(a.contains(0, 0));
        assert!(a.contains(9, 9));
        assert!(!a.contains(10, 9));
        assert!(!a.contains(-1, 0));
        assert!(a.contains_rect(&Rect::new(2, 2, 10, 10)));
        assert!(!a.contains_rect(&Rect::new(2, 2, 11, 10)));
        assert!(a.contains_rect(&Rect::new(50, 50, 40, 40)));
        assert_eq!(a.translate(2, -1), Rect::new(2, -1, 12, 9));
    }

    #[test]
    fn scaling_rounds_outward() {
        let r = Rect::new(1, 1, 5, 5);
        assert_eq!(r.scaled(1.0, 1.0), r);
        assert_eq!(r.scaled(0.5, 0.5), Rect::new(0, 0, 3, 3));
        assert_eq!(
            Rect::new(-3, -3, 3, 3).scaled(0.5, 0.5),
            Rect::new(-2, -2, 2, 2)
        );
        assert_eq!(
            Rect::new(0, 0, 1920, 1080).scaled(0.25, 0.5),
            Rect::new(0, 0, 480, 540)
        );
        assert_eq!(
            Rect::new(0, 0, 480, 540).unscaled(0.25, 0.5),
            Rect::new(0, 0, 1920, 1080)
        );
        // the scaled rect always covers the original once mapped back
        let r = Rect::new(7, 3, 13, 29);
        for s in [0.1, 0.25, 0.333, 0.5, 0.75] {
            let back = r.scaled(s, s).unscaled(s, s);
            assert!(back.contains_rect(&r), "{s}: {back:?}");
        }
        assert_eq!(Rect::EMPTY.scaled(2.0, 2.0), Rect::EMPTY);
    }

    #[test]
    fn pixel_iteration_order() {
        let p: Vec<_> = Rect::new(1, 2, 3, 4).pixels().collect();
        assert_eq!(p, vec![(1, 2), (2, 2), (1, 3), (2, 3)]);
        assert_eq!(Rect::new(3, 0, 1, 4).pixels().count(), 0);
    }
}
