#!/usr/bin/env python3
"""Writes face test shots: scikit-image's astronaut portrait moved, turned and scaled over 24
frames, with the exact motion of every frame, so every true face position is known.

Usage: python3 tests/data/make_face_shots.py OUTDIR
Needs: python3 -m pip install scikit-image

Writes OUTDIR/astronaut_move/0000.png .. 0023.png (512x512, 8-bit RGB) and
OUTDIR/astronaut_move/motion.json: for frame t, "affine" [a, b, tx, c, d, ty] maps a point
(x, y) of the original photo (pixels, y down, pixel centres at i + 0.5) to
(a x + b y + tx, c x + d y + ty) in the frame. Over the shot the face turns from -15 to +15
degrees, scales from 0.8 to 1.25 and travels about 110 pixels, all along smooth ramps (a
half cosine), about the face centre.
"""

import json
import math
import os
import sys

import numpy as np
from skimage import data, io
from skimage.transform import AffineTransform, warp

FRAMES = 24
SIZE = 512
# Centre of the hand-marked face (178, 78, 272, 182), y down.
FACE_CENTRE = (225.0, 130.0)


def motion(t):
    """Rotation (degrees), scale and face centre in the frame at time t."""
    u = 0.5 - 0.5 * math.cos(math.pi * t / (FRAMES - 1))
    angle = -15.0 + 30.0 * u
    scale = 0.8 * (1.25 / 0.8) ** u
    centre = (190.0 + 100.0 * u, 230.0 - 50.0 * u)
    return angle, scale, centre


def affine(t):
    """[a, b, tx, c, d, ty]: photo point -> frame point (y down)."""
    angle, s, (cx, cy) = motion(t)
    th = math.radians(angle)
    a, b = s * math.cos(th), -s * math.sin(th)
    c, d = s * math.sin(th), s * math.cos(th)
    fx, fy = FACE_CENTRE
    return [a, b, cx - (a * fx + b * fy), c, d, cy - (c * fx + d * fy)]


def main():
    out = os.path.join(sys.argv[1], "astronaut_move")
    os.makedirs(out, exist_ok=True)
    photo = data.astronaut()[:, :, :3].astype(np.float64) / 255.0
    frames = []
    for t in range(FRAMES):
        a, b, tx, c, d, ty = affine(t)
        # skimage works on pixel indices (centre at i): p_idx = p - 0.5 on both sides.
        m = np.array([[a, b, tx], [c, d, ty], [0.0, 0.0, 1.0]])
        shift = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
        unshift = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
        m_idx = unshift @ m @ shift
        # warp wants the map from output to input, in (col, row) = (x, y).
        inv = AffineTransform(matrix=np.linalg.inv(m_idx))
        img = warp(photo, inv, output_shape=(SIZE, SIZE), order=3, mode="edge")
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        io.imsave(os.path.join(out, "%04d.png" % t), img, check_contrast=False)
        frames.append({"frame": t, "affine": [a, b, tx, c, d, ty]})
    with open(os.path.join(out, "motion.json"), "w") as f:
        json.dump({"size": [SIZE, SIZE], "photo_face_centre": FACE_CENTRE, "frames": frames}, f, indent=1)
    print("wrote %d frames to %s" % (FRAMES, out))


if __name__ == "__main__":
    main()
