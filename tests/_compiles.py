"""Test helper: a process-wide counter of XLA compilations (JAX's monitoring events),
registered once, so tests assert "no recompilation on the second call" as optax's do."""

from __future__ import annotations

import jax


class CompileCounter:
    def __init__(self) -> None:
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


COMPILES = CompileCounter()
