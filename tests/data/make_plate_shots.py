#!/usr/bin/env python3
"""Writes clean-plate test shots: a person cut out of a real photo (scikit-image's astronaut)
moving over a real background photo (scikit-image's coffee), with the true matte and the true
background plate of every frame, so a plate's error is known.

Usage: python3 tests/data/make_plate_shots.py OUTDIR [SHOT...] [--size WxH]
Needs: numpy, scikit-image

Shots (384x256, 8-bit PNG, frames numbered from 1):
  locked   24 frames, fixed camera; the person crosses the frame (7 px a frame).
  pan      12 frames, the camera pans right 3 px a frame (the background moves left on
           screen); the person moves right 5 px a frame on screen (8 px a frame against the
           background).
  static   8 frames, fixed camera; the person does not move, so the background behind them
           is never visible.
  parallax 12 frames, the camera tracks right past two depth layers: the far one (coffee)
           moves left 3 px a frame on screen, a near one (the lower part of scikit-image's
           rocket photo, from row NEAR_TOP down) moves left 9 px a frame, so no single global
           map aligns the frames; the person moves right 5 px a frame over both.
  lama_tiny  not a shot: lama_tiny/lama_tiny.onnx with its manifest, a model of LaMa's
           public contract (image 1x3x512x512 RGB in 0..1, mask 1x1x512x512, output in 0..255)
           that keeps the image outside the mask and fills the mask with 0.25 (sRGB), so the
           effect's use of an inpainting model can be checked without the real weights.
Each SHOT folder holds shot/NNNN.png (the composite, with a little sensor noise: sigma 1/255),
matte/NNNN.png (RGBA, the true matte in every channel, 0 or 1), and plate/NNNN.png (the
background without the person and without noise).

--size makes larger shots for timing (e.g. 1920x1080): the background photo, the person and
the motions are scaled up by H / 256 and the frame is W x H.

The person is the astronaut photo scaled to 0.42 inside a fixed polygon that lies within her
(head ellipse and torso), so the matte is exact by construction.
"""

import os
import sys

import numpy as np
from skimage import data, io, transform

W, H = 384, 256
SCALE = 0.42
# Scale of the photos for larger shots (--size).
ZOOM = 1.0


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
    sh, sw = int(round(h * SCALE * ZOOM)), int(round(w * SCALE * ZOOM))
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
    if ZOOM != 1.0:
        bg = transform.rescale(bg, ZOOM, order=1, channel_axis=2)
    rgb, m = person()
    ph, pw = m.shape
    rng = np.random.default_rng(6)
    for t in range(frames):
        x0 = bg_x(t)
        y0 = int(60 * ZOOM)
        x0 = int(x0 * ZOOM)
        plate = bg[y0:y0 + H, x0:x0 + W].copy()
        frame = plate.copy()
        matte = np.zeros((H, W), dtype=bool)
        sx = int(subj_x(t) * ZOOM)
        top = int(subj_y * ZOOM)
        # Paste the part of the person that falls inside the frame.
        fx0, fx1 = max(sx, 0), min(sx + pw, W)
        fy0, fy1 = top, min(top + ph, H)
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


NEAR_TOP = 160


def make_parallax(outdir, name="parallax", frames=12):
    """Two background layers at different depths (far 3 px a frame, near 9 px a frame)."""
    far = data.coffee()[:, :, :3].astype(np.float64) / 255.0
    near = data.rocket()[:, :, :3].astype(np.float64) / 255.0
    if ZOOM != 1.0:
        far = transform.rescale(far, ZOOM, order=1, channel_axis=2)
        near = transform.rescale(near, ZOOM, order=1, channel_axis=2)
    rgb, m = person()
    ph, pw = m.shape
    top = int(NEAR_TOP * ZOOM)
    rng = np.random.default_rng(7)
    for t in range(frames):
        plate = far[int(60 * ZOOM):int(60 * ZOOM) + H, int((40 + 3 * t) * ZOOM):int((40 + 3 * t) * ZOOM) + W].copy()
        nx = int(9 * t * ZOOM)
        ny = near.shape[0] - (H - top)
        plate[top:] = near[ny:ny + H - top, nx:nx + W]
        frame = plate.copy()
        matte = np.zeros((H, W), dtype=bool)
        sx = int((60 + 5 * t) * ZOOM)
        sy = int((256 - 215) * ZOOM)
        fx0, fx1 = max(sx, 0), min(sx + pw, W)
        fy1 = min(sy + ph, H)
        if fx1 > fx0:
            sub_m = m[0:fy1 - sy, fx0 - sx:fx1 - sx]
            region = frame[sy:fy1, fx0:fx1]
            region[sub_m] = rgb[0:fy1 - sy, fx0 - sx:fx1 - sx][sub_m]
            matte[sy:fy1, fx0:fx1] = sub_m
        noisy = frame + rng.normal(0.0, 1.0 / 255.0, frame.shape)
        n = t + 1
        write(os.path.join(outdir, name, "shot", "%04d.png" % n), noisy)
        mf = matte.astype(np.float64)
        write(os.path.join(outdir, name, "matte", "%04d.png" % n), np.repeat(mf[:, :, None], 3, axis=2), mf)
        write(os.path.join(outdir, name, "plate", "%04d.png" % n), plate)


def make_lama_tiny(outdir):
    import hashlib
    import json

    import onnx
    from onnx import TensorProto, helper

    folder = os.path.join(outdir, "lama_tiny")
    os.makedirs(folder, exist_ok=True)
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 512, 512])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, 512, 512])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 512, 512])
    consts = [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
              helper.make_tensor("fill", TensorProto.FLOAT, [], [0.25]),
              helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0])]
    nodes = [
        helper.make_node("Sub", ["one", "mask"], ["keep"]),
        helper.make_node("Mul", ["image", "keep"], ["kept"]),
        helper.make_node("Mul", ["mask", "fill"], ["filled"]),
        helper.make_node("Add", ["kept", "filled"], ["unit"]),
        helper.make_node("Mul", ["unit", "scale"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "lama_tiny", [image, mask], [output], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="pixelspace-make-plate-shots")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(folder, "lama_tiny.onnx")
    onnx.save(model, path)
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "schema": 1, "name": "lama_tiny",
        "description": "LaMa's input/output contract with a fixed fill (test model)",
        "model": "lama_tiny.onnx", "sha256": sha,
        "licence": {"name": "MIT", "commercial_use": True, "source": "generated by tests/data/make_plate_shots.py", "url": None},
        "inputs": [
            {"name": "image", "clip": "Source", "frame_offset": 0, "layout": "nchw", "channels": "rgb",
             "range": [0.0, 1.0], "colour_space": "srgb"},
            {"name": "mask", "clip": "Mask", "frame_offset": 0, "layout": "nchw", "channels": "alpha",
             "range": [0.0, 1.0], "colour_space": "srgb"},
        ],
        "size": {"mode": "fixed", "width": 512, "height": 512},
        "outputs": [{"name": "output", "layout": "nchw", "channels": "rgb", "range": [0.0, 255.0],
                     "colour_space": "srgb", "apply": "replace"}],
    }
    with open(os.path.join(folder, "lama_tiny.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


SHOTS = {
    "lama_tiny": make_lama_tiny,
    "locked": lambda out: make(out, "locked", 24, lambda t: 100, lambda t: -40 + 7 * t, 256 - 215),
    "pan": lambda out: make(out, "pan", 12, lambda t: 60 + 3 * t, lambda t: 40 + 5 * t, 256 - 215),
    "static": lambda out: make(out, "static", 8, lambda t: 100, lambda t: 100, 256 - 215),
    "parallax": make_parallax,
}


def main():
    global W, H, ZOOM
    args = sys.argv[1:]
    if "--size" in args:
        i = args.index("--size")
        W, H = (int(v) for v in args[i + 1].split("x"))
        ZOOM = H / 256.0
        del args[i:i + 2]
    if not args:
        sys.exit("usage: make_plate_shots.py OUTDIR [SHOT...] [--size WxH]")
    out = args[0]
    for name in args[1:] or [n for n in SHOTS if n != "lama_tiny"]:
        SHOTS[name](out)
    print("wrote clean-plate shots to %s" % out)


if __name__ == "__main__":
    main()
