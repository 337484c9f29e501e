"""``planwise serve`` raises its own open-files limit: every WebSocket is a file descriptor."""

from __future__ import annotations

import logging
import resource
from collections.abc import Iterator

import pytest

from service.server import raise_open_files_limit


@pytest.fixture
def restore_limit() -> Iterator[tuple[int, int]]:
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_a_low_soft_limit_is_raised_to_the_hard_one_and_logged(
    restore_limit: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    _, hard = restore_limit
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    with caplog.at_level(logging.INFO, logger="service.server"):
        before, after = raise_open_files_limit()
    assert before == 256
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (after, hard)
    assert after == hard or (hard == resource.RLIM_INFINITY and after > 256)
    assert f"raised from 256 to {after}" in caplog.text


def test_a_soft_limit_already_at_the_hard_one_is_left_alone(restore_limit: tuple[int, int]) -> None:
    _, hard = restore_limit
    if hard == resource.RLIM_INFINITY:
        pytest.skip("an unlimited hard limit is never a soft limit for files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    assert raise_open_files_limit() == (hard, hard)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
