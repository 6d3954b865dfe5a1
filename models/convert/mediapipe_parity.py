#!/usr/bin/env python3
"""Measures how far the converted MediaPipe ONNX models are from the TFLite interpreter.

Usage: python3 models/convert/mediapipe_parity.py --wheel-dir DIR --models OUTDIR [--update] [--limit 1e-3]
Needs: python3 -m pip install onnxruntime==1.32.0 onnx numpy scikit-image tflite flatbuffers ai-edge-litert
       (the reference interpreter: ai-edge-litert, else tflite-runtime, else tensorflow's tf.lite)

OUTDIR holds the output of mediapipe.py. Every model is run by ONNX Runtime and by the TFLite
interpreter on the same tensors made from scikit-image's astronaut photo: the detectors (faces, people) on the
letterboxed photo, the pose landmark model on the rotated person crop the TFLite person
detection gives, the landmark model on the face crop the detector's result gives (the TFLite
detector's, so both see identical pixels), the segmenter on the resized photo. The largest
absolute difference over all outputs is printed and checked against --limit; with --update it
is written into each manifest's `parity` block.

The segmenter's custom op Convolution2DTransposeBias is not a TFLite builtin: the interpreter
runs it through its XNNPACK delegate (which implements MediaPipe's op); without the delegate
the model does not load. As a second, independent reference the op is also computed in numpy
from the TFLite weights and compared with the ONNX ConvTranspose on the same activations.
"""

import argparse
import importlib.metadata
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

import face_common as fc  # noqa: E402
from mediapipe import MODELS  # noqa: E402
import tflite_to_onnx  # noqa: E402

MEASURED_WITH = "python3 models/convert/mediapipe_parity.py"


def interpreter_factory():
    """(make(model_bytes) -> interpreter, description of the reference)."""
    for module, dist in (("ai_edge_litert.interpreter", "ai-edge-litert"),
                         ("tflite_runtime.interpreter", "tflite-runtime")):
        try:
            mod = __import__(module, fromlist=["Interpreter"])
            version = importlib.metadata.version(dist)
            return (lambda data: mod.Interpreter(model_content=data, num_threads=1),
                    f"TFLite interpreter ({dist} {version}, XNNPACK delegate)")
        except ImportError:
            continue
    import tensorflow as tf
    return (lambda data: tf.lite.Interpreter(model_content=data, num_threads=1),
            f"TFLite interpreter (tensorflow {tf.__version__}, XNNPACK delegate)")


def run_tflite(make, data, x):
    it = make(data)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


def run_onnx(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def transposed_conv_reference(x, weight, bias, stride, pads):
    """Numpy Convolution2DTransposeBias: x [C, H, W], weight [O, kh, kw, C] (TFLite layout),
    pads (top, left, bottom, right) cropped from the full output."""
    c, h, w = x.shape
    o, kh, kw, _ = weight.shape
    full = np.zeros((o, (h - 1) * stride + kh, (w - 1) * stride + kw), np.float64)
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + stride * h:stride, j:j + stride * w:stride] += np.einsum(
                "chw,oc->ohw", x.astype(np.float64), weight[:, i, j, :].astype(np.float64))
    top, left, bottom, right = pads
    full = full[:, top:full.shape[1] - bottom, left:full.shape[2] - right]
    return full + bias.reshape(-1, 1, 1)


def custom_op_check(onnx_path, tflite_data, x, tflite_matte):
    """Max differences of (ONNX ConvTranspose vs numpy op on the same activations) and of
    (sigmoid of the numpy op vs the interpreter's matte)."""
    model = onnx.load(onnx_path)
    deconv = [n for n in model.graph.node if n.op_type == "ConvTranspose"]
    if len(deconv) != 1:
        raise SystemExit(f"expected one ConvTranspose in {onnx_path}, found {len(deconv)}")
    node = deconv[0]
    for name in (node.input[0], node.output[0]):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    acts, deconv_out = sess.run([node.input[0], node.output[0]], {sess.get_inputs()[0].name: x})
    # weights and options straight from the TFLite file
    conv = tflite_to_onnx.Converter(tflite_data)
    conv.convert()   # folds the float16 DEQUANTIZE ops, so every weight is in conv.consts
    g = conv.graph
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        if tflite_to_onnx.op_name(conv.model, op) == "CUSTOM:Convolution2DTransposeBias":
            ins = [int(v) for v in op.InputsAsNumpy()]
            padding, stride_w, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes()[:12], "<i4")
            weight = conv.consts[ins[1]].astype(np.float32)
            bias = conv.consts[ins[2]].astype(np.float32)
            break
    else:
        raise SystemExit("no Convolution2DTransposeBias op in the TFLite model")
    assert stride_w == stride_h and padding == 1
    kh, kw = weight.shape[1:3]
    h, w = acts.shape[2:]
    th, tw = max((h - 1) * stride_h + kh - h * stride_h, 0), max((w - 1) * stride_w + kw - w * stride_w, 0)
    ref = transposed_conv_reference(acts[0], weight, bias, int(stride_h), (th // 2, tw // 2, th - th // 2, tw - tw // 2))
    op_diff = float(np.abs(ref - deconv_out[0]).max())
    matte_ref = fc.sigmoid(ref[0])
    matte_diff = float(np.abs(matte_ref - tflite_matte[0, :, :, 0]).max())
    return op_diff, matte_diff


def measure(wheel_dir, models_dir):
    make, reference = interpreter_factory()
    wheel = fc.fetch_wheel(fc.MEDIAPIPE, wheel_dir)
    photo = fc.astronaut()
    tfl = {key: fc.read_from_wheel(wheel, spec["member"]) for key, spec in MODELS.items()}
    onnx_path = {key: os.path.join(models_dir, key + ".onnx") for key in MODELS}
    results = {}

    def compare(key, x, names, relative=False):
        ref = run_tflite(make, tfl[key], x)
        got = run_onnx(onnx_path[key], x)
        per = {n: float(np.abs(r - g).max()) for n, r, g in zip(names, ref, got)}
        results[key] = {"reference": reference, "max_abs_diff": max(per.values()), "per_output": per,
                        "image": "astronaut", "measured_with": MEASURED_WITH}
        if relative:
            # Outputs with values in the hundreds (pixel coordinates, logits) are checked
            # relative to their largest magnitude.
            results[key]["max_rel_diff"] = max(float(np.abs(r - g).max() / max(1.0, np.abs(r).max()))
                                               for r, g in zip(ref, got))
        return ref, got

    x_det, back = fc.detector_input(photo)
    det, _ = compare("face_detector", x_det, ["regressors", "classificators"])
    faces = fc.decode_blazeface(det[0], det[1], back)
    if not faces:
        raise SystemExit("the TFLite detector found no face in the astronaut photo")
    _, box, kps = faces[0]
    img_full, back_full = fc.letterbox(photo, 192)
    det_full, _ = compare("face_detector_full_range", (img_full * 2.0 - 1.0)[None], ["regressors", "classificators"])
    if not fc.decode_blazeface(det_full[0], det_full[1], back_full, fc.BLAZEFACE_FULL_DECODE, fc.BLAZEFACE_FULL_ANCHORS):
        raise SystemExit("the TFLite full-range detector found no face in the astronaut photo")
    centre, side, angle = fc.face_roi(box, kps)
    crop, _ = fc.crop_roi(photo, centre, side, angle, 192)
    compare("face_landmarks", crop[None], ["landmarks", "presence"])
    x_seg = fc.segmenter_input(photo)
    seg, _ = compare("selfie_segmentation", x_seg, ["matte"])
    op_diff, matte_diff = custom_op_check(onnx_path["selfie_segmentation"], tfl["selfie_segmentation"], x_seg, seg[0])
    results["selfie_segmentation"]["custom_op"] = {
        "op": "Convolution2DTransposeBias -> ConvTranspose",
        "reference": "numpy transposed convolution from the TFLite weights, on the ONNX model's activations",
        "max_abs_diff_op": op_diff, "max_abs_diff_matte_vs_interpreter": matte_diff}
    # The person detector on the letterboxed photo, the pose landmark model on the rotated crop
    # the TFLite detection gives (MediaPipe's pose_detection_to_roi); its matte is compared as
    # logits (relative) and as coverage after the sigmoid.
    img_pose, back_pose = fc.letterbox(photo, 224)
    det_pose, _ = compare("pose_detector", (img_pose * 2.0 - 1.0)[None], ["regressors", "classificators"],
                          relative=True)
    people = fc.decode_blazeface(det_pose[0], det_pose[1], back_pose, fc.POSE_DECODE, fc.POSE_ANCHORS)
    if not people:
        raise SystemExit("the TFLite person detector found no one in the astronaut photo")
    centre, side, angle = fc.pose_roi(people[0][2])
    crop, _ = fc.crop_roi(photo, centre, side, angle, 256)
    ref, got = compare("pose_landmarks", crop[None],
                       ["landmarks", "presence", "segmentation", "heatmap", "world_landmarks"], relative=True)
    results["pose_landmarks"]["max_abs_diff_matte"] = float(np.abs(fc.sigmoid(ref[2]) - fc.sigmoid(got[2])).max())
    for key in results:
        results[key]["onnx_sha256"] = fc.sha256_file(onnx_path[key])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", required=True)
    parser.add_argument("--models", required=True, help="folder written by mediapipe.py")
    parser.add_argument("--limit", type=float, default=1e-3, help="largest allowed difference")
    parser.add_argument("--update", action="store_true", help="write the parity block into the manifests")
    args = parser.parse_args()
    results = measure(args.wheel_dir, args.models)
    failed = False
    for key, r in results.items():
        ok = r.get("max_rel_diff", r["max_abs_diff"]) <= args.limit
        failed |= not ok
        extra = ""
        if "custom_op" in r:
            c = r["custom_op"]
            ok_op = c["max_abs_diff_op"] <= args.limit and c["max_abs_diff_matte_vs_interpreter"] <= args.limit
            failed |= not ok_op
            extra = (f"; custom op vs numpy {c['max_abs_diff_op']:.3g}, "
                     f"numpy-op matte vs interpreter {c['max_abs_diff_matte_vs_interpreter']:.3g}")
        if "max_rel_diff" in r:
            extra += f"; relative to each output's largest value {r['max_rel_diff']:.3g}"
        if "max_abs_diff_matte" in r:
            ok_matte = r["max_abs_diff_matte"] <= args.limit
            failed |= not ok_matte
            extra += f"; matte after the sigmoid {r['max_abs_diff_matte']:.3g}"
        per = ", ".join(f"{n} {v:.3g}" for n, v in r["per_output"].items())
        print(f"{key}: max abs diff {r['max_abs_diff']:.3g} ({per}){extra} "
              f"[{'ok' if ok else 'FAIL'} at {args.limit:g}] vs {r['reference']}")
        if args.update:
            path = os.path.join(args.models, key + ".json")
            with open(path) as f:
                manifest = json.load(f)
            if manifest["sha256"] != r["onnx_sha256"]:
                raise SystemExit(f"{path} does not describe the ONNX file that was measured")
            manifest["parity"] = {k: v for k, v in r.items() if k != "onnx_sha256"}
            with open(path, "w") as f:
                json.dump(manifest, f, indent=2)
                f.write("\n")
    print(json.dumps(results, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
