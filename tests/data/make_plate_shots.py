#!/usr/bin/env python3
"""Writes clean-plate test shots: a person cut out of a real photo (scikit-image's astronaut)
moving over a real background photo (scikit-image's coffee), with the true matte and the true
background plate of every frame, so a plate's error is known.

Usage: python3 tests/data/make_plate_shots.py OUTDIR [SHOT...]
Needs: numpy, scikit-image

Shots (384x256, 8-bit PNG, frames numbered from 1):
  locked   24 frames, fixed camera; the person crosses the frame (7 px a frame).
  pan      12 frames, the camera pans right 3 px a frame (the background moves left on
           screen); the person moves right 5 px a frame on screen (8 px a frame against the
           background).
  static   8 frames, fixed camera; the person does not move, so the background behind them
           is never visible.
Each SHOT folder holds shot/NNNN.png (the composite, with a little sensor noise: sigma 1/255),
matte/NNNN.png (RGBA, the true matte in every channel, 0 or 1), and plate/NNNN.png (the
background without the person and without noise).

The person is the astronaut photo scaled to 0.42 inside a fixed polygon that lies within her
(head ellipse and torso), so the matte is exact by construction.
"""

import os
import sys

import numpy as np
from skimage import data, io, transform

W, H = 384, 256
SCALE = 0.42


def person():
    """The cut-out: RGB (float 0..1) and its binary matte, scaled."""
    img = data.astronaut()[:, :, :3].astype(np.float64) / 255.0
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((xx - 222) / 62.0) ** 2 + ((yy - 120) / 78.0) ** 2 <= 1.0
    # Torso: a polygon (x, y) inside the suit, built as the union of trapezoid rows.
    poly = np.array([(175, 190), (275, 190), (320, 280), (335, 420), (330, 511),
                     (70, 511), (95, 400), (125, 280)], dtype=np.float64)
    torso = inside(poly, xx, yy)
    matte = head | torso
    sh, sw = int(round(h * SCALE)), int(round(w * SCALE))
    small = transform.resize(img, (sh, sw), order=1, anti_aliasing=True)
    small_matte = transform.resize(matte.astype(np.float64), (sh, sw), order=1, anti_aliasing=True) > 0.5
    return small, small_matte


def inside(poly, xx, yy):
    """Even-odd point-in-polygon test over a grid."""
    res = np.zeros(xx.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        cond = ((y1 > yy) != (y2 > yy)) & (xx < (x2 - x1) * (yy - y1) / (y2 - y1 + 1e-12) + x1)
        res ^= cond
    return res


def write(path, rgb01, alpha=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    u8 = np.clip(np.round(rgb01 * 255.0), 0, 255).astype(np.uint8)
    if alpha is not None:
        a = (alpha * 255).astype(np.uint8)[:, :, None]
        u8 = np.concatenate([u8, a], axis=2)
    io.imsave(path, u8, check_contrast=False)


def make(outdir, name, frames, bg_x, subj_x, subj_y):
    """bg_x(t): left column of the background crop; subj_x(t): the person's left column."""
    bg = data.coffee()[:, :, :3].astype(np.float64) / 255.0
    rgb, m = person()
    ph, pw = m.shape
    rng = np.random.default_rng(6)
    for t in range(frames):
        x0 = bg_x(t)
        plate = bg[60:60 + H, x0:x0 + W].copy()
        frame = plate.copy()
        matte = np.zeros((H, W), dtype=bool)
        sx = subj_x(t)
        # Paste the part of the person that falls inside the frame.
        fx0, fx1 = max(sx, 0), min(sx + pw, W)
        fy0, fy1 = subj_y, min(subj_y + ph, H)
        if fx1 > fx0:
            sub_m = m[0:fy1 - fy0, fx0 - sx:fx1 - sx]
            sub_rgb = rgb[0:fy1 - fy0, fx0 - sx:fx1 - sx]
            region = frame[fy0:fy1, fx0:fx1]
            region[sub_m] = sub_rgb[sub_m]
            matte[fy0:fy1, fx0:fx1] = sub_m
        noisy = frame + rng.normal(0.0, 1.0 / 255.0, frame.shape)
        n = t + 1
        write(os.path.join(outdir, name, "shot", "%04d.png" % n), noisy)
        mf = matte.astype(np.float64)
        write(os.path.join(outdir, name, "matte", "%04d.png" % n), np.repeat(mf[:, :, None], 3, axis=2), mf)
        write(os.path.join(outdir, name, "plate", "%04d.png" % n), plate)


SHOTS = {
    "locked": lambda out: make(out, "locked", 24, lambda t: 100, lambda t: -40 + 7 * t, 256 - 215),
    "pan": lambda out: make(out, "pan", 12, lambda t: 60 + 3 * t, lambda t: 40 + 5 * t, 256 - 215),
    "static": lambda out: make(out, "static", 8, lambda t: 100, lambda t: 100, 256 - 215),
}


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_plate_shots.py OUTDIR [SHOT...]")
    out = sys.argv[1]
    for name in sys.argv[2:] or list(SHOTS):
        SHOTS[name](out)
    print("wrote clean-plate shots to %s" % out)


if __name__ == "__main__":
    main()
