"""Face detections linked into tracks, so a face is covered in every frame it is in, not only in the
frames a detector happened to find it in.

Detections come in rounds (every few frames). A detection joins the track whose last box it overlaps
(IoU) or lies near (a face moves at most a few of its own widths between rounds); a track that
finds nothing is held over for a few rounds before it ends, because detectors lose faces for a round
or two (a turned head, motion blur, a hand). Because the whole clip is scanned before any frame is
written, a track's boxes are known ahead of time: between two detections a frame gets the union of
both boxes (the face is somewhere on that path), and a margin of frames before the first and after
the last detection is covered too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels

MIN_IOU = 0.15
REACH = 1.5  # box sides: how far a face may move between two rounds and still be the same one
HOLD_ROUNDS = 3  # rounds a track survives without a detection
SIZE_CHANGE = 2.5  # a box more than this many times larger or smaller is another face
# Between two rounds a face moves at most STEP of its side and grows by at most GROW: what a path
# across rounds that found nothing is widened by (a face may turn back while nobody sees it).
STEP, GROW = 0.6, 0.15


def gap_reach(missed: int) -> float:
    """Box sides a face may be from where it was last seen after ``missed`` unseen rounds: its moves
    add up while it grows, and its far edge moves with its size."""
    q = (1 + GROW) ** missed
    return STEP * (q - 1) / GROW + q - 1


def iou(a: Box, b: Box) -> float:
    ix, iy = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _side(b: Box) -> float:
    return max(b[2] - b[0], b[3] - b[1], 1.0)


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


@dataclass
class Track:
    id: int
    frames: list[int] = field(default_factory=list)  # frames it was detected in, ascending
    boxes: list[Box] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    missed: int = 0  # rounds in a row without a detection

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def best(self) -> int:
        """The detection to show as its thumbnail: the most confident, larger on a tie."""
        return max(range(len(self.frames)), key=lambda i: (round(self.scores[i], 2), _side(self.boxes[i])))

    def add(self, frame: int, box: Box, score: float) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)
        self.missed = 0

    def cover(self, margin: int, frame_count: int, every: int = 1) -> dict[int, Box]:
        """The box to blur in each frame the track covers: from ``margin`` frames before its first
        detection to ``margin`` after its last, the path between detections included. Across rounds
        that found nothing (detections more than ``every`` frames apart) the face may have gone off
        the straight path, so the path grows by :func:`gap_reach` of its side."""
        out: dict[int, Box] = {}
        for i in range(max(0, self.first - margin), self.first):
            out[i] = self.boxes[0]
        for k in range(len(self.frames)):
            out[self.frames[k]] = self.boxes[k]
            if k + 1 < len(self.frames):
                path = union(self.boxes[k], self.boxes[k + 1])
                missed = max(0, round((self.frames[k + 1] - self.frames[k]) / max(1, every)) - 1)
                if missed:
                    g = gap_reach(missed) * max(_side(self.boxes[k]), _side(self.boxes[k + 1]))
                    path = (path[0] - g, path[1] - g, path[2] + g, path[3] + g)
                for i in range(self.frames[k] + 1, self.frames[k + 1]):
                    out[i] = path
        for i in range(self.last + 1, min(frame_count, self.last + margin + 1)):
            out[i] = self.boxes[-1]
        return out


class Linker:
    """Detections, round by round, into tracks with ids from 1 in the order faces appear."""

    def __init__(self, hold_rounds: int = HOLD_ROUNDS) -> None:
        self.hold_rounds = hold_rounds
        self.active: list[Track] = []
        self.done: list[Track] = []
        self.next_id = 1

    def _cost(self, t: Track, box: Box) -> float | None:
        last = t.boxes[-1]
        overlap = iou(last, box)
        if overlap >= MIN_IOU:
            return 1.0 - overlap
        ratio = _side(box) / _side(last)
        if not 1 / SIZE_CHANGE <= ratio <= SIZE_CHANGE:
            return None
        reach = REACH * (1 + t.missed) * max(_side(last), _side(box))
        d = math.dist(_centre(last), _centre(box))
        return 1.0 + d / reach if d <= reach else None

    def round(self, frame: int, detections: list[tuple[Box, float]]) -> None:
        pairs = []
        for ti, t in enumerate(self.active):
            for di, (box, _score) in enumerate(detections):
                cost = self._cost(t, box)
                if cost is not None:
                    pairs.append((cost, ti, di))
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _cost, ti, di in sorted(pairs):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            self.active[ti].add(frame, *detections[di])
        still = []
        for ti, t in enumerate(self.active):
            if ti not in used_t:
                t.missed += 1
            (still if t.missed <= self.hold_rounds else self.done).append(t)
        self.active = still
        for di, (box, score) in enumerate(detections):
            if di not in used_d:
                t = Track(self.next_id)
                self.next_id += 1
                t.add(frame, box, score)
                self.active.append(t)

    def tracks(self) -> list[Track]:
        return sorted(self.done + self.active, key=lambda t: t.id)


def frame_boxes(tracks: list[Track], margin: int, frame_count: int, every: int = 1) -> dict[int, list[Box]]:
    """Every frame's boxes from all of *tracks*."""
    out: dict[int, list[Box]] = {}
    for t in tracks:
        for i, box in t.cover(margin, frame_count, every).items():
            out.setdefault(i, []).append(box)
    return out
