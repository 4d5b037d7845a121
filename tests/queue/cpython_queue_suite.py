"""CPython's own multiprocessing queue tests, run against unixipc's queues.

Usage: ``python cpython_queue_suite.py START_METHOD``. It takes the class
``_TestQueue`` of the interpreter's ``test._test_multiprocessing`` and runs
it with ``unixipc.Queue`` and ``unixipc.JoinableQueue`` substituted: as the
test case's ``Queue``/``JoinableQueue`` and, for the tests that call them by
their module names, as ``multiprocessing.Queue``/``JoinableQueue``.

Left out, each with its reason (they test multiprocessing's internals, not
the queue's behaviour):

- ``test_queue_feeder_on_queue_feeder_error``: subclasses
  ``multiprocessing.queues.Queue`` itself to override the private hook its
  feeder thread calls when pickling fails; unixipc pickles in ``put``.

Changed, with its reason:

- ``test_queue_feeder_donot_stop_onexc``: multiprocessing's ``put`` accepts
  an object that cannot be pickled and its feeder thread drops it later; the
  test checks that the queue works on afterwards. unixipc raises at ``put``
  (the issue's contract), so the version here checks that the error comes
  from ``put``, the queue works on, and its size stays right.

Exit status 77 (and a line saying why) when the ``test`` package is not
installed with this interpreter.
"""

from __future__ import annotations

import multiprocessing
import sys
import unittest

try:
    import test._test_multiprocessing as cpython_tests
    from test import support
except ImportError as exc:  # the test package is optional in some builds
    cpython_tests = None
    MISSING = f"this interpreter has no test._test_multiprocessing ({exc})"

import unixipc

LEFT_OUT = {
    "test_queue_feeder_on_queue_feeder_error":
        "subclasses multiprocessing.queues.Queue to override its feeder thread's "
        "private error hook; unixipc pickles in put() and has no feeder error hook",
}


class NotSerializable:
    def __reduce__(self):
        raise AttributeError("not serializable")


if cpython_tests is not None:
    class WithUnixipcQueue(cpython_tests._TestQueue, cpython_tests.ProcessesMixin,
                           unittest.TestCase):
        Queue = staticmethod(unixipc.Queue)
        JoinableQueue = staticmethod(unixipc.JoinableQueue)

        def setUp(self):
            saved = multiprocessing.Queue, multiprocessing.JoinableQueue
            multiprocessing.Queue = unixipc.Queue
            multiprocessing.JoinableQueue = unixipc.JoinableQueue

            def restore():
                multiprocessing.Queue, multiprocessing.JoinableQueue = saved
            self.addCleanup(restore)
            name = self._testMethodName
            if name in LEFT_OUT:
                self.skipTest(LEFT_OUT[name])

        def test_queue_feeder_donot_stop_onexc(self):
            q = self.Queue()
            with self.assertRaises(AttributeError):
                q.put(NotSerializable())
            q.put(True)
            self.assertTrue(q.get(timeout=support.SHORT_TIMEOUT))
            cpython_tests.close_queue(q)

            q = self.Queue(maxsize=1)
            with self.assertRaises(AttributeError):
                q.put(NotSerializable())
            q.put(True)
            self.assertEqual(q.qsize(), 1)
            self.assertTrue(q.get(timeout=support.SHORT_TIMEOUT))
            self.assertTrue(q.empty())
            cpython_tests.close_queue(q)


def main() -> int:
    if cpython_tests is None:
        print("SKIP:", MISSING)
        return 77
    multiprocessing.set_start_method(sys.argv[1], force=True)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(WithUnixipcQueue)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    print(f"RAN {result.testsRun} SKIPPED {len(result.skipped)}")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
