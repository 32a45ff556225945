"""A camera looking at a conveyor: realistic 1280x720 frames of labels or bare codes.

Frames are generated from a label image (e.g. the printer simulator's rendering) or
from codes alone (symbols rendered with zxing-cpp's writer), then degraded the way a
real line degrades them: rotation, defocus blur, sensor noise, partial occlusion and
glare. Everything is seeded, so a test sees the same frames every run.

>>> from simulators.scanners.codes import code_from_text
>>> gen = FrameGenerator(seed=1)
>>> frame = gen.frame(gen.label_for(code_from_text("https://id.example.com/01/08934567890120")))
>>> frame.shape, frame.dtype.name
((720, 1280, 3), 'uint8')
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from lineside.gs1 import GS1Message
from simulators.scanners.codes import SimCode

Image = npt.NDArray[np.uint8]


def render_symbol(code: SimCode, module_px: int = 6) -> Image:
    """The symbol for ``code`` as a grayscale image with its quiet zone.

    ``]d2`` → GS1 DataMatrix, ``]Q3`` → GS1 QR, ``]C1`` → GS1-128, ``]Q1`` → plain QR,
    ``]d1`` → plain DataMatrix, ``]C0`` → plain Code 128. Raises ``ValueError``.
    """
    gs1 = code.symbology in ("]d2", "]Q3", "]C1")
    content = (
        GS1Message.parse(code.data, separators_trusted=True).as_bracketed() if gs1 else code.data
    )
    formats = {
        "]d": zxingcpp.BarcodeFormat.DataMatrix,
        "]Q": zxingcpp.BarcodeFormat.QRCode,
        "]C": zxingcpp.BarcodeFormat.Code128,
    }
    fmt = formats.get(code.symbology[:2])
    if fmt is None:
        raise ValueError(f"cannot render symbology {code.symbology}")
    # force_square: the writer otherwise picks rectangular DMRE shapes, which
    # zxing-cpp's reader reports as ]d8 rather than ]d2.
    barcode = zxingcpp.create_barcode(content, fmt, gs1=gs1, force_square=True)
    image = np.array(barcode.to_image(scale=module_px, add_quiet_zones=True), dtype=np.uint8)
    if code.symbology.startswith("]C"):
        # A linear symbol's image is one module high: give it real bar height.
        image = np.repeat(image[:1], 40 * module_px // 2, axis=0)
        resized = cv2.resize(image, None, fx=0.5, fy=1.0, interpolation=cv2.INTER_NEAREST)
        image = np.asarray(resized, dtype=np.uint8)
    return image


@dataclass(frozen=True, slots=True)
class FrameEffects:
    """Ranges of the degradations; each frame draws its own values from them."""

    rotation_deg: float = 25.0
    scale: tuple[float, float] = (0.8, 1.1)
    blur_sigma: tuple[float, float] = (0.0, 1.2)
    noise_sigma: tuple[float, float] = (2.0, 8.0)
    occlusion: float = 0.3
    glare: float = 0.3

    @classmethod
    def none(cls) -> FrameEffects:
        """No degradation at all (a perfect, upright, sharp frame)."""
        return cls(0.0, (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), 0.0, 0.0)


class FrameGenerator:
    """Seeded generator of camera frames."""

    def __init__(
        self,
        width: int = 1280,
        height: int = 720,
        effects: FrameEffects | None = None,
        seed: int | None = 0,
    ) -> None:
        self.width = width
        self.height = height
        self.effects = effects or FrameEffects()
        self._rng = random.Random(seed)
        self._np = np.random.default_rng(seed)
        self._background = self._conveyor()

    def _conveyor(self) -> Image:
        belt = np.full((self.height, self.width), 70, np.uint8)
        stripes = (np.arange(self.width) // 40 % 2 * 12).astype(np.uint8)
        belt += stripes[None, :]
        texture = self._np.normal(0, 6, (self.height, self.width))
        return np.clip(belt + texture, 0, 255).astype(np.uint8)

    def label_for(self, code: SimCode, text: Sequence[str] = ()) -> Image:
        """A white label carrying the symbol and a few lines of text."""
        symbol = render_symbol(code)
        lines = list(text) or [code.data.replace("\x1d", " ")[:40]]
        height = symbol.shape[0] + 40 + 30 * len(lines)
        width = max(symbol.shape[1] + 60, 420)
        label = np.full((height, width), 245, np.uint8)
        x = (width - symbol.shape[1]) // 2
        label[20 : 20 + symbol.shape[0], x : x + symbol.shape[1]] = symbol
        for i, line in enumerate(lines):
            y = 20 + symbol.shape[0] + 28 + 30 * i
            cv2.putText(label, line, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 30, 1, cv2.LINE_AA)
        return label

    def blank(self) -> Image:
        """The belt with nothing on it."""
        noisy = self._noise(self._background.astype(np.float32))
        return np.asarray(cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR), dtype=np.uint8)

    def _noise(self, image: npt.NDArray[np.float32]) -> Image:
        low, high = self.effects.noise_sigma
        sigma = self._rng.uniform(low, high)
        if sigma:
            image = image + self._np.normal(0, sigma, image.shape).astype(np.float32)
        return np.clip(image, 0, 255).astype(np.uint8)

    def frame(self, label: Image) -> Image:
        """One BGR frame showing ``label`` (grayscale or BGR) on the belt, degraded."""
        fx = self.effects
        rng = self._rng
        gray = label if label.ndim == 2 else cv2.cvtColor(label, cv2.COLOR_BGR2GRAY)
        scale = rng.uniform(*fx.scale)
        fit = min(0.8 * self.width / gray.shape[1], 0.8 * self.height / gray.shape[0], 1.0)
        scale = min(scale, fit)
        angle = rng.uniform(-fx.rotation_deg, fx.rotation_deg)
        h, w = gray.shape
        rad = math.radians(angle)
        bw = abs(w * math.cos(rad)) + abs(h * math.sin(rad))
        bh = abs(w * math.sin(rad)) + abs(h * math.cos(rad))
        cx = rng.uniform(bw * scale / 2, self.width - bw * scale / 2)
        cy = rng.uniform(bh * scale / 2, self.height - bh * scale / 2)
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        matrix[0, 2] += cx - w / 2
        matrix[1, 2] += cy - h / 2
        size = (self.width, self.height)
        warped = cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
        mask = cv2.warpAffine(np.full_like(gray, 255), matrix, size, borderValue=0)
        image = np.where(mask > 127, warped, self._background).astype(np.float32)
        if fx.occlusion and rng.random() < fx.occlusion:
            # A finger or a guide rail across one edge of the label.
            ow = int(w * scale * rng.uniform(0.1, 0.2))
            ox = int(cx + rng.choice((-1, 1)) * (w * scale / 2 - ow / 2))
            cv2.rectangle(image, (ox - ow // 2, 0), (ox + ow // 2, self.height), 40.0, -1)
        if fx.glare and rng.random() < fx.glare:
            gx, gy = rng.uniform(0, self.width), rng.uniform(0, self.height)
            radius = rng.uniform(60, 160)
            yy, xx = np.ogrid[: self.height, : self.width]
            blob = np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * radius**2))
            image = image + (90 * blob).astype(np.float32)
        low, high = fx.blur_sigma
        sigma = rng.uniform(low, high)
        if sigma > 0.1:
            image = np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.float32)
        out = self._noise(image)
        return np.asarray(cv2.cvtColor(out, cv2.COLOR_GRAY2BGR), dtype=np.uint8)

    def frames_for_codes(
        self, codes: Iterable[SimCode], frames_per_code: int = 3, gap_frames: int = 2
    ) -> Iterator[Image]:
        """Each code in view for ``frames_per_code`` frames, with empty belt between."""
        for code in codes:
            label = self.label_for(code)
            for _ in range(frames_per_code):
                yield self.frame(label)
            for _ in range(gap_frames):
                yield self.blank()


def load_label(path: Path) -> Image:
    """A label image from disk (e.g. a PNG rendered by the printer simulator)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return np.asarray(image, dtype=np.uint8)


def write_video(path: Path, frames: Iterable[Image], fps: float = 10.0) -> int:
    """Write BGR frames to an MJPG ``.avi`` (what ``camera:///path`` plays); returns count."""
    writer: cv2.VideoWriter | None = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
                if not writer.isOpened():
                    raise ValueError(f"{path}: OpenCV cannot write MJPG video here")
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


class SimulatedFrameSource:
    """A :class:`edge.scanners.camera.FrameSource` over generated frames."""

    def __init__(self, frames: Iterable[Image], *, finite: bool = True) -> None:
        self.finite = finite
        self._frames = iter(frames)

    def read(self) -> Image | None:
        return next(self._frames, None)

    def close(self) -> None:
        self._frames = iter(())
