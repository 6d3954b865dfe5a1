#!/usr/bin/env python3
"""Behaviour check of a converted RIFE model on a real photo (no PyTorch needed).

Usage: python3 models/convert/check_rife.py OUTDIR   (the folder rife.py wrote)
Needs: numpy, onnxruntime, scikit-image (for the photo).

Two crops of scikit-image's `coffee` photo, 4 px apart horizontally, are the two frames; the
crop 2 px along is the true midpoint. The check fails unless:
  * the interpolated midpoint reaches MIN_PSNR dB against the true midpoint (a plain 50/50
    blend of the two frames is printed for comparison),
  * the flows say what happened: to img0 +2 px in x, to img1 -2 px, 0 in y (median, inner area),
  * the timestep is honoured: t = 0.25 matches the crop 1 px along better than the midpoint does,
  * the mask is a weight in [0, 1] and frame = mask*warp(img0) + (1-mask)*warp(img1) holds
    where both warps stay inside the frames,
  * outputs have the manifest's names, shapes and dtypes and are finite.
Sized 256x448 so it runs in a few seconds on 2 CPU cores.
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

MIN_PSNR = 35.0
H, W = 256, 448
SHIFT = 4
X0, Y0 = 60, 72           # top-left of the first crop inside the 400x600 photo
MARGIN = 8                # border excluded from the PSNR (content not in both frames)


def photo():
    from skimage import data
    return data.coffee().astype(np.float32) / 255.0      # 400x600x3 sRGB


def crop(img, dx):
    c = img[Y0:Y0 + H, X0 + dx:X0 + dx + W]
    return np.ascontiguousarray(c.transpose(2, 0, 1)[None])


def psnr(a, b):
    a = a[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
    b = b[..., MARGIN:-MARGIN, MARGIN:-MARGIN]
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def warp(img, flow):
    """Bilinear backward warp in numpy, border clamped: out(p) = img(p + flow(p))."""
    _, c, h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x = np.clip(xs + flow[0, 0], 0, w - 1)
    y = np.clip(ys + flow[0, 1], 0, h - 1)
    x0 = np.floor(x).astype(int)
    y0 = np.floor(y).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    i = img[0]
    out = (i[:, y0, x0] * (1 - fx) * (1 - fy) + i[:, y0, x1] * fx * (1 - fy)
           + i[:, y1, x0] * (1 - fx) * fy + i[:, y1, x1] * fx * fy)
    return out[None]


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    outdir = argv[1]
    with open(os.path.join(outdir, "rife.json")) as f:
        man = json.load(f)
    model = os.path.join(outdir, man["model"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    failures = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    names_in = [i.name for i in sess.get_inputs()]
    names_out = [o.name for o in sess.get_outputs()]
    check(names_in == ["img0", "img1", "timestep"], f"inputs {names_in}")
    check(names_out == ["frame", "flow", "mask"], f"outputs {names_out}")
    check(all(o.type == "tensor(float)" for o in sess.get_outputs() + sess.get_inputs()),
          "all tensors float32")

    src = photo()
    img0, img1 = crop(src, 0), crop(src, SHIFT)
    truth = crop(src, SHIFT // 2)
    quarter = crop(src, SHIFT // 4)

    def run(t):
        feed = {"img0": img0, "img1": img1, "timestep": np.full((1, 1, 1, 1), t, np.float32)}
        start = time.time()
        out = sess.run(None, feed)
        return dict(zip(names_out, out)), time.time() - start

    run(0.5)  # warm-up
    out, secs = run(0.5)
    frame, flow, mask = out["frame"], out["flow"], out["mask"]
    check(frame.shape == (1, 3, H, W) and flow.shape == (1, 4, H, W) and mask.shape == (1, 1, H, W),
          f"shapes frame {frame.shape}, flow {flow.shape}, mask {mask.shape}")
    check(all(np.all(np.isfinite(v)) for v in out.values()), "outputs finite")

    blend = 0.5 * (img0 + img1)
    p_rife, p_blend = psnr(frame, truth), psnr(blend, truth)
    check(p_rife >= MIN_PSNR,
          f"midpoint PSNR {p_rife:.2f} dB >= {MIN_PSNR} (plain blend {p_blend:.2f} dB), "
          f"{W}x{H} in {secs:.2f} s")

    inner = (Ellipsis, slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    med = [float(np.median(flow[0, c][inner])) for c in range(4)]
    want = [SHIFT / 2, 0.0, -SHIFT / 2, 0.0]
    check(all(abs(m - w) < 0.25 for m, w in zip(med, want)),
          "median flows (x0, y0, x1, y1) = (" + ", ".join(f"{m:+.3f}" for m in med)
          + f") px, expected ({', '.join(f'{w:+.1f}' for w in want)})")

    check(float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0,
          f"mask in [0, 1] (min {float(mask.min()):.3f}, max {float(mask.max()):.3f})")
    fused = mask * warp(img0, flow[:, 0:2]) + (1 - mask) * warp(img1, flow[:, 2:4])
    err = float(np.abs(fused - frame)[inner].max())
    check(err < 1e-3, f"frame = mask*warp(img0, flow01) + (1-mask)*warp(img1, flow23) (max diff {err:.2e})")

    out_q, _ = run(0.25)
    p_q_at_q, p_mid_at_q = psnr(out_q["frame"], quarter), psnr(frame, quarter)
    med_q = float(np.median(out_q["flow"][0, 0][inner]))
    check(p_q_at_q > p_mid_at_q + 3.0 and abs(med_q - SHIFT / 4) < 0.25,
          f"timestep 0.25: {p_q_at_q:.2f} dB vs the crop 1 px along (the t=0.5 frame: "
          f"{p_mid_at_q:.2f} dB), flow to img0 x {med_q:+.3f} px")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
