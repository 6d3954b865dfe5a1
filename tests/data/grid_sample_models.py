#!/usr/bin/env python3
"""Writes one-node GridSample models for the tests of our org.pixelspace:GridSample operator.

Usage: python3 tests/data/grid_sample_models.py OUTDIR
Needs: python3 -m pip install onnx

Every model has inputs X [N,C,H,W] and grid [N,H_out,W_out,2] (float, dynamic sizes) and the
output Y. For PADDING in zeros, border and ALIGN in 0, 1:
  std_PADDING_acALIGN.onnx      the standard GridSample (opset 16, mode "bilinear")
  custom_PADDING_acALIGN.onnx   the same node in domain org.pixelspace (version 1)
  custom_defaults.onnx          org.pixelspace GridSample without attributes (linear, zeros, 0)
  custom_linear.onnx            mode "linear" (the opset 20 name), border, align_corners 1
  custom_unranked.onnx          border, align_corners 0; X and grid of unknown rank (flat
                                inputs X_flat, grid_flat reshaped by int64 x_shape, grid_shape)
  custom_unnamed_sizes.onnx     border, align_corners 1; the grid is the input grid_half
                                [N,h,w,2] enlarged 2x by a Resize with computed sizes (so its
                                sizes are unknown and unnamed), and Y = GridSample's output padded
                                by 1 on every side: Y's sizes must stay dynamic
Models the operator must refuse with a clear error (at session creation or when run):
  bad_nearest.onnx, bad_bicubic.onnx   modes other than linear
  bad_reflection.onnx                  padding_mode reflection
  bad_5d.onnx                          X [1,1,2,3,4] and grid [1,2,3,4,3] (5-D, volumetric)
  bad_grid3.onnx                       grid [N,H_out,W_out,3]
  bad_grid_dynamic.onnx                grid with unknown sizes (a wrong last dim shows at run)
"""

import os
import sys

import onnx
from onnx import TensorProto, helper

DOMAIN = "org.pixelspace"
OPSET = 16
IR_VERSION = 8


def save(outdir, name, node_domain, attrs, x_shape=("N", "C", "H", "W"),
         grid_shape=("N", "Ho", "Wo", 2), y_shape=("N", "C", "Ho", "Wo")):
    node = helper.make_node("GridSample", ["X", "grid"], ["Y"], name="warp", domain=node_domain,
                            **attrs)
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape),
         helper.make_tensor_value_info("grid", TensorProto.FLOAT, grid_shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)])
    opsets = [helper.make_opsetid("", OPSET)]
    if node_domain:
        opsets.append(helper.make_opsetid(DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="pixelspace-grid-sample-models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, name + ".onnx"))


def save_unranked(outdir):
    """custom_unranked.onnx: X and grid reach the node with unknown rank (each is a flat input
    reshaped by a shape input of unknown length): X_flat, x_shape, grid_flat, grid_shape."""
    nodes = [helper.make_node("Reshape", ["X_flat", "x_shape"], ["X"]),
             helper.make_node("Reshape", ["grid_flat", "grid_shape"], ["grid"]),
             helper.make_node("GridSample", ["X", "grid"], ["Y"], name="warp", domain=DOMAIN,
                              mode="bilinear", padding_mode="border", align_corners=0)]
    graph = helper.make_graph(
        nodes, "custom_unranked",
        [helper.make_tensor_value_info("X_flat", TensorProto.FLOAT, ["L"]),
         helper.make_tensor_value_info("x_shape", TensorProto.INT64, ["K"]),
         helper.make_tensor_value_info("grid_flat", TensorProto.FLOAT, ["M"]),
         helper.make_tensor_value_info("grid_shape", TensorProto.INT64, ["J"])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ("N", "C", "Ho", "Wo"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(DOMAIN, 1)],
                              producer_name="pixelspace-grid-sample-models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, "custom_unranked.onnx"))


def save_unnamed_sizes(outdir):
    """custom_unnamed_sizes.onnx: the grid reaches the node with sizes ONNX cannot name (a
    Resize to sizes computed from a shape), and a standard op follows the node."""
    nodes = [
        helper.make_node("Shape", ["grid_half"], ["half_shape"]),
        helper.make_node("Mul", ["half_shape", "twice"], ["sizes"]),
        helper.make_node("Resize", ["grid_half", "", "", "sizes"], ["grid"], mode="nearest"),
        helper.make_node("GridSample", ["X", "grid"], ["warped"], name="warp", domain=DOMAIN,
                         mode="bilinear", padding_mode="border", align_corners=1),
        helper.make_node("Pad", ["warped", "pads"], ["Y"], mode="edge"),
    ]
    twice = helper.make_tensor("twice", TensorProto.INT64, [4], [1, 2, 2, 1])
    pads = helper.make_tensor("pads", TensorProto.INT64, [8], [0, 0, 1, 1, 0, 0, 1, 1])
    graph = helper.make_graph(
        nodes, "custom_unnamed_sizes",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ("N", "C", "H", "W")),
         helper.make_tensor_value_info("grid_half", TensorProto.FLOAT, ("N", "h", "w", 2))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ("N", "C", "Ho", "Wo"))],
        initializer=[twice, pads])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(DOMAIN, 1)],
                              producer_name="pixelspace-grid-sample-models")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(outdir, "custom_unnamed_sizes.onnx"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for padding in ("zeros", "border"):
        for align in (0, 1):
            attrs = {"mode": "bilinear", "padding_mode": padding, "align_corners": align}
            save(outdir, f"std_{padding}_ac{align}", "", attrs)
            save(outdir, f"custom_{padding}_ac{align}", DOMAIN, attrs)
    save(outdir, "custom_defaults", DOMAIN, {})
    save(outdir, "custom_linear", DOMAIN,
         {"mode": "linear", "padding_mode": "border", "align_corners": 1})
    save_unranked(outdir)
    save_unnamed_sizes(outdir)
    save(outdir, "bad_nearest", DOMAIN, {"mode": "nearest"})
    save(outdir, "bad_bicubic", DOMAIN, {"mode": "bicubic"})
    save(outdir, "bad_reflection", DOMAIN, {"mode": "bilinear", "padding_mode": "reflection"})
    save(outdir, "bad_5d", DOMAIN, {"mode": "bilinear"}, (1, 1, 2, 3, 4), (1, 2, 3, 4, 3),
         (1, 1, 2, 3, 4))
    save(outdir, "bad_grid3", DOMAIN, {"mode": "bilinear"}, grid_shape=("N", "Ho", "Wo", 3))
    save(outdir, "bad_grid_dynamic", DOMAIN, {"mode": "bilinear"},
         grid_shape=("N", "Ho", "Wo", "K"))


if __name__ == "__main__":
    main()
