"""A share link's state without a server: what a new download from it would meet. Revoked beats expired
beats used up; a link is active only while inside its time, its download count and its byte allowance
(max_downloads x the bundle's size); and nothing a link goes through (downloads, bytes, time) brings a
dead link back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.disclosure.models import Share, ShareState
from service.disclosure.shares import state

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@st.composite
def shares(draw) -> Share:
    max_downloads = draw(st.integers(1, 10))
    return Share(id="shr_1", bundle_id="bdl_1", token_sha256="0" * 64, recipient="cps", created_by="dc-1",
                 created_at=NOW - timedelta(days=1), max_downloads=max_downloads,
                 expires_at=NOW + timedelta(seconds=draw(st.integers(-86_400, 86_400))),
                 downloads=draw(st.integers(0, max_downloads + 2)),
                 bytes_served=draw(st.integers(0, 50_000)),
                 revoked_at=draw(st.none() | st.just(NOW - timedelta(minutes=5))))


sizes = st.none() | st.integers(1, 10_000)


@given(share=shares(), size=sizes)
def test_active_only_inside_time_count_and_allowance(share, size):
    inside = (share.revoked_at is None and NOW < share.expires_at and share.downloads < share.max_downloads
              and (size is None or share.bytes_served < share.max_downloads * size))
    assert (state(share, NOW, size) == ShareState.ACTIVE) == inside


@given(share=shares(), size=sizes)
def test_a_dead_link_says_the_first_reason_revoked_expired_used_up(share, size):
    got = state(share, NOW, size)
    if share.revoked_at is not None:
        assert got == ShareState.REVOKED
    elif share.expires_at <= NOW:
        assert got == ShareState.EXPIRED
    elif got != ShareState.ACTIVE:
        assert got == ShareState.USED_UP


@given(share=shares(), size=st.integers(1, 10_000), more_downloads=st.integers(0, 5),
       more_bytes=st.integers(0, 50_000), later=st.integers(0, 200_000))
def test_nothing_brings_a_dead_link_back(share, size, more_downloads, more_bytes, later):
    before = state(share, NOW, size)
    share.downloads += more_downloads
    share.bytes_served += more_bytes
    after = state(share, NOW + timedelta(seconds=later), size)
    if before != ShareState.ACTIVE:
        assert after != ShareState.ACTIVE
    if before == ShareState.REVOKED:
        assert after == ShareState.REVOKED


def test_the_exact_edges():
    share = Share(max_downloads=2, downloads=1, bytes_served=199, expires_at=NOW + timedelta(seconds=1),
                  revoked_at=None)
    assert state(share, NOW, 100) == ShareState.ACTIVE
    share.bytes_served = 200  # the whole allowance reserved, though only one download was counted
    assert state(share, NOW, 100) == ShareState.USED_UP
    assert state(share, NOW, None) == ShareState.ACTIVE  # not built yet: only the count applies
    share.bytes_served, share.downloads = 0, 2
    assert state(share, NOW, None) == ShareState.USED_UP
    share.downloads = 0
    assert state(share, NOW + timedelta(seconds=1), 100) == ShareState.EXPIRED  # expires_at itself is past
    assert [s.value for s in ShareState] == ["active", "expired", "revoked", "used up"]  # the API's reasons
