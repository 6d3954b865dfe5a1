#!/usr/bin/env python3
"""Writes one-node models for the tests of our org.pixelspace:RifeBlockInput operator.

Usage: python3 tests/data/rife_op_models.py OUTDIR
Needs: python3 -m pip install onnx

Inputs (float): img0, img1 [1,3,H,W], feats [2,4,H,W], timestep [1,1,1,1] and, with flow,
flow [1,4,H,W] and rest [1,9,h,w] (H, W, h, w dynamic); output x.
  flow_s2.onnx         scale 2, with flow and rest: x [1,28,Ho,Wo]
  flow_s1.onnx         scale 1, with flow and rest: x [1,28,H,W]
  plain_s4.onnx        scale 4, the four inputs only: x [1,15,Ho,Wo]
  plain_s4_blank.onnx  plain_s4 with the optional inputs named "" (omitted) instead of left off,
                       x [N,C,Ho,Wo] (the operator's shape inference gives [1,15,?,?])
  flow_s2_any.onnx     scale 2, with flow and rest, every dimension of every input dynamic (so
                       wrong shapes reach the kernel and fail when run)
  flow_s2_padded.onnx  flow_s2 followed by an edge Pad of 1 on every side: its output's sizes
                       must stay dynamic (x [1,28,Ho,Wo])
With feats_block 2: feats [2,16,Hh,Wh], the features before a depth-to-space by 2 (CRD):
  d2s_flow_s1.onnx     scale 1, with flow and rest
  d2s_flow_s4.onnx     scale 4, with flow and rest
  d2s_plain_s2.onnx    scale 2, the four inputs only
  d2s_flow_s2_any.onnx scale 2, with flow and rest, every dimension dynamic
  onnx_d2s_flow_s1.onnx, onnx_d2s_flow_s4.onnx, onnx_d2s_plain_s2.onnx: the same inputs, but
                       an ONNX DepthToSpace (blocksize 2, CRD) node turns feats into [2,4,H,W]
                       for an operator with the default feats_block (must give the same bits)
Models the operator must refuse when the session is created:
  bad_feats3.onnx      feats [2,3,H,W]
  bad_rest_size.onnx   fixed 16x16 frames at scale 2 with rest [1,9,5,5] (4x4 expected)
  bad_height.onnx      fixed 18x16 frames at scale 4 (18 is not a multiple of 4)
  bad_scale3.onnx      scale 3
  bad_no_scale.onnx    no scale attribute
  bad_flow_only.onnx   flow without rest (5 inputs)
  bad_d2s_feats15.onnx feats_block 2 with feats [2,15,Hh,Wh]
  bad_d2s_odd.onnx     feats_block 2 with fixed 8x7 frames at scale 1 (7 is odd)
  bad_feats_block3.onnx feats_block 3
"""

import os
import sys

import onnx
from onnx import TensorProto, helper

DOMAIN = "org.pixelspace"
OPSET = 17
IR_VERSION = 8

FLOW_INPUTS = ["img0", "img1", "feats", "timestep", "flow", "rest"]


def shapes(h="H", w="W", rest=("h", "w"), feats_channels=4, feats_hw=None):
    feats_hw = feats_hw or (h, w)
    return {
        "img0": [1, 3, h, w],
        "img1": [1, 3, h, w],
        "feats": [2, feats_channels, feats_hw[0], feats_hw[1]],
        "timestep": [1, 1, 1, 1],
        "flow": [1, 4, h, w],
        "rest": [1, 9, rest[0], rest[1]],
    }


D2S_SHAPES = shapes(feats_channels=16, feats_hw=("Hh", "Wh"))


def save(outdir, name, inputs, out_shape, attrs, input_shapes=None, pad=False, d2s=False):
    """`d2s`: feats go through an ONNX DepthToSpace (blocksize 2, CRD) before the operator."""
    input_shapes = input_shapes or shapes()
    op_out = "block_x" if pad else "x"
    op_inputs = list(inputs)
    nodes = []
    if d2s:
        nodes.append(helper.make_node("DepthToSpace", ["feats"], ["feats_spaced"],
                                      name="depth_to_space", blocksize=2, mode="CRD"))
        op_inputs[2] = "feats_spaced"
    nodes.append(helper.make_node("RifeBlockInput", op_inputs, [op_out], name="block_input",
                                  domain=DOMAIN, **attrs))
    initializers = []
    if pad:
        nodes.append(helper.make_node("Pad", [op_out, "pads"], ["x"], mode="edge"))
        initializers.append(helper.make_tensor("pads", TensorProto.INT64, [8],
                                               [0, 0, 1, 1, 0, 0, 1, 1]))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(i, TensorProto.FLOAT, input_shapes[i])
         for i in inputs if i],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, out_shape)],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(DOMAIN, 1)],
                              producer_name="pixelspace-rife-op-models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, name + ".onnx"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    plain = FLOW_INPUTS[:4]
    save(outdir, "flow_s2", FLOW_INPUTS, [1, 28, "Ho", "Wo"], {"scale": 2})
    save(outdir, "flow_s1", FLOW_INPUTS, [1, 28, "H", "W"], {"scale": 1})
    save(outdir, "plain_s4", plain, [1, 15, "Ho", "Wo"], {"scale": 4})
    save(outdir, "plain_s4_blank", plain + ["", ""], ["N", "C", "Ho", "Wo"], {"scale": 4})
    anything = {name: [f"{name}_{d}" for d in "NCHW"] for name in FLOW_INPUTS}
    save(outdir, "flow_s2_any", FLOW_INPUTS, ["N", "C", "Ho", "Wo"], {"scale": 2}, anything)
    save(outdir, "flow_s2_padded", FLOW_INPUTS, [1, 28, "Ho", "Wo"], {"scale": 2}, pad=True)
    save(outdir, "bad_feats3", plain, [1, 15, "Ho", "Wo"], {"scale": 2},
         shapes(feats_channels=3))
    save(outdir, "bad_rest_size", FLOW_INPUTS, [1, 28, 8, 8], {"scale": 2},
         shapes(16, 16, (5, 5)))
    save(outdir, "bad_height", plain, [1, 15, 4, 4], {"scale": 4}, shapes(18, 16))
    save(outdir, "bad_scale3", plain, [1, 15, "Ho", "Wo"], {"scale": 3})
    save(outdir, "bad_no_scale", plain, [1, 15, "Ho", "Wo"], {})
    save(outdir, "bad_flow_only", FLOW_INPUTS[:5], [1, 28, "Ho", "Wo"], {"scale": 2})
    for name, inputs, scale, channels in (("flow_s1", FLOW_INPUTS, 1, 28),
                                          ("flow_s4", FLOW_INPUTS, 4, 28),
                                          ("plain_s2", plain, 2, 15)):
        out = [1, channels, "Ho", "Wo"]
        save(outdir, "d2s_" + name, inputs, out, {"scale": scale, "feats_block": 2}, D2S_SHAPES)
        save(outdir, "onnx_d2s_" + name, inputs, out, {"scale": scale}, D2S_SHAPES, d2s=True)
    save(outdir, "d2s_flow_s2_any", FLOW_INPUTS, ["N", "C", "Ho", "Wo"],
         {"scale": 2, "feats_block": 2}, anything)
    save(outdir, "bad_d2s_feats15", plain, [1, 15, "Ho", "Wo"], {"scale": 2, "feats_block": 2},
         shapes(feats_channels=15, feats_hw=("Hh", "Wh")))
    save(outdir, "bad_d2s_odd", plain, [1, 15, 7, 8], {"scale": 1, "feats_block": 2},
         shapes(7, 8, feats_channels=16, feats_hw=("Hh", "Wh")))
    save(outdir, "bad_feats_block3", plain, [1, 15, "Ho", "Wo"], {"scale": 2, "feats_block": 3},
         D2S_SHAPES)


if __name__ == "__main__":
    main()
