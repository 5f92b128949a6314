"""Inference runtimes behind one small interface, and the letterbox input writer.

``TfliteRuntime`` runs a .tflite file (ai-edge-litert, else tflite-runtime). An ONNX file
(NanoDet's official download is ONNX only) runs with onnxruntime (``OrtRuntime``, the
default: 1.5x faster than OpenCV's DNN module here, see README) or with OpenCV's DNN module
(``DnnRuntime``, no extra package). Each exposes the input as an H x W x 3 array that
``InputWriter`` fills in place, and returns the outputs the runtime gives (those arrays are
the only per-run allocation, and they belong to the runtime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from cat_follow.errors import ModelError
from cat_follow.geometry import Letterbox
from cat_follow.perception.manifest import Manifest
from cat_follow.perception.model import FIX_HINT, load_interpreter


class Runtime(Protocol):
    input_h: int
    input_w: int
    input_dtype: np.dtype

    def input_view(self) -> np.ndarray: ...   # (H, W, 3); drop it before invoke()
    def invoke(self) -> None: ...
    def outputs(self) -> list[np.ndarray]: ...   # batch dimension removed, model's output order


class TfliteRuntime:
    """One TFLite interpreter, used from one thread."""

    def __init__(self, path: Path, num_threads: int, preserve_all_tensors: bool = False) -> None:
        self.interp = load_interpreter(path, num_threads, preserve_all_tensors)
        inputs = self.interp.get_input_details()
        if len(inputs) != 1 or len(inputs[0]["shape"]) != 4 or inputs[0]["shape"][3] != 3:
            raise ModelError(f"model {path}: expected one image input [1,H,W,3], got "
                             f"{[list(i['shape']) for i in inputs]}")
        self.input_index = int(inputs[0]["index"])
        self.input_h, self.input_w = int(inputs[0]["shape"][1]), int(inputs[0]["shape"][2])
        self.input_dtype = np.dtype(inputs[0]["dtype"])
        self.output_details = self.interp.get_output_details()
        self._out = [int(o["index"]) for o in self.output_details]

    def input_view(self) -> np.ndarray:
        return self.interp.tensor(self.input_index)()[0]  # a view of the interpreter's own input

    def invoke(self) -> None:
        self.interp.invoke()

    def outputs(self) -> list[np.ndarray]:
        """Views of the interpreter's output tensors (no copy): drop them before invoke()."""
        return [self.interp.tensor(i)()[0] for i in self._out]


class DnnRuntime:
    """An ONNX model through cv2.dnn. Owns an H x W x 3 float32 input (written by
    InputWriter) and the N x 3 x H x W blob it is transposed into before each run."""

    def __init__(self, path: Path, input_w: int, input_h: int, num_threads: int) -> None:
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error as exc:
            raise ModelError(f"model {path}: OpenCV cannot load it as ONNX ({exc}); {FIX_HINT}") from exc
        cv2.setNumThreads(max(1, num_threads))
        self.input_h, self.input_w = input_h, input_w
        self.input_dtype = np.dtype(np.float32)
        self._hwc = np.zeros((input_h, input_w, 3), np.float32)
        self._blob = np.zeros((1, 3, input_h, input_w), np.float32)
        self._names = list(self.net.getUnconnectedOutLayersNames())
        self._outs: list[np.ndarray] = []

    def input_view(self) -> np.ndarray:
        return self._hwc

    def invoke(self) -> None:
        np.copyto(self._blob[0], self._hwc.transpose(2, 0, 1))  # copy: HWC -> the CHW blob
        self.net.setInput(self._blob)
        self._outs = [o[0] if o.ndim == 3 else o for o in self.net.forward(self._names)]

    def outputs(self) -> list[np.ndarray]:
        return self._outs


class OrtRuntime(DnnRuntime):
    """An ONNX model through onnxruntime (CPU). Owns the same HWC input and CHW blob as
    DnnRuntime; the session's outputs are new arrays per run (the runtime's)."""

    def __init__(self, path: Path, input_w: int, input_h: int, num_threads: int) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("onnxruntime is not installed (setup.sh installs it); or set "
                             'detector.onnx_runtime = "opencv"') from exc
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, num_threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # its graph warnings about initialisers are not ours to fix
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"model {path}: onnxruntime cannot load it ({exc}); {FIX_HINT}") from exc
        inp = self.session.get_inputs()[0]
        if list(inp.shape[2:]) != [input_h, input_w]:
            raise ModelError(f"model {path}: input {inp.shape}, manifest says {input_w}x{input_h}")
        self._in_name = inp.name
        self.input_h, self.input_w = input_h, input_w
        self.input_dtype = np.dtype(np.float32)
        self._hwc = np.zeros((input_h, input_w, 3), np.float32)
        self._blob = np.zeros((1, 3, input_h, input_w), np.float32)
        self._outs = []

    def invoke(self) -> None:
        np.copyto(self._blob[0], self._hwc.transpose(2, 0, 1))  # copy: HWC -> the CHW blob
        self._outs = [o[0] if o.ndim == 3 else o for o in self.session.run(None, {self._in_name: self._blob})]


ONNX_RUNTIMES = ("onnxruntime", "opencv")


def open_runtime(manifest: Manifest, path: Path, num_threads: int, onnx_runtime: str = "onnxruntime") -> Runtime:
    """The runtime for ``path``, checked against the manifest's input size and dtype. An
    ONNX file runs with ``onnx_runtime`` (one of ONNX_RUNTIMES)."""
    rt: Runtime
    if manifest.runtime == "onnx" and onnx_runtime == "onnxruntime":
        rt = OrtRuntime(path, manifest.input_w, manifest.input_h, num_threads)
    elif manifest.runtime == "onnx":
        rt = DnnRuntime(path, manifest.input_w, manifest.input_h, num_threads)
    else:
        rt = TfliteRuntime(path, num_threads)
        if (rt.input_w, rt.input_h) != (manifest.input_w, manifest.input_h):
            raise ModelError(f"model {path}: input is {rt.input_w}x{rt.input_h}, manifest "
                             f"{manifest.source} says {manifest.input_w}x{manifest.input_h}")
        if rt.input_dtype != np.dtype(manifest.input_dtype):
            raise ModelError(f"model {path}: input dtype is {rt.input_dtype}, manifest "
                             f"{manifest.source} says {manifest.input_dtype}")
    return rt


class _Scratch:
    """Per-source-size buffers, made once (``prepare``) and reused on every run."""

    def __init__(self, lb: Letterbox) -> None:
        self.lb = lb
        self.resized = np.zeros((lb.new_h, lb.new_w, 3), np.uint8)
        self.swapped = np.zeros((lb.new_h, lb.new_w, 3), np.uint8)


class InputWriter:
    """Letterboxes a BGR image into a runtime's input in the model's channel order and
    normalisation: ``(pixel - mean) / std`` for float inputs, raw pixels for uint8."""

    def __init__(self, manifest: Manifest, runtime: Runtime) -> None:
        self.rt = runtime
        self.swap = manifest.channel_order == "RGB"
        self.float_input = runtime.input_dtype == np.float32
        self.mean = np.asarray(manifest.mean, np.float32)
        self.inv_std = (1.0 / np.asarray(manifest.std, np.float32)).astype(np.float32)
        pad = np.full(3, manifest.pad_value, np.float32)
        self.pad = ((pad - self.mean) * self.inv_std) if self.float_input else pad.astype(np.uint8)
        self.mean_px = (*(float(v) for v in self.mean), 0.0)  # OpenCV scalars
        self.inv_std_px = (*(float(v) for v in self.inv_std), 1.0)
        self._scratch: dict[tuple[int, int], _Scratch] = {}

    def prepare(self, w: int, h: int) -> None:
        self._get(w, h)

    def _get(self, w: int, h: int) -> _Scratch:
        s = self._scratch.get((w, h))
        if s is None:
            s = _Scratch(Letterbox.fit(w, h, self.rt.input_w, self.rt.input_h))
            self._scratch[(w, h)] = s
        return s

    def write(self, image_bgr: np.ndarray) -> Letterbox:
        """Fill the input from ``image_bgr`` (any size; a view is fine); returns the letterbox."""
        s = self._get(image_bgr.shape[1], image_bgr.shape[0])
        lb = s.lb
        cv2.resize(image_bgr, (lb.new_w, lb.new_h), dst=s.resized, interpolation=cv2.INTER_AREA)
        src = s.resized
        if self.swap:
            cv2.cvtColor(s.resized, cv2.COLOR_BGR2RGB, dst=s.swapped)  # BGR (camera) -> RGB (model)
            src = s.swapped
        y0, y1, x0, x1 = lb.pad_y, lb.pad_y + lb.new_h, lb.pad_x, lb.pad_x + lb.new_w
        tensor: Any = self.rt.input_view()
        roi = tensor[y0:y1, x0:x1]
        if self.float_input:  # OpenCV casts as it goes (numpy would allocate casting buffers)
            cv2.subtract(src, self.mean_px, dst=roi, dtype=cv2.CV_32F)
            cv2.multiply(roi, self.inv_std_px, dst=roi)
        else:
            np.copyto(roi, src)
        # bars: the runtime may reuse input memory between runs
        tensor[:y0] = self.pad
        tensor[y1:] = self.pad
        tensor[y0:y1, :x0] = self.pad
        tensor[y0:y1, x1:] = self.pad
        return lb  # the views die here: TFLite's invoke() refuses to run while one is alive
