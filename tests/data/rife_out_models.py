#!/usr/bin/env python3
"""Writes models for the tests of our org.pixelspace:RifeBlockOutput operator: each one-node
model next to the standard ONNX ops it stands for.

Usage: python3 tests/data/rife_out_models.py OUTDIR
Needs: python3 -m pip install onnx

Inputs (float): conv [1,80,h,w] (5 result channels after a depth-to-space by 4) and, with
flow, flow [1,4,H,W] (h, w, H, W dynamic); outputs flow [1,4,H,W] and rest [1,1,4h,4w].
  own_s{1,2,16}.onnx      the operator at scale 1, 2 or 16, with the flow input
  own_s4_first.onnx       scale 4 without the flow input (a first block)
  own_s2_blank.onnx       scale 2 with the flow input named "" (omitted)
  std_s{1,2,16}.onnx, std_s4_first.onnx
                          the same from DepthToSpace, Slice, Mul, Resize and Add
  own_s2_any.onnx         scale 2, every dimension of both inputs dynamic (wrong shapes reach
                          the kernel and fail when run)
Models the operator must refuse when the session is created:
  bad_conv72.onnx         conv [1,72,h,w] (not 16 times a whole number of channels)
  bad_conv64.onnx         conv [1,64,h,w] (4 channels: no rest)
  bad_flow_size.onnx      conv [1,80,3,5] with flow [1,4,24,24] at scale 2 (24x40 expected)
  bad_scale3.onnx         scale 3
  bad_no_scale.onnx       no scale attribute
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

DOMAIN = "org.pixelspace"
OPSET = 17
IR_VERSION = 8


def value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save(outdir, name, nodes, inputs, outputs, initializers=(), own=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", OPSET)]
    if own:
        opsets.append(helper.make_opsetid(DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="pixelspace-rife-out-models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, name + ".onnx"))


def own(outdir, name, scale, with_flow=True, blank=False, conv_shape=None, flow_shape=None,
        attrs=None):
    conv_shape = conv_shape or [1, 80, "h", "w"]
    flow_shape = flow_shape or [1, 4, "H", "W"]
    names = ["conv", "flow"] if with_flow else (["conv", ""] if blank else ["conv"])
    attrs = {"scale": scale} if attrs is None else attrs
    node = helper.make_node("RifeBlockOutput", names, ["flow_out", "rest"], name="block_output",
                            domain=DOMAIN, **attrs)
    inputs = [value("conv", conv_shape)] + ([value("flow", flow_shape)] if with_flow else [])
    outputs = [value("flow_out", [1, 4, "H", "W"]), value("rest", [1, "C", "h4", "w4"])]
    save(outdir, name, [node], inputs, outputs)


def standard(outdir, name, scale, with_flow=True):
    """DepthToSpace(4, CRD), channels 0-3 times the scale, resized by the scale (linear,
    half_pixel) and added to the flow; channels 4.. as rest."""
    const = []

    def c(cname, arr):
        const.append(onnx.numpy_helper.from_array(np.asarray(arr), cname))
        return cname

    nodes = [helper.make_node("DepthToSpace", ["conv"], ["d"], blocksize=4, mode="CRD")]
    nodes.append(helper.make_node("Slice", ["d", c("s0", np.array([0], np.int64)),
                                            c("s4", np.array([4], np.int64)),
                                            c("axis", np.array([1], np.int64))], ["delta"]))
    nodes.append(helper.make_node("Slice", ["d", "s4", c("end", np.array([2**62], np.int64)),
                                            "axis"], ["rest"]))
    up = "delta"
    if scale != 1:
        nodes.append(helper.make_node("Mul", ["delta", c("k", np.array(float(scale),
                                                                        np.float32))],
                                      ["scaled"]))
        nodes.append(helper.make_node(
            "Resize", ["scaled", "", c("scales", np.array([1, 1, scale, scale], np.float32))],
            ["up"], mode="linear", coordinate_transformation_mode="half_pixel"))
        up = "up"
    if with_flow:
        nodes.append(helper.make_node("Add", ["flow", up], ["flow_out"]))
    else:
        nodes.append(helper.make_node("Identity", [up], ["flow_out"]))
    inputs = [value("conv", [1, 80, "h", "w"])] + (
        [value("flow", [1, 4, "H", "W"])] if with_flow else [])
    outputs = [value("flow_out", [1, 4, "H", "W"]), value("rest", [1, "C", "h4", "w4"])]
    save(outdir, name, nodes, inputs, outputs, const, own=False)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for s in (1, 2, 16):
        own(outdir, f"own_s{s}", s)
        standard(outdir, f"std_s{s}", s)
    own(outdir, "own_s4_first", 4, with_flow=False)
    standard(outdir, "std_s4_first", 4, with_flow=False)
    own(outdir, "own_s2_blank", 2, with_flow=False, blank=True)
    own(outdir, "own_s2_any", 2, conv_shape=["a", "b", "c", "d"], flow_shape=["e", "f", "g", "i"])
    own(outdir, "bad_conv72", 2, conv_shape=[1, 72, "h", "w"])
    own(outdir, "bad_conv64", 2, conv_shape=[1, 64, "h", "w"])
    own(outdir, "bad_flow_size", 2, conv_shape=[1, 80, 3, 5], flow_shape=[1, 4, 24, 24])
    own(outdir, "bad_scale3", 3)
    own(outdir, "bad_no_scale", 2, attrs={})


if __name__ == "__main__":
    main()
