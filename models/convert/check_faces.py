#!/usr/bin/env python3
"""Behaviour checks of the converted face and matte models on a real photo.

Usage: python3 models/convert/check_faces.py --models DIR
Needs: python3 -m pip install onnxruntime==1.32.0 numpy scikit-image

DIR holds the output of mediapipe.py and centerface.py. Every model runs once in ONNX Runtime
on scikit-image's astronaut portrait (512x512, one face); a few seconds on 2 cores. Checks:

  face_detector        BlazeFace anchors decoded (896 = 16x16x2 + 8x8x6, sigmoid score > 0.5,
                       weighted NMS): exactly one face, its box overlaps the hand-marked face
                       box by IoU >= 0.6, eye keypoints in the box's upper half, mouth lower
  face_landmarks       on the rotated crop the detection gives: presence > 0.5; the eye and
                       mouth mesh points, mapped back to the photo, lie inside the detected box;
                       eyes above the mouth, the subject's right eye left of her left eye
  selfie_segmentation  mean matte >= 0.9 over the face and the torso, <= 0.05 over the flag and
                       the wall beside her
  centerface           exactly one face, IoU >= 0.6 with the BlazeFace box, its eye points
                       within 10 px of BlazeFace's
  no face              neither detector finds a face in scikit-image's coffee photo

Prints every measured number; exits 1 if a check fails.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

import face_common as fc  # noqa: E402

# Hand-marked in the astronaut photo (x1, y1, x2, y2, pixels, y down): hairline to chin, cheek to cheek.
ASTRONAUT_FACE = (178, 78, 272, 182)
PERSON_REGIONS = {"face": (180, 80, 270, 175), "torso": (80, 320, 300, 480)}
BACKGROUND_REGIONS = {"flag": (0, 0, 100, 150), "wall right of the head": (300, 0, 512, 120)}


class Checks:
    def __init__(self):
        self.failed = []

    def check(self, name, ok, detail):
        print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
        if not ok:
            self.failed.append(name)


def session(models, name):
    path = os.path.join(models, name + ".onnx")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: run mediapipe.py / centerface.py with --out {models} first")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def iou(a, b):
    return float(fc._iou(np.asarray(a, np.float64), np.asarray([b], np.float64))[0])


def inside(points, box):
    return bool(np.all((points[:, 0] >= box[0]) & (points[:, 0] <= box[2]) &
                       (points[:, 1] >= box[1]) & (points[:, 1] <= box[3])))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", required=True, help="folder with the converted .onnx files")
    args = parser.parse_args()
    c = Checks()
    photo = fc.astronaut()

    # ---- detector
    anchors = fc.blazeface_anchors()
    c.check("anchors", anchors.shape == (896, 2), f"{anchors.shape[0]} anchors (16x16x2 + 8x8x6 = 896)")
    x, back = fc.detector_input(photo)
    regressors, scores = session(args.models, "face_detector").run(None, {"image": x})
    faces = fc.decode_blazeface(regressors, scores, back)
    c.check("detector: one face", len(faces) == 1, f"{len(faces)} face(s), scores {[round(f[0], 3) for f in faces]}")
    if not faces:
        print("no face: the remaining checks need one")
        return 1
    score, box, kps = faces[0]
    overlap = iou(box, ASTRONAUT_FACE)
    c.check("detector: box on the face", overlap >= 0.6,
            f"box {np.round(box, 1).tolist()}, IoU {overlap:.3f} with the marked face {ASTRONAUT_FACE}")
    mid_y = (box[1] + box[3]) / 2
    eyes, mouth = kps[:2], kps[3]
    c.check("detector: keypoints", inside(kps[:4], box) and eyes[:, 1].max() < mid_y < mouth[1],
            f"eyes {np.round(eyes, 1).tolist()}, mouth {np.round(mouth, 1).tolist()}, box mid-height {mid_y:.1f}")

    # ---- landmarks on the crop the detection gives
    centre, side, angle = fc.face_roi(box, kps)
    crop, matrix = fc.crop_roi(photo, centre, side, angle, 192)
    lm, presence = session(args.models, "face_landmarks").run(None, {"image": crop[None]})
    p = float(fc.sigmoid(presence.ravel()[0]))
    c.check("landmarks: presence", p > 0.5, f"sigmoid(presence) {p:.4f}; crop side {side:.1f} px, angle {np.degrees(angle):.1f} deg")
    pts = fc.landmarks_to_image(lm.reshape(468, 3), matrix)
    named = {k: pts[i] for k, i in fc.MESH_POINTS.items()}
    key = np.array([named[k] for k in ("right_eye_outer", "right_eye_inner", "left_eye_inner", "left_eye_outer",
                                       "mouth_upper", "mouth_lower", "mouth_right", "mouth_left")])
    c.check("landmarks: eyes and mouth inside the detected box", inside(key, box),
            ", ".join(f"{k} ({v[0]:.1f}, {v[1]:.1f})" for k, v in named.items()))
    eye_y = max(named["right_eye_outer"][1], named["left_eye_outer"][1])
    c.check("landmarks: face geometry",
            eye_y < named["nose_tip"][1] < named["mouth_upper"][1] < named["mouth_lower"][1]
            and named["right_eye_outer"][0] < named["right_eye_inner"][0] < named["left_eye_inner"][0] < named["left_eye_outer"][0],
            "eyes above nose above mouth; subject's right eye on the image left")
    # the detector's eye keypoints and the mesh's eye centres agree
    mesh_eyes = np.array([(named["right_eye_outer"] + named["right_eye_inner"]) / 2,
                          (named["left_eye_outer"] + named["left_eye_inner"]) / 2])
    err = float(np.linalg.norm(mesh_eyes - eyes, axis=1).max())
    c.check("landmarks: eye centres near the detector's eye keypoints", err < 0.1 * (box[2] - box[0]),
            f"largest distance {err:.1f} px (limit {0.1 * (box[2] - box[0]):.1f} = 10% of the box width)")

    # ---- matte
    matte = session(args.models, "selfie_segmentation").run(None, {"image": fc.segmenter_input(photo)})[0]
    matte = fc.resize(matte[0], photo.shape[0], photo.shape[1])[:, :, 0]
    for name, (x1, y1, x2, y2) in PERSON_REGIONS.items():
        v = float(matte[y1:y2, x1:x2].mean())
        c.check(f"matte: person ({name})", v >= 0.9, f"mean {v:.4f} over {(x1, y1, x2, y2)}")
    for name, (x1, y1, x2, y2) in BACKGROUND_REGIONS.items():
        v = float(matte[y1:y2, x1:x2].mean())
        c.check(f"matte: background ({name})", v <= 0.05, f"mean {v:.4f} over {(x1, y1, x2, y2)}")

    # ---- CenterFace
    x, back = fc.centerface_input(photo)
    outs = session(args.models, "centerface").run(["heatmap", "scale", "offset", "landmarks"], {"image": x})
    cf = fc.decode_centerface(*outs, x.shape[2:], back)
    c.check("centerface: one face", len(cf) == 1, f"{len(cf)} face(s), scores {[round(f[0], 3) for f in cf]}")
    if cf:
        cscore, cbox, ckps = cf[0]
        o = iou(cbox, box)
        c.check("centerface: same face as BlazeFace", o >= 0.6,
                f"box {np.round(cbox, 1).tolist()}, IoU {o:.3f} with BlazeFace's box")
        d = float(np.linalg.norm(ckps[:2] - eyes, axis=1).max())
        c.check("centerface: eyes agree with BlazeFace", d <= 10.0, f"largest eye distance {d:.1f} px")

    # ---- a photo without a face
    coffee = fc.coffee()
    x, back = fc.detector_input(coffee)
    none_bf = fc.decode_blazeface(*session(args.models, "face_detector").run(None, {"image": x}), back)
    x, back = fc.centerface_input(coffee)
    outs = session(args.models, "centerface").run(["heatmap", "scale", "offset", "landmarks"], {"image": x})
    none_cf = fc.decode_centerface(*outs, x.shape[2:], back)
    c.check("no face in the coffee photo", not none_bf and not none_cf,
            f"BlazeFace {len(none_bf)}, CenterFace {len(none_cf)} detection(s)")

    print("all checks passed" if not c.failed else f"{len(c.failed)} check(s) failed: {', '.join(c.failed)}")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
