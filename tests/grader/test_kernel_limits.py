"""Time limits for probes run in a notebook's kernel (the public checker and the hidden
checks): a loop pays its limit once, a fix starts afresh, and the student's own
`except Exception` cannot swallow the stop."""

from __future__ import annotations

import time

import pytest

from grader.child import probes
from grader.child.probes import AFTER_A_STOP, Api, ProbeTimeout, time_limit


def _spin(seconds: float = 30.0, swallow: bool = False) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if swallow:
            try:  # noqa: SIM105 (a student's broad handler: it must not catch the stop)
                time.sleep(0.01)
            except Exception:
                pass


def _code() -> Api:
    class Value:  # a fresh class each call: "the student defined it again"
        pass

    return Api({"Value": Value})


def test_a_loop_pays_its_limit_once_then_the_short_one() -> None:
    api = _code()
    start = time.monotonic()
    with pytest.raises(ProbeTimeout), time_limit(api, 1.0) as limit:
        _spin()
    assert limit == 1.0 and 0.9 < time.monotonic() - start < 10
    with pytest.raises(ProbeTimeout), time_limit(api, 1.0) as limit:
        _spin()
    assert limit == AFTER_A_STOP < 1.0


def test_the_students_fix_starts_afresh() -> None:
    stopped = _code()
    with pytest.raises(ProbeTimeout), time_limit(stopped, 0.3):
        _spin()
    with time_limit(_code(), 1.0) as limit:  # redefined: the full limit again
        pass
    assert limit == 1.0


def test_a_broad_except_in_student_code_cannot_swallow_the_stop() -> None:
    with pytest.raises(ProbeTimeout), time_limit(_code(), 0.3):
        _spin(seconds=5.0, swallow=True)


def test_no_timer_is_left_behind() -> None:
    import signal

    with time_limit(_code(), 1.0):
        pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert probes.AFTER_A_STOP < 1.0
