#!/usr/bin/env python3
"""Writes real photographs from scikit-image as short PNG shot sequences for the end-to-end tests.

Usage: python3 tests/data/make_photos.py OUTDIR
Needs: python3 -m pip install scikit-image

For each photo NAME (astronaut 512x512, coffee 600x400, chelsea 451x300) this writes
OUTDIR/NAME/0001.png .. 0003.png: frame 1 is the photo, frames 2 and 3 are the photo moved
right by 2 and 4 pixels (edge columns repeated), so a shot has real motion.
It also writes:
  OUTDIR/odd/0001.png        a 157x203 crop of the astronaut (odd width and height)
16-bit PNG and float (EXR) inputs are made by the tests themselves from these files.
"""

import os
import sys

import numpy as np
from skimage import data, io

FRAMES = 3
SHIFT = 2


def shifted(img, dx):
    """The image moved right by dx pixels, the first column repeated into the gap."""
    if dx == 0:
        return img
    out = np.empty_like(img)
    out[:, dx:] = img[:, :-dx]
    out[:, :dx] = img[:, :1]
    return out


def save(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    io.imsave(path, img, check_contrast=False)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_photos.py OUTDIR")
    outdir = sys.argv[1]
    photos = {"astronaut": data.astronaut(), "coffee": data.coffee(), "chelsea": data.chelsea()}
    for name, img in photos.items():
        img = np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)
        for i in range(FRAMES):
            save(os.path.join(outdir, name, "%04d.png" % (i + 1)), shifted(img, SHIFT * i))
    odd = np.ascontiguousarray(photos["astronaut"][40:243, 100:257, :3])
    save(os.path.join(outdir, "odd", "0001.png"), odd)
    print("wrote test photos to %s" % outdir)


if __name__ == "__main__":
    main()
