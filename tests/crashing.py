"""Runs the ``nas`` command, killing itself with SIGKILL at a point the test names: the crash is injected here, by
wrapping the function that marks the point, so that the application carries no test hook.

    python tests/crashing.py POINT N nas-arguments...

- ``recorded``: the N-th time a strategy is about to tell its study of a result the store already holds (the
  narrowest window between the store and an Optuna study);
- ``supernet_epoch``: just after the supernet's N-th epoch checkpoint is written.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from typing import Any, Callable


def _kill_at(n: int, before: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wraps a function so that its n-th call kills the process, before or after the call itself runs."""
    calls = [0]

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if before and calls[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            out = fn(*args, **kwargs)
            if not before and calls[0] == n:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return out
        return wrapped
    return wrap


def main() -> int:
    point, n, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if point == "recorded":
        import strategies

        kill = _kill_at(n, before=True)
        owners = {k for name in strategies.names() for k in strategies.get(name).__mro__ if "flush" in vars(k)}
        for klass in owners:  # every definition of flush, each wrapped once, sharing one count
            klass.flush = kill(vars(klass)["flush"])
    elif point == "supernet_epoch":
        from nas.app import supernet

        supernet.save = _kill_at(n, before=False)(supernet.save)
    else:
        raise SystemExit(f"unknown crash point {point!r}")
    from nas.app.cli import main as nas

    return nas(args)


if __name__ == "__main__":
    sys.exit(main())
