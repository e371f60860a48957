"""The work queue as the simulation runs it: on the simulated clock, in the simulator's thread.

The local worker thread (``chalicelib.runtime.queue.LocalWorker``) would consume
messages whenever the machine gets to them, so faults drawn from the one seeded
generator, and the moment a delivery lands, would differ from run to run. This
stand-in keeps the same contract (a message is retried ``MAX_ATTEMPTS`` times,
then parked in ``failed``, the local dead-letter queue) but runs a message only
when the simulation pumps it, once its delay has passed on the simulated clock.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Dict, List, Tuple


# infra/work_queue.py: six times the consumer's 30 s Lambda timeout.
VISIBILITY_TIMEOUT_S = 180


class Crash(BaseException):
    """A process dying between two steps: not an Exception, so no handler of the app's catches it."""


class SimQueue:
    def __init__(self, clock: Callable[[], Any]) -> None:
        self.clock = clock
        self.messages: List[Tuple[Any, int, Dict[str, Any]]] = []
        self.failed: List[Dict[str, Any]] = []
        self.seq = 0
        self.runs = 0
        self.retries = 0

    # -- what chalicelib.runtime.queue calls ---------------------------------------------

    def put(self, message: Dict[str, Any], delay_seconds: float = 0) -> None:
        self.seq += 1
        self.messages.append((self.clock() + timedelta(seconds=delay_seconds), self.seq, message))

    def drain(self, timeout: float = 10.0) -> bool:
        return not self.messages

    # -- what the simulation calls ---------------------------------------------------------

    def due(self) -> List[Tuple[Any, int, Dict[str, Any]]]:
        now = self.clock()
        return sorted(m for m in self.messages if m[0] <= now)

    def next_due(self) -> Any:
        return min(m[0] for m in self.messages) if self.messages else None

    def pump(self, before_each: Callable[[Dict[str, Any]], None]) -> int:
        """Run every message due now, in due order (retries queued meanwhile wait their turn)."""
        from chalicelib.runtime import queue

        ran = 0
        for entry in self.due():
            self.messages.remove(entry)
            message = entry[2]
            before_each(message)
            attempt = message.get("attempt", 1)
            self.runs += 1
            ran += 1
            try:
                queue.consume(message, attempt)
            except (Exception, Crash) as exc:  # the consumer failed or its process died: SQS delivers it again
                if attempt < queue.MAX_ATTEMPTS:
                    self.retries += 1
                    # A dead worker's message comes back when its visibility timeout ends (what
                    # it held under a lease has lapsed by then); a failure is retried sooner.
                    delay = VISIBILITY_TIMEOUT_S if isinstance(exc, Crash) else 2 ** attempt
                    self.put({**message, "attempt": attempt + 1}, delay)
                else:
                    self.failed.append(message)
        return ran
