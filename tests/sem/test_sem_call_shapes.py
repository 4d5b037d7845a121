"""acquire()/release() with no argument or only undo= take a shortcut past the
general argument parser: the same results, flags and errors either way."""

from __future__ import annotations

import pytest

from support import Child


@pytest.mark.parametrize("kwargs", [{}, {"undo": False}, {"undo": True}, {"undo": 0}, {"undo": 1}])
def test_acquire_release_shortcut_shapes(make_set, kwargs):
    sems = make_set(initial=1)
    sem = sems[0]
    sem.acquire(**kwargs)
    assert sem.value == 0
    sem.release(**kwargs)
    assert sem.value == 1


def test_shortcut_equal_but_distinct_keyword_string(make_set):
    sems = make_set(initial=1)
    key = "".join(["un", "do"])  # equal to "undo", not the interned object
    sems[0].acquire(**{key: False})
    sems[0].release(**{key: False})
    assert sems[0].value == 1


def test_shortcut_undo_is_really_applied(make_set):
    """undo=True (the default) registers an adjustment; a plain acquire() and
    an acquire(undo=False) differ only in that."""
    sems = make_set(initial=2)

    def take(undo: bool) -> None:
        if undo:
            sems[0].acquire()
        else:
            sems[0].acquire(undo=False)

    Child(take, True).result(timeout=10)
    assert sems[0].value == 2  # given back at exit
    Child(take, False).result(timeout=10)
    assert sems[0].value == 1  # stays taken


def test_shortcut_bad_undo_raises_before_semop(make_set):
    class Bad:
        def __bool__(self) -> bool:
            raise RuntimeError("no truth")

    sems = make_set(initial=1)
    with pytest.raises(RuntimeError):
        sems[0].acquire(undo=Bad())
    with pytest.raises(RuntimeError):
        sems[0].release(undo=Bad())
    assert sems[0].value == 1


def test_shortcut_block_false_still_parsed(make_set):
    sems = make_set(initial=0)
    with pytest.raises(BlockingIOError):
        sems[0].acquire(block=False, undo=False)
    with pytest.raises(TypeError):
        sems[0].release(undo=False, bogus=1)
