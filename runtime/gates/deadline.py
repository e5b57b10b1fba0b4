"""A deadline for a decider: a check never waits longer than it allows, even on a hang.

A gate calls its decider on the calling thread, so a decider that hangs (a remote
decision server that accepts the connection and never answers, a lock that is never
released) would hang the check with it. ``BoundedDecider`` wraps any decider so that a
check waits at most ``timeout`` seconds::

    gate = DispatchGate(holder, decider=BoundedDecider(client.decide, timeout=0.05))

The call runs on one of ``workers`` daemon threads; the caller waits for its answer up
to ``timeout``, then raises ``TimeoutError``, which the gate treats as an unavailable
policy with cause ``timeout`` (the tier's fail mode decides, counted and logged). What
the decider raises reaches the gate as it would unwrapped.

Guarantees:

- a call returns or raises within ``timeout`` (plus scheduling), however long the
  decider takes; a late answer is dropped;
- at most ``workers`` decider calls run at once; a call that cannot start in time
  (every worker busy, with hung calls say) times out as well, and once ``max_waiting``
  calls wait, a new one times out at once, so hung calls bound the memory they hold;
- the workers are daemon threads: a decider hung for ever does not hang the exit.

The price is a thread hand-off per call (tens of µs, ``benchmarks/bench_gates.py`` does
not include it): wrap deciders that can hang, not ``BundleHolder.decide``, which cannot.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from dualgate.runtime.gates.gate import Decider
from dualgate.runtime.gates.holder import ActiveBundle
from dualgate.runtime.verdict import Verdict

DEFAULT_WORKERS = 4
DEFAULT_MAX_WAITING = 1024


class _Call:
    """One decider call: its arguments, and its outcome once a worker has it."""

    __slots__ = ("abandoned", "args", "done", "error", "value")

    def __init__(self, args: tuple[object, object, object]) -> None:
        self.args = args
        self.done = threading.Event()
        self.abandoned = False
        self.value: Any = None
        self.error: BaseException | None = None


class BoundedDecider:
    """``decide`` with a deadline of ``timeout`` seconds per call (see the module
    docstring). Safe to share between threads and gates."""

    def __init__(self, decide: Decider, timeout: float, *, workers: int = DEFAULT_WORKERS,
                 max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not `{timeout}`")
        if workers < 1 or max_waiting < 1:
            raise ValueError("a bounded decider needs at least one worker and one waiting "
                             "place")
        self.decide = decide
        self.timeout = timeout
        self.max_waiting = max_waiting
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        for number in range(workers):
            threading.Thread(target=_work, args=(decide, self._calls),
                             name=f"dualgate-decider-{number}", daemon=True).start()

    def __call__(self, topic: object, env: object,
                 cidr: object = None) -> tuple[Verdict, ActiveBundle]:
        if self._calls.qsize() >= self.max_waiting:
            raise TimeoutError(f"the decider has {self.max_waiting} calls waiting")
        call = _Call((topic, env, cidr))
        self._calls.put(call)
        if not call.done.wait(self.timeout):
            call.abandoned = True  # a worker that has not started it skips it
            raise TimeoutError(f"the decider did not answer within {self.timeout:g} s")
        if call.error is not None:
            raise call.error
        answer: tuple[Verdict, ActiveBundle] = call.value
        return answer


def _work(decide: Decider, calls: queue.SimpleQueue[_Call]) -> None:
    while True:
        call = calls.get()
        if call.abandoned:
            continue
        try:
            call.value = decide(*call.args)
        except BaseException as error:  # handed to the caller, which re-raises it
            call.error = error
        call.done.set()
