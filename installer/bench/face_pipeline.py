#!/usr/bin/env python3
"""The Python baseline of `pixelspace bench face`: the same converted ONNX face models (the
default BlazeFace short-range detector and the 468-point face mesh) run the usual Python way,
with onnxruntime, numpy and OpenCV, on 1080p frames held in memory as 8-bit RGB.

Pinned versions (what the bench figures were measured with):
    onnxruntime==1.32.0  opencv-python-headless==5.0.0.93  numpy==2.4.6

Per frame:
  * detection: the whole frame and overlapping square windows, each cut from the uint8 frame,
    shrunk with cv2.resize(INTER_AREA), letterboxed to 128x128 with black bars and scaled to
    -1..1; anchor decoding and weighted non-maximum suppression in numpy; faces cut by a
    window's inner edge dropped, duplicates across windows (IoU > 0.3) keep the best score.
    `--search tiles` (default) tiles the frame the usual way for a detector that needs faces
    of 16+ of its 128 input pixels: windows of half the short side overlapping by half (21 at
    1080p, faces from about 65 pixels). `--search same` uses the Face effect's windows: side
    2/3 of the short side, stepping so that faces up to 1.25x the smallest the whole frame
    shows lie whole in one (8 at 1080p, faces from about 90 pixels).
  * landmarks: MediaPipe's region of interest (box x1.5, square on the long side, rotated by
    the eye line), cut with cv2.warpAffine (replicated border) to 192x192, 0..1, the model run,
    the 468 points mapped back; faces with presence below 0.5 dropped.
  * retouch (mode `retouch`): within the bounding box of the face oval, a feathered face matte
    and skin mask (face oval minus eyes, brows, lips and nostrils) drawn with cv2.fillPoly and
    feathered with cv2.GaussianBlur, the skin smoothed with cv2.bilateralFilter, under-eye
    shadows lifted towards a cv2.blur of the surround, the jaw drawn towards the nose by 3 %
    with cv2.remap, blended through the matte into a copy of the frame.

Two ways to run it:
    face_pipeline.py --detector D.onnx --landmarks L.onnx --raw FRAMES.rgb --count N \
        --width W --height H [--search tiles|same] --serve
reads N frames of W x H 8-bit RGB (top row first) from FRAMES.rgb, prints "ready", then for
each line on stdin: `detect` or `retouch` runs every frame and prints the mean seconds per
frame; `boxes` prints, per frame, the face boxes found as JSON ([x1, y1, x2, y2], pixels,
y down). Or, with --images A.png B.png ..., times both modes on those pictures and prints them.
"""

import argparse
import json
import math
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

DET_SIZE = 128
LM_SIZE = 192
MIN_SCORE = 0.5
NMS_IOU = 0.3
MERGE_IOU = 0.3

FACE_OVAL = [10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,
             152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297,
             338]
LIPS = [0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267]
RIGHT_EYE = [7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163]
LEFT_EYE = [249, 263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390]
RIGHT_BROW = [46, 53, 52, 65, 55, 107, 66, 105, 63, 70]
LEFT_BROW = [276, 283, 282, 295, 285, 336, 296, 334, 293, 300]
NOSTRILS = [64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 2]
RIGHT_LOWER_LID = [33, 7, 163, 144, 145, 153, 154, 155, 133]
LEFT_LOWER_LID = [263, 249, 390, 373, 374, 380, 381, 382, 362]
JAW = [132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361]


def blazeface_anchors():
    """Anchor centres of BlazeFace short range (16x16 x 2, then 8x8 x 6), in 0..1."""
    out = []
    for grid, per in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                out.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per)
    return np.array(out, np.float32)


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(boxes, keypoints, scores):
    """MediaPipe's weighted suppression: overlapping boxes averaged by score, best score kept."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    out = []
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        b = boxes[i]
        ix1 = np.maximum(boxes[:, 0], b[0])
        iy1 = np.maximum(boxes[:, 1], b[1])
        ix2 = np.minimum(boxes[:, 2], b[2])
        iy2 = np.minimum(boxes[:, 3], b[3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        ious = inter / np.maximum(areas + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-12)
        group = alive & (ious > NMS_IOU)
        group[i] = True
        w = scores[group] / scores[group].sum()
        out.append((float(scores[i]), (w[:, None] * boxes[group]).sum(0),
                    (w[:, None, None] * keypoints[group]).sum(0)))
        alive &= ~group
    return out


class Pipeline:
    def __init__(self, detector, landmarks, search="tiles"):
        self.search = search
        self.det = ort.InferenceSession(detector, providers=["CPUExecutionProvider"])
        self.lm = ort.InferenceSession(landmarks, providers=["CPUExecutionProvider"])
        self.det_in = self.det.get_inputs()[0].name
        self.lm_in = self.lm.get_inputs()[0].name
        self.anchors = blazeface_anchors()

    def windows(self, w, h):
        """The square windows searched besides the whole frame (x, y, side, side), y down."""
        short, long_ = min(w, h), max(w, h)
        if self.search == "same":
            # The Face effect's search: side 2/3 of the short side (none below 720 lines),
            # stepping so that faces up to 1.25x the smallest the whole frame shows (long/8)
            # lie whole in some window.
            if short < 720:
                return []
            side = short * 2 // 3
            step = max(side - long_ * 5 // 32, side // 4)
        else:
            # Usual tiling: side half the short side, overlapping by half.
            side = short // 2
            if side < 360:
                return []
            step = side // 2

        def starts(length):
            v = list(range(0, length - side, step))
            v.append(length - side)
            return sorted(set(v))

        return [(x, y, side, side) for y in starts(h) for x in starts(w)]

    def detect_rect(self, frame, x, y, w, h):
        """Faces in frame[y:y+h, x:x+w]: (score, box [x1 y1 x2 y2], keypoints 6x2), frame pixels."""
        crop = frame[y:y + h, x:x + w]
        s = DET_SIZE / max(w, h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((DET_SIZE, DET_SIZE, 3), np.uint8)
        ox, oy = (DET_SIZE - nw) // 2, (DET_SIZE - nh) // 2
        canvas[oy:oy + nh, ox:ox + nw] = small
        tensor = (canvas.astype(np.float32) / 127.5 - 1.0)[None]
        reg, cls = self.det.run(None, {self.det_in: tensor})
        reg, cls = reg[0], cls[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(cls.astype(np.float64), -100.0, 100.0)))
        keep = scores >= MIN_SCORE
        if not keep.any():
            return []
        reg, scores, anchors = reg[keep], scores[keep], self.anchors[keep]
        cx = reg[:, 0] / DET_SIZE + anchors[:, 0]
        cy = reg[:, 1] / DET_SIZE + anchors[:, 1]
        bw, bh = reg[:, 2] / DET_SIZE, reg[:, 3] / DET_SIZE
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1) * DET_SIZE
        kps = (reg[:, 4:16].reshape(-1, 6, 2) / DET_SIZE + anchors[:, None, :]) * DET_SIZE
        out = []
        for score, box, kp in weighted_nms(boxes, kps, scores):
            # Model pixels -> frame pixels: undo the letterbox offset and the shrink.
            box = (box - [ox, oy, ox, oy]) * [w / nw, h / nh, w / nw, h / nh] + [x, y, x, y]
            kp = (kp - [ox, oy]) * [w / nw, h / nh] + [x, y]
            out.append((score, box, kp))
        return out

    def find_faces(self, frame):
        h, w = frame.shape[:2]
        found = self.detect_rect(frame, 0, 0, w, h)
        for (x, y, ww, hh) in self.windows(w, h):
            for face in self.detect_rect(frame, x, y, ww, hh):
                b = face[1]
                m = 2.0
                cut = ((x > 0 and b[0] <= x + m) or (y > 0 and b[1] <= y + m)
                       or (x + ww < w and b[2] >= x + ww - m) or (y + hh < h and b[3] >= y + hh - m))
                if not cut:
                    found.append(face)
        found.sort(key=lambda f: -f[0])
        kept = []
        for f in found:
            if all(iou(k[1], f[1]) <= MERGE_IOU for k in kept):
                kept.append(f)
        return kept

    def landmarks(self, frame, face):
        """The 468 points (x, y down, z) in frame pixels, or None without a face present."""
        _, box, kp = face
        (x0, y0), (x1, y1) = kp[0], kp[1]
        rot = -math.atan2(-(y1 - y0), x1 - x0)
        rot = (rot + math.pi) % (2 * math.pi) - math.pi
        side = max(box[2] - box[0], box[3] - box[1]) * 1.5
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        k = side / LM_SIZE
        c, s = math.cos(rot), math.sin(rot)
        # Crop point (u, v) -> frame point, pixel edges at integers on both sides.
        m = np.array([[k * c, -k * s, 0.0], [k * s, k * c, 0.0]])
        m[:, 2] = [cx, cy] - m[:, :2] @ [LM_SIZE / 2, LM_SIZE / 2]
        # cv2 samples at pixel centres: shift by half a pixel on both sides.
        m_idx = m.copy()
        m_idx[:, 2] += m[:, :2] @ [0.5, 0.5] - 0.5
        crop = cv2.warpAffine(frame, m_idx, (LM_SIZE, LM_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
        tensor = (crop.astype(np.float32) / 255.0)[None]
        pts, presence = self.lm.run(None, {self.lm_in: tensor})
        if 1.0 / (1.0 + math.exp(-float(presence.reshape(-1)[0]))) < 0.5:
            return None
        pts = pts.reshape(468, 3).astype(np.float64)
        xy = pts[:, :2] @ m[:, :2].T + m[:, 2]
        return np.concatenate([xy, pts[:, 2:] * k], 1)

    def observe(self, frame):
        faces = self.find_faces(frame)[:8]
        out = []
        for f in faces:
            pts = self.landmarks(frame, f)
            if pts is not None:
                out.append((f, pts))
        return out


def scaled(points, idx, scale):
    p = points[idx, :2]
    c = p.mean(0)
    return c + (p - c) * scale


def retouch(frame, points):
    """Retouches one face into `frame` (uint8 RGB, modified in place)."""
    h, w = frame.shape[:2]
    size = max(2.0 * float(np.hypot(*(points[33, :2] - points[263, :2]))), 1.0)
    r = max(int(round(size * 0.025)), 1)
    feather = max(int(round(size * 0.015)), 1)
    oval = points[FACE_OVAL, :2]
    margin = size * 0.1 + 3 * r
    x1 = max(int(math.floor(oval[:, 0].min() - margin)), 0)
    y1 = max(int(math.floor(oval[:, 1].min() - margin)), 0)
    x2 = min(int(math.ceil(oval[:, 0].max() + margin)), w)
    y2 = min(int(math.ceil(oval[:, 1].max() + margin)), h)
    if x2 <= x1 or y2 <= y1:
        return
    origin = np.array([x1, y1], np.float64)

    def poly(pts):
        return [np.round((pts - origin - 0.5) * 16).astype(np.int32)]

    rh, rw = y2 - y1, x2 - x1
    ksize = 6 * feather + 1
    matte = np.zeros((rh, rw), np.float32)
    cv2.fillPoly(matte, poly(scaled(points, FACE_OVAL, 1.0 - 1.5 * feather / (0.75 * size))), 1.0,
                 lineType=cv2.LINE_8, shift=4)
    matte = cv2.GaussianBlur(matte, (ksize, ksize), feather)
    feats = np.zeros((rh, rw), np.uint8)
    for idx, sc in ((RIGHT_EYE, 1.6), (LEFT_EYE, 1.6), (RIGHT_BROW, 1.35), (LEFT_BROW, 1.35),
                    (LIPS, 1.25), (NOSTRILS, 1.15)):
        cv2.fillPoly(feats, poly(scaled(points, idx, sc)), 255, shift=4)
    feats = cv2.dilate(feats, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ksize, ksize)))
    feats = cv2.GaussianBlur(feats.astype(np.float32) / 255.0, (ksize, ksize), feather)
    skin = matte * (1.0 - np.minimum(feats * 2.0, 1.0))
    under = np.zeros((rh, rw), np.float32)
    mouth = points[13, :2]
    for lid in (RIGHT_LOWER_LID, LEFT_LOWER_LID):
        p = points[lid, :2]
        width = float(np.hypot(*(p[0] - p[-1])))
        d = mouth - p.mean(0)
        d = d / max(float(np.hypot(*d)), 1e-9) * width * 0.45
        cv2.fillPoly(under, poly(np.concatenate([p + 0.15 * d, (p + d)[::-1]])), 1.0, shift=4)
    uk = 2 * max(feather // 2, 1) * 3 + 1
    under = cv2.GaussianBlur(under, (uk, uk), 0)

    region = frame[y1:y2, x1:x2].astype(np.float32) / 255.0
    smooth = cv2.bilateralFilter(region, 2 * r + 1, 0.08, r)
    shadow_r = max(int(round(size * 0.06)), 1)
    surround = cv2.blur(smooth, (2 * shadow_r + 1, 2 * shadow_r + 1))
    lift = np.maximum(surround - smooth, 0.0) * (0.7 * under)[..., None]
    new = region + skin[..., None] * (smooth - region) + lift

    # Jaw drawn 3 % towards the nose tip: Gaussian radial displacement, weighted by the matte.
    nose = points[1, :2]
    sigma = size * 0.1
    yy, xx = np.mgrid[0:rh, 0:rw].astype(np.float32)
    px, py = xx + x1 + 0.5, yy + y1 + 0.5
    dx = np.zeros((rh, rw), np.float32)
    dy = np.zeros((rh, rw), np.float32)
    total = np.zeros((rh, rw), np.float32)
    for i in JAW:
        v = (nose - points[i, :2]) * 0.03
        c = points[i, :2] + v
        g = np.exp(-((px - c[0]) ** 2 + (py - c[1]) ** 2) / (2 * sigma * sigma))
        dx += g * v[0]
        dy += g * v[1]
        total += g
    norm = np.maximum(total, 1.0)
    new = cv2.remap(new, xx - matte * dx / norm, yy - matte * dy / norm, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)

    out = region + matte[..., None] * (new - region)
    frame[y1:y2, x1:x2] = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def run_frame(pipe, frame, mode):
    observed = pipe.observe(frame)
    if mode == "retouch":
        out = frame.copy()
        for _, pts in observed:
            retouch(out, pts)
        return observed, out
    return observed, None


def serve(pipe, frames):
    run_frame(pipe, frames[0], "retouch")  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd in ("detect", "retouch"):
            t0 = time.perf_counter()
            for f in frames:
                run_frame(pipe, f, cmd)
            print((time.perf_counter() - t0) / len(frames), flush=True)
        elif cmd == "boxes":
            boxes = [[[float(v) for v in face[1]] for face, _ in pipe.observe(f)] for f in frames]
            print(json.dumps(boxes), flush=True)
        else:
            print("unknown command %r" % cmd, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detector", required=True)
    ap.add_argument("--landmarks", required=True)
    ap.add_argument("--raw")
    ap.add_argument("--count", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--height", type=int)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--images", nargs="*")
    ap.add_argument("--search", choices=["tiles", "same"], default="tiles")
    a = ap.parse_args()
    pipe = Pipeline(a.detector, a.landmarks, a.search)
    if a.raw:
        frames = np.fromfile(a.raw, np.uint8).reshape(a.count, a.height, a.width, 3)
    else:
        frames = np.stack([cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in a.images])
    if a.serve:
        serve(pipe, frames)
        return
    for mode in ("detect", "retouch"):
        run_frame(pipe, frames[0], mode)
        t0 = time.perf_counter()
        for f in frames:
            observed, _ = run_frame(pipe, f, mode)
        dt = (time.perf_counter() - t0) / len(frames)
        print("%s: %.1f ms per frame (%.2f fps), faces in the last frame: %s"
              % (mode, dt * 1000, 1 / dt, [list(np.round(o[0][1], 1)) for o in observed]))


if __name__ == "__main__":
    main()
