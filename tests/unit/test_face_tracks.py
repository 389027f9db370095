"""Properties of face tracks (service.media.tracks): a face found with gaps is one track, covered in
every frame from a margin before its first detection to a margin after its last, and where it moved
between two detections the path is covered too; two faces apart stay two tracks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.media.tracks import HOLD_ROUNDS, Linker, frame_boxes


def _contains(outer, inner) -> bool:
    return outer[0] <= inner[0] + 1e-6 and outer[1] <= inner[1] + 1e-6 and outer[2] >= inner[2] - 1e-6 \
        and outer[3] >= inner[3] - 1e-6


# Moves of up to 0.6 of the side and size changes of up to 15 % a round: tracks.STEP and GROW.
walk = st.lists(st.tuples(st.floats(-0.6, 0.6), st.floats(-0.6, 0.6), st.floats(0.85, 1.15),
                          st.booleans()), min_size=2, max_size=40)


@settings(max_examples=300, deadline=None)
@given(walk=walk, every=st.integers(1, 6), margin=st.integers(0, 12), side=st.floats(20, 300),
       gaps=st.lists(st.integers(0, 39), max_size=10))
def test_one_face_is_one_track_covered_in_every_frame(walk, every, margin, side, gaps):
    x, y, s = 500.0, 400.0, side
    truth = {}  # frame -> the face's box, moving in a straight line between rounds
    linker = Linker()
    missed = 0
    found_at = []
    for r, (dx, dy, ds, _) in enumerate(walk):
        frame = r * every
        box = (x, y, x + s, y + s)
        if r in gaps and missed < HOLD_ROUNDS and 0 < r < len(walk) - 1:
            missed += 1
            linker.round(frame, [])
        else:
            missed = 0
            linker.round(frame, [(box, 0.9)])
            found_at.append(frame)
        nx, ny, ns = x + dx * s, y + dy * s, s * ds  # at most 0.6 of its side a round
        for i in range(every):
            f = i / every
            truth[frame + i] = (x + (nx - x) * f, y + (ny - y) * f, x + (nx - x) * f + s + (ns - s) * f,
                                y + (ny - y) * f + s + (ns - s) * f)
        x, y, s = nx, ny, ns
    tracks = linker.tracks()
    assert len(tracks) == 1
    [t] = tracks
    assert t.frames == found_at
    covered = frame_boxes(tracks, margin, 10_000, every)
    first, last = found_at[0], found_at[-1]
    for frame in range(max(0, first - margin), last + margin + 1):
        assert frame in covered, frame
    for frame in range(first, last + 1):  # between detections the whole path is inside the box
        assert any(_contains(b, truth[frame]) for b in covered[frame]), frame
    assert max(covered) == last + margin and min(covered) == max(0, first - margin)


@settings(max_examples=200, deadline=None)
@given(rounds=st.integers(2, 30), side=st.floats(20, 200), jitter=st.lists(st.floats(-0.3, 0.3), min_size=60,
                                                                             max_size=60))
def test_two_faces_apart_stay_two_tracks(rounds, side, jitter):
    linker = Linker()
    for r in range(rounds):
        a = (100 + jitter[r] * side, 100.0, 100 + jitter[r] * side + side, 100 + side)
        b = (100 + 6 * side + jitter[30 + r] * side, 100.0, 100 + 7 * side + jitter[30 + r] * side, 100 + side)
        dets = [(b, 0.8), (a, 0.9)] if r % 2 else [(a, 0.9), (b, 0.8)]
        linker.round(r * 3, dets)
    tracks = linker.tracks()
    assert len(tracks) == 2
    for t in tracks:
        assert len(t.frames) == rounds
        xs = [bx[0] for bx in t.boxes]
        assert max(xs) - min(xs) < 2 * side  # never swapped to the other face
