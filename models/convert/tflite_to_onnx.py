#!/usr/bin/env python3
"""Converts a TFLite flatbuffer to an ONNX model, without TensorFlow.

Usage as a module:  onnx_model = convert(tflite_bytes, rename={"input_1": "image"})
Usage as a tool:    python3 models/convert/tflite_to_onnx.py IN.tflite OUT.onnx [--rename OLD=NEW]...
                    python3 models/convert/tflite_to_onnx.py --ops IN.tflite   (list the ops a model uses)
Needs: python3 -m pip install tflite flatbuffers onnx numpy

The reader uses the generated flatbuffer classes of the `tflite` package. It covers the float
models MediaPipe ships: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and MediaPipe's custom
Convolution2DTransposeBias (both become ConvTranspose), MAX/AVERAGE_POOL_2D, ADD, SUB, MUL, DIV,
RELU, RELU6, PRELU, LOGISTIC, TANH, HARD_SWISH, PAD, RESHAPE, CONCATENATION, RESIZE_BILINEAR,
RESIZE_NEAREST_NEIGHBOR, MEAN, DEPTH_TO_SPACE, and DEQUANTIZE of float16 or int8 constants and
DENSIFY of sparse constants (both folded: the ONNX model carries dense float32 weights). Anything
else is refused with the op's name.

Layout: the ONNX model keeps the TFLite contract at its boundary (NHWC inputs and outputs with the
same shapes, batch fixed at 1). Inside, 4-D activations are NCHW, the layout ONNX convolutions
take; Transposes are inserted only where a tensor crosses between the two (model inputs and
outputs, RESHAPE). Weights are re-laid out once at conversion time. Conversion is deterministic:
the same .tflite gives byte-identical ONNX.
"""

import argparse
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.TensorType import TensorType

OPSET = 17
IR_VERSION = 8

OP_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
# NHWC axis -> NCHW axis, for 4-D tensors.
AXIS_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}

NP_TYPES = {
    TensorType.FLOAT32: np.float32, TensorType.FLOAT16: np.float16, TensorType.INT32: np.int32,
    TensorType.INT64: np.int64, TensorType.INT8: np.int8, TensorType.UINT8: np.uint8,
    TensorType.INT16: np.int16, TensorType.BOOL: np.bool_,
}

TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}

# tflite schema enums
PADDING_SAME, PADDING_VALID = 0, 1
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6, ACT_TANH = 0, 1, 2, 3, 4


class ConversionError(Exception):
    """The model uses something this converter does not handle; the message says what."""


def _options(op, cls):
    table = op.BuiltinOptions()
    if table is None:
        return None
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


def op_name(model, op):
    """Builtin op name, or CUSTOM:<code> for custom ops."""
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == BuiltinOperator.CUSTOM:
        return "CUSTOM:" + code.CustomCode().decode()
    return OP_NAMES.get(builtin, str(builtin))


def same_pads(in_size, kernel, stride, dilation=1):
    """TensorFlow SAME padding for one spatial dim: (before, after); the extra pixel goes after."""
    out = -(-in_size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2, total - total // 2


def _index_vector(table_type, table):
    """The values of a SparseIndexVector union member (Int32, Uint16 or Uint8 vector)."""
    from tflite.Int32Vector import Int32Vector
    from tflite.SparseIndexVector import SparseIndexVector
    from tflite.Uint16Vector import Uint16Vector
    from tflite.Uint8Vector import Uint8Vector
    classes = {SparseIndexVector.Int32Vector: Int32Vector, SparseIndexVector.Uint16Vector: Uint16Vector,
               SparseIndexVector.Uint8Vector: Uint8Vector}
    if table_type not in classes or table is None:
        raise ConversionError(f"sparse index vector of type {table_type} is not supported")
    vec = classes[table_type]()
    vec.Init(table.Bytes, table.Pos)
    return vec.ValuesAsNumpy().astype(np.int64) if vec.ValuesLength() else np.zeros(0, np.int64)


def densify(values, sparsity, shape, name):
    """The dense array of a TFLite sparse constant (what the DENSIFY op computes).

    The stored values are listed in traversal order: dimension `traversal_order[k]` is walked at
    level k; a DENSE level has `dense_size` entries, a SPARSE_CSR level lists, for each position
    of the level above, its present indices (array_indices[segments[p]:segments[p + 1]]). Levels
    past the tensor's rank split a dimension (`block_map`) into blocks of `dense_size`. The walk
    is done level by level over all positions at once, which keeps the traversal order."""
    from tflite.DimensionType import DimensionType
    rank = len(shape)
    order = [int(v) for v in sparsity.TraversalOrderAsNumpy()]
    block_map = [int(v) for v in sparsity.BlockMapAsNumpy()] if sparsity.BlockMapLength() else []
    levels = sparsity.DimMetadataLength()
    if levels != len(order):
        raise ConversionError(f"sparse tensor '{name}': {levels} levels for {len(order)} traversal entries")
    block_size = [sparsity.DimMetadata(rank + b).DenseSize() for b in range(len(block_map))]
    prev = np.zeros(1, np.int64)                 # position within the level above
    coords = np.zeros((1, 0), np.int64)          # index at each level walked so far
    for level in range(levels):
        meta = sparsity.DimMetadata(level)
        if meta.Format() == DimensionType.DENSE:
            size = meta.DenseSize()
            child = np.arange(size, dtype=np.int64)
            prev_new = (prev[:, None] * size + child[None, :]).reshape(-1)
            idx = np.tile(child, prev.size)
            coords = np.repeat(coords, size, axis=0)
        else:
            segments = _index_vector(meta.ArraySegmentsType(), meta.ArraySegments())
            indices = _index_vector(meta.ArrayIndicesType(), meta.ArrayIndices())
            starts, ends = segments[prev], segments[prev + 1]
            counts = ends - starts
            prev_new = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in zip(starts, ends)]) \
                if counts.sum() else np.zeros(0, np.int64)
            idx = indices[prev_new]
            coords = np.repeat(coords, counts, axis=0)
        coords = np.concatenate([coords, idx[:, None]], axis=1)
        prev = prev_new
    if coords.shape[0] != values.size:
        raise ConversionError(f"sparse tensor '{name}': {values.size} values for {coords.shape[0]} positions")
    full = np.zeros((coords.shape[0], rank), np.int64)
    for level in range(rank):
        full[:, order[level]] = coords[:, level]
    for level in range(rank, levels):
        b = order[level] - rank
        dim = block_map[b]
        full[:, dim] = full[:, dim] * block_size[b] + coords[:, level]
    dense = np.zeros(shape, values.dtype)
    dense[tuple(full.T)] = values
    return dense


class Converter:
    """One TFLite subgraph -> one ONNX graph."""

    def __init__(self, data, rename=None):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError(f"expected one subgraph, found {self.model.SubgraphsLength()}")
        self.graph = self.model.Subgraphs(0)
        self.rename = dict(rename or {})
        self.nodes = []
        self.inits = []
        self.consts = {}   # tflite tensor index -> numpy array (weights, folded DEQUANTIZE)
        self.env = {}      # tflite tensor index -> (onnx name, "nchw" | "tf")
        self.cache = {}    # (onnx name, wanted layout) -> onnx name
        self.counter = 0
        # DENSIFY turns a sparse constant into a dense one of the same type (float16 here);
        # its output is folded at conversion time, so it may be a non-float32 tensor.
        densified = set()
        for k in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(k)
            if op_name(self.model, op) == "DENSIFY":
                densified.update(int(x) for x in op.OutputsAsNumpy())
        for i in range(self.graph.TensorsLength()):
            value = self._buffer(i)
            if value is not None:
                self.consts[i] = value
            elif self.tensor(i).Type() != TensorType.FLOAT32 and i not in densified:
                raise ConversionError(f"tensor '{self.tname(i)}' is a computed {TYPE_NAMES.get(self.tensor(i).Type())} "
                                      "tensor; only float32 activations are supported (no quantised models)")

    # ---- tensors -------------------------------------------------------------------------
    def tensor(self, i):
        return self.graph.Tensors(i)

    def tname(self, i):
        return self.tensor(i).Name().decode()

    def shape(self, i):
        return [int(d) for d in self.tensor(i).ShapeAsNumpy()] if self.tensor(i).ShapeLength() else []

    def _buffer(self, i):
        t = self.tensor(i)
        buf = self.model.Buffers(t.Buffer())
        if buf is None or buf.DataLength() == 0:
            return None
        if t.Type() not in NP_TYPES:
            raise ConversionError(f"tensor '{t.Name().decode()}' has unsupported type {t.Type()}")
        raw = buf.DataAsNumpy().tobytes()
        values = np.frombuffer(raw, dtype=NP_TYPES[t.Type()])
        if t.Sparsity() is not None:
            return densify(values, t.Sparsity(), self.shape(i), t.Name().decode())
        return values.reshape(self.shape(i)).copy()

    def fresh(self, hint):
        self.counter += 1
        return f"{hint}_{self.counter}"

    def const_name(self, array, hint):
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type, inputs, hint, **attrs):
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def get(self, i, layout):
        """ONNX name of TFLite tensor i in the wanted layout ("nchw" or "tf")."""
        if i in self.consts:
            value = self.consts[i].astype(np.float32) if self.consts[i].dtype == np.float16 else self.consts[i]
            if layout == "nchw" and value.ndim == 4:
                value = value.transpose(NHWC_TO_NCHW)
            key = (f"const{i}", layout)
            if key not in self.cache:
                self.cache[key] = self.const_name(value, f"c{i}")
            return self.cache[key]
        name, have = self.env[i]
        if have == layout or len(self.shape(i)) != 4:
            return name
        key = (name, layout)
        if key not in self.cache:
            perm = NHWC_TO_NCHW if layout == "nchw" else NCHW_TO_NHWC
            self.cache[key] = self.node("Transpose", [name], "transpose", perm=list(perm))
        return self.cache[key]

    def layout_of(self, i):
        if i in self.consts:
            return None
        return self.env[i][1]

    def broadcast_const(self, i, rank_layout):
        """A constant operand of a binary op, reshaped to broadcast against an NCHW 4-D tensor."""
        value = self.consts[i].astype(np.float32) if self.consts[i].dtype == np.float16 else self.consts[i]
        if rank_layout == "nchw":
            value = value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(NHWC_TO_NCHW)
        return self.const_name(value, f"c{i}")

    def activation(self, name, act):
        if act == ACT_NONE:
            return name
        if act == ACT_RELU:
            return self.node("Relu", [name], "relu")
        if act == ACT_RELU6:
            return self.clip(name, 0.0, 6.0)
        if act == ACT_RELU_N1_TO_1:
            return self.clip(name, -1.0, 1.0)
        if act == ACT_TANH:
            return self.node("Tanh", [name], "tanh")
        raise ConversionError(f"fused activation {act} is not supported")

    def clip(self, name, lo, hi):
        return self.node("Clip", [name, self.const_name(np.array(lo, np.float32), "lo"),
                                  self.const_name(np.array(hi, np.float32), "hi")], "clip")

    # ---- ops -----------------------------------------------------------------------------
    def convert(self):
        g = self.graph
        inputs, outputs = [], []
        for k in range(g.InputsLength()):
            i = g.Inputs(k)
            name = self.rename.get(self.tname(i), self.tname(i))
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(i)))
            self.env[i] = (name, "tf")
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            kind = op_name(self.model, op)
            handler = getattr(self, "op_" + kind.replace("CUSTOM:", "custom_"), None)
            if handler is None:
                raise ConversionError(f"operator {kind} (op #{k}) is not supported by this converter")
            ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
            outs = [int(x) for x in op.OutputsAsNumpy()]
            result = handler(op, ins, outs)
            if result is not None:
                name, layout = result
                self.env[outs[0]] = (name, layout)
        for k in range(g.OutputsLength()):
            i = g.Outputs(k)
            name = self.rename.get(self.tname(i), self.tname(i))
            self.nodes.append(helper.make_node("Identity", [self.get(i, "tf")], [name], name=name))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.shape(i)))
        graph = helper.make_graph(self.nodes, "tflite_graph", inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="pixelspace-tflite-to-onnx")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model

    def op_DEQUANTIZE(self, op, ins, outs):
        if ins[0] not in self.consts:
            return self.node("Cast", [self.get(ins[0], self.layout_of(ins[0]))], "cast",
                             to=TensorProto.FLOAT), self.layout_of(ins[0])
        value = self.consts[ins[0]]
        if value.dtype == np.float16:
            self.consts[outs[0]] = value.astype(np.float32)
            return None
        q = self.tensor(ins[0]).Quantization()
        if q is None or q.ScaleLength() == 0:
            raise ConversionError(f"DEQUANTIZE of '{self.tname(ins[0])}' has no quantisation parameters")
        scale = q.ScaleAsNumpy().astype(np.float32)
        zero = q.ZeroPointAsNumpy().astype(np.float32) if q.ZeroPointLength() else np.zeros_like(scale)
        if scale.size > 1:
            shape = [1] * value.ndim
            shape[q.QuantizedDimension()] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        self.consts[outs[0]] = ((value.astype(np.float32) - zero) * scale).astype(np.float32)
        return None

    def _conv_pads(self, x, kh, kw, opts, dil_h=1, dil_w=1):
        _, h, w, _ = self.shape(x)
        if opts.Padding() == PADDING_SAME:
            top, bottom = same_pads(h, kh, opts.StrideH(), dil_h)
            left, right = same_pads(w, kw, opts.StrideW(), dil_w)
            return [top, left, bottom, right]
        return [0, 0, 0, 0]

    def op_DENSIFY(self, op, ins, outs):
        # The sparse constant was densified when it was read; the op only forwards it.
        if ins[0] not in self.consts:
            raise ConversionError(f"DENSIFY of the computed tensor '{self.tname(ins[0])}' is not supported")
        self.consts[outs[0]] = self.consts[ins[0]]
        return None

    def op_DEPTH_TO_SPACE(self, op, ins, outs):
        from tflite.DepthToSpaceOptions import DepthToSpaceOptions
        o = _options(op, DepthToSpaceOptions)
        # TensorFlow's order (block row, block column, channel) is ONNX's DCR mode.
        return self.node("DepthToSpace", [self.get(ins[0], "nchw")], "depth_to_space",
                         blocksize=o.BlockSize(), mode="DCR"), "nchw"

    def op_CONV_2D(self, op, ins, outs):
        from tflite.Conv2DOptions import Conv2DOptions
        o = _options(op, Conv2DOptions)
        weight = self.consts[ins[1]].astype(np.float32)          # [O, kh, kw, I]
        cin = self.shape(ins[0])[3]
        group = cin // weight.shape[3]
        args = [self.get(ins[0], "nchw"), self.const_name(weight.transpose(0, 3, 1, 2), "w")]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.const_name(self.consts[ins[2]].astype(np.float32), "b"))
        dh, dw = o.DilationHFactor() or 1, o.DilationWFactor() or 1
        y = self.node("Conv", args, "conv", kernel_shape=list(weight.shape[1:3]),
                      strides=[o.StrideH(), o.StrideW()], dilations=[dh, dw], group=group,
                      pads=self._conv_pads(ins[0], weight.shape[1], weight.shape[2], o, dh, dw))
        return self.activation(y, o.FusedActivationFunction()), "nchw"

    def op_DEPTHWISE_CONV_2D(self, op, ins, outs):
        from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions
        o = _options(op, DepthwiseConv2DOptions)
        weight = self.consts[ins[1]].astype(np.float32)          # [1, kh, kw, C*M]
        cin = self.shape(ins[0])[3]
        args = [self.get(ins[0], "nchw"), self.const_name(weight.transpose(3, 0, 1, 2), "w")]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.const_name(self.consts[ins[2]].astype(np.float32), "b"))
        dh, dw = o.DilationHFactor() or 1, o.DilationWFactor() or 1
        y = self.node("Conv", args, "dwconv", kernel_shape=list(weight.shape[1:3]),
                      strides=[o.StrideH(), o.StrideW()], dilations=[dh, dw], group=cin,
                      pads=self._conv_pads(ins[0], weight.shape[1], weight.shape[2], o, dh, dw))
        return self.activation(y, o.FusedActivationFunction()), "nchw"

    def _transpose_conv(self, x, weight, bias, padding, stride_h, stride_w, out):
        """ConvTranspose from TFLite weights [O, kh, kw, I]; output size checked against `out`."""
        _, h, w, _ = self.shape(x)
        kh, kw = weight.shape[1], weight.shape[2]
        if padding == PADDING_SAME:
            want_h, want_w = h * stride_h, w * stride_w
        else:
            want_h, want_w = (h - 1) * stride_h + kh, (w - 1) * stride_w + kw
        th, tw = max((h - 1) * stride_h + kh - want_h, 0), max((w - 1) * stride_w + kw - want_w, 0)
        pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
        oh = (h - 1) * stride_h + kh - th
        ow = (w - 1) * stride_w + kw - tw
        if [oh, ow] != self.shape(out)[1:3]:
            raise ConversionError(f"transposed convolution '{self.tname(out)}' gives {oh}x{ow}, "
                                  f"the model says {self.shape(out)[1:3]}")
        args = [self.get(x, "nchw"), self.const_name(weight.transpose(3, 0, 1, 2), "w")]
        if bias is not None:
            args.append(self.const_name(bias.astype(np.float32), "b"))
        return self.node("ConvTranspose", args, "deconv", kernel_shape=[kh, kw],
                         strides=[stride_h, stride_w], pads=pads)

    def op_custom_Convolution2DTransposeBias(self, op, ins, outs):
        # MediaPipe's op: inputs (x, weights [O,kh,kw,I], bias [O]); custom options are the raw
        # TfLiteTransposeConvParams struct {padding (1 = SAME, 2 = VALID), stride_w, stride_h}.
        raw = op.CustomOptionsAsNumpy().tobytes()
        padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
        if padding not in (1, 2):
            raise ConversionError(f"Convolution2DTransposeBias padding {padding} is unknown")
        y = self._transpose_conv(ins[0], self.consts[ins[1]].astype(np.float32), self.consts[ins[2]],
                                 PADDING_SAME if padding == 1 else PADDING_VALID, stride_h, stride_w, outs[0])
        return y, "nchw"

    def op_TRANSPOSE_CONV(self, op, ins, outs):
        from tflite.TransposeConvOptions import TransposeConvOptions
        o = _options(op, TransposeConvOptions)
        bias = self.consts[ins[3]] if len(ins) > 3 and ins[3] >= 0 else None
        y = self._transpose_conv(ins[2], self.consts[ins[1]].astype(np.float32), bias, o.Padding(),
                                 o.StrideH(), o.StrideW(), outs[0])
        return self.activation(y, o.FusedActivationFunction()), "nchw"

    def _pool(self, op, ins, onnx_op):
        from tflite.Pool2DOptions import Pool2DOptions
        o = _options(op, Pool2DOptions)
        kh, kw = o.FilterHeight(), o.FilterWidth()
        attrs = dict(kernel_shape=[kh, kw], strides=[o.StrideH(), o.StrideW()],
                     pads=self._conv_pads(ins[0], kh, kw, o))
        if onnx_op == "AveragePool":
            attrs["count_include_pad"] = 0   # TFLite averages over the valid pixels only
        y = self.node(onnx_op, [self.get(ins[0], "nchw")], onnx_op.lower(), **attrs)
        return self.activation(y, o.FusedActivationFunction()), "nchw"

    def op_MAX_POOL_2D(self, op, ins, outs):
        return self._pool(op, ins, "MaxPool")

    def op_AVERAGE_POOL_2D(self, op, ins, outs):
        return self._pool(op, ins, "AveragePool")

    def _binary(self, op, ins, outs, onnx_op, options_cls):
        layouts = [self.layout_of(i) for i in ins]
        four_d = any(l is not None and len(self.shape(i)) == 4 for i, l in zip(ins, layouts))
        layout = "nchw" if four_d and "nchw" in layouts else "tf"
        args = []
        for i in ins:
            if i in self.consts:
                args.append(self.broadcast_const(i, layout) if layout == "nchw" else self.get(i, "tf"))
            elif layout == "nchw" and len(self.shape(i)) != 4:
                raise ConversionError(f"{onnx_op} mixes a 4-D tensor with rank-{len(self.shape(i))} '{self.tname(i)}'")
            else:
                args.append(self.get(i, layout))
        y = self.node(onnx_op, args, onnx_op.lower())
        opts = _options(op, options_cls) if options_cls else None
        if opts is not None:
            y = self.activation(y, opts.FusedActivationFunction())
        return y, layout

    def op_ADD(self, op, ins, outs):
        from tflite.AddOptions import AddOptions
        return self._binary(op, ins, outs, "Add", AddOptions)

    def op_SUB(self, op, ins, outs):
        from tflite.SubOptions import SubOptions
        return self._binary(op, ins, outs, "Sub", SubOptions)

    def op_MUL(self, op, ins, outs):
        from tflite.MulOptions import MulOptions
        return self._binary(op, ins, outs, "Mul", MulOptions)

    def op_DIV(self, op, ins, outs):
        from tflite.DivOptions import DivOptions
        return self._binary(op, ins, outs, "Div", DivOptions)

    def _unary(self, ins, onnx_op):
        layout = self.layout_of(ins[0]) or "tf"
        return self.node(onnx_op, [self.get(ins[0], layout)], onnx_op.lower()), layout

    def op_RELU(self, op, ins, outs):
        return self._unary(ins, "Relu")

    def op_LOGISTIC(self, op, ins, outs):
        return self._unary(ins, "Sigmoid")

    def op_TANH(self, op, ins, outs):
        return self._unary(ins, "Tanh")

    def op_HARD_SWISH(self, op, ins, outs):
        return self._unary(ins, "HardSwish")   # x * relu6(x + 3) / 6, as TFLite defines it

    def op_RELU6(self, op, ins, outs):
        layout = self.layout_of(ins[0]) or "tf"
        return self.clip(self.get(ins[0], layout), 0.0, 6.0), layout

    def op_PRELU(self, op, ins, outs):
        layout = self.layout_of(ins[0]) or "tf"
        if ins[1] not in self.consts:
            raise ConversionError("PRELU with a computed slope is not supported")
        if layout == "nchw":
            slope = self.broadcast_const(ins[1], "nchw")
        else:
            slope = self.get(ins[1], "tf")
        return self.node("PRelu", [self.get(ins[0], layout), slope], "prelu"), layout

    def op_PAD(self, op, ins, outs):
        pads = self.consts[ins[1]].astype(np.int64)              # [rank, 2]
        layout = self.layout_of(ins[0]) or "tf"
        if layout == "nchw" and pads.shape[0] == 4:
            pads = pads[list(NHWC_TO_NCHW)]
        onnx_pads = np.concatenate([pads[:, 0], pads[:, 1]]).astype(np.int64)
        args = [self.get(ins[0], layout), self.const_name(onnx_pads, "pads")]
        if len(ins) > 2 and ins[2] >= 0:   # PADV2 constant value
            args.append(self.const_name(self.consts[ins[2]].astype(np.float32).reshape(()), "padval"))
        return self.node("Pad", args, "pad", mode="constant"), layout

    op_PADV2 = op_PAD

    def op_RESHAPE(self, op, ins, outs):
        shape = np.array(self.shape(outs[0]), dtype=np.int64)
        return self.node("Reshape", [self.get(ins[0], "tf"), self.const_name(shape, "shape")],
                         "reshape"), "tf"

    def op_CONCATENATION(self, op, ins, outs):
        from tflite.ConcatenationOptions import ConcatenationOptions
        o = _options(op, ConcatenationOptions)
        rank = len(self.shape(outs[0]))
        axis = o.Axis() % rank
        layouts = {self.layout_of(i) for i in ins if i not in self.consts}
        layout = "nchw" if rank == 4 and layouts == {"nchw"} else "tf"
        onnx_axis = AXIS_TO_NCHW[axis] if layout == "nchw" else axis
        y = self.node("Concat", [self.get(i, layout) for i in ins], "concat", axis=onnx_axis)
        return self.activation(y, o.FusedActivationFunction()), layout

    def _resize(self, op, ins, outs, mode, options_cls):
        o = _options(op, options_cls)
        n, _, _, c = self.shape(ins[0])
        h, w = [int(v) for v in self.consts[ins[1]]]
        if o is not None and o.AlignCorners():
            ctm = "align_corners"
        elif o is not None and o.HalfPixelCenters():
            ctm = "half_pixel" if mode == "linear" else "tf_half_pixel_for_nn"
        else:
            ctm = "asymmetric"
        attrs = dict(mode=mode, coordinate_transformation_mode=ctm)
        if mode == "nearest":
            attrs["nearest_mode"] = "round_prefer_ceil" if o is not None and o.AlignCorners() else "floor"
        sizes = self.const_name(np.array([n, c, h, w], dtype=np.int64), "sizes")
        return self.node("Resize", [self.get(ins[0], "nchw"), "", "", sizes], "resize", **attrs), "nchw"

    def op_RESIZE_BILINEAR(self, op, ins, outs):
        from tflite.ResizeBilinearOptions import ResizeBilinearOptions
        return self._resize(op, ins, outs, "linear", ResizeBilinearOptions)

    def op_RESIZE_NEAREST_NEIGHBOR(self, op, ins, outs):
        from tflite.ResizeNearestNeighborOptions import ResizeNearestNeighborOptions
        return self._resize(op, ins, outs, "nearest", ResizeNearestNeighborOptions)

    def op_MEAN(self, op, ins, outs):
        from tflite.ReducerOptions import ReducerOptions
        o = _options(op, ReducerOptions)
        rank = len(self.shape(ins[0]))
        axes = [int(a) % rank for a in np.atleast_1d(self.consts[ins[1]])]
        layout = self.layout_of(ins[0]) or "tf"
        keep = 1 if o is not None and o.KeepDims() else 0
        if layout == "nchw" and not keep:
            layout = "tf"
        if layout == "nchw":
            axes = [AXIS_TO_NCHW[a] for a in axes]
        # opset 17: ReduceMean takes its axes as an attribute
        y = self.node("ReduceMean", [self.get(ins[0], layout)], "mean", axes=sorted(axes), keepdims=keep)
        return y, layout


def convert(data, rename=None):
    """TFLite flatbuffer bytes -> onnx.ModelProto. `rename` maps TFLite input/output names to ONNX names."""
    return Converter(data, rename).convert()


def list_ops(data):
    """{op name: count} for the first subgraph."""
    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    counts = {}
    for k in range(graph.OperatorsLength()):
        name = op_name(model, graph.Operators(k))
        counts[name] = counts.get(name, 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", action="store_true", help="only list the operators the model uses")
    parser.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                        help="rename a model input or output")
    parser.add_argument("tflite")
    parser.add_argument("onnx", nargs="?")
    args = parser.parse_args()
    with open(args.tflite, "rb") as f:
        data = f.read()
    if args.ops:
        for name, count in sorted(list_ops(data).items()):
            print(f"{name:40s} {count}")
        return 0
    if not args.onnx:
        parser.error("give the output .onnx path (or --ops)")
    rename = dict(r.split("=", 1) for r in args.rename)
    try:
        model = convert(data, rename)
    except ConversionError as e:
        print(f"error: {args.tflite}: {e}", file=sys.stderr)
        return 1
    onnx.save(model, args.onnx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
