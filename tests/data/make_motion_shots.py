#!/usr/bin/env python3
"""Writes clean-plate shots of a moving thing that is not a person: a textured box (a coloured
checkerboard, 40x30 px) crossing a real background photo (scikit-image's coffee), with sensor
noise, so the motion matte of a locked-off camera can be checked.

Usage: python3 tests/data/make_motion_shots.py OUTDIR [SHOT...]
Needs: numpy, scikit-image

Shots (384x256, 8-bit PNG, frames numbered from 1):
  box      24 frames, fixed camera; the box crosses the frame at 9 px a frame.
  box_pan  12 frames, the camera pans right 3 px a frame; the box moves 9 px a frame on screen.
Each SHOT folder holds shot/NNNN.png (with noise: sigma 1/255), matte/NNNN.png (the box, for
measuring only) and plate/NNNN.png (the background without the box and without noise).
"""

import os
import sys

import numpy as np
from skimage import data, io

W, H = 384, 256
BW, BH = 40, 30


def box():
    yy, xx = np.mgrid[0:BH, 0:BW]
    check = ((xx // 5 + yy // 5) % 2).astype(np.float64)
    rgb = np.stack([0.9 * check + 0.05, 0.2 + 0.6 * (1 - check), 0.1 + 0.3 * check], axis=2)
    return rgb


def write(path, rgb01):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    io.imsave(path, (np.clip(rgb01, 0, 1) * 255 + 0.5).astype(np.uint8), check_contrast=False)


def make(outdir, name, frames, bg_x, box_x, box_y=150):
    bg = data.coffee()[:, :, :3].astype(np.float64) / 255.0
    b = box()
    rng = np.random.default_rng(7)
    for t in range(frames):
        x0 = bg_x(t)
        plate = bg[60:60 + H, x0:x0 + W].copy()
        frame = plate.copy()
        matte = np.zeros((H, W, 3))
        bx = box_x(t)
        fx0, fx1 = max(bx, 0), min(bx + BW, W)
        if fx1 > fx0:
            frame[box_y:box_y + BH, fx0:fx1] = b[:, fx0 - bx:fx1 - bx]
            matte[box_y:box_y + BH, fx0:fx1] = 1.0
        noisy = frame + rng.normal(0.0, 1.0 / 255.0, frame.shape)
        n = t + 1
        write(os.path.join(outdir, name, "shot", "%04d.png" % n), noisy)
        write(os.path.join(outdir, name, "matte", "%04d.png" % n), matte)
        write(os.path.join(outdir, name, "plate", "%04d.png" % n), plate)


SHOTS = {
    "box": lambda out: make(out, "box", 24, lambda t: 100, lambda t: 20 + 9 * t),
    "box_pan": lambda out: make(out, "box_pan", 12, lambda t: 60 + 3 * t, lambda t: 40 + 9 * t),
}


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: make_motion_shots.py OUTDIR [SHOT...]")
    for name in args[1:] or list(SHOTS):
        SHOTS[name](args[0])
    print("wrote motion shots to %s" % args[0])


if __name__ == "__main__":
    main()
