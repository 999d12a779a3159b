"""Run inference off the main thread and hand its events back through a queue.

Slicer's scene, VTK and Qt objects may only be touched on the main thread, and a UI
must never wait for the model. So a module reads everything it needs from the scene
first (a Study), starts a ``Job`` (a worker thread: ONNX Runtime releases the GIL
while it computes), and polls it from a ``QTimer`` on the main thread, which applies
each event (a streamed text piece, the result, or an error) to widgets and nodes.
Nothing here imports Qt: the same job runs in batch scripts and tests.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

from radfound.errors import GenerationCancelled


@dataclass
class Event:
    kind: str  # "text" (a streamed piece), "done" (the result), "cancelled" or "error"
    value: Any = None


class Job:
    """One background inference: ``work(on_text, cancel)`` runs in a daemon thread; events arrive via ``poll``."""

    def __init__(self, work: Callable[[Callable[[str], None], threading.Event], Any], name: str = "radfound-job"):
        self._work = work
        self._events: queue.Queue[Event] = queue.Queue()
        self.cancel_event = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self._work(lambda delta: self._events.put(Event("text", delta)), self.cancel_event)
            self._events.put(Event("done", self.result))
        except GenerationCancelled as exc:
            self.error = exc
            self._events.put(Event("cancelled", exc))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which shows it
            self.error = exc
            self._events.put(Event("error", exc))

    def cancel(self) -> None:
        """Ask the model to stop before its next token (it raises GenerationCancelled)."""
        self.cancel_event.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def poll(self) -> list[Event]:
        """Every event produced since the last poll, without waiting (call from the main thread)."""
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def follow(self, on_text: Callable[[str], None] | None = None) -> Any:
        """Block until done, passing streamed text to ``on_text`` on the calling thread; return the result."""
        while True:
            finished = not self.running
            for event in self.poll():
                if event.kind == "text" and on_text is not None:
                    on_text(event.value)
            if finished:
                return self.wait()
            self._thread.join(0.02)

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends; return its result or raise its error (batch use)."""
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.result
