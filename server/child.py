"""Child processes started as ``python -m <module>``, talking to their parent over a socket pair.

multiprocessing's ``spawn`` and ``forkserver`` start a child by importing the
parent's ``__main__`` again, so an app script without an ``if __name__ ==
"__main__":`` guard would start itself once more in every training host and
search worker.  A child started here runs its own module and nothing else.

It imports what the parent imports: its ``PYTHONPATH`` is the parent's
``sys.path``, so ``server`` (and any function a message names) comes from the
same place, whether that is a checkout, an editable install, a wheel or a
directory that a script put on its path.  ``-P`` keeps the child's working
directory off the front of that path.  Messages are pickled tuples
(``multiprocessing.connection.Connection``), the protocol each module defines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from multiprocessing.connection import Connection


class Child:
    """A ``python -m module`` process and the parent's end of its connection."""

    def __init__(self, module: str, environ: Mapping[str, str] | None = None):
        parent_end, child_end = socket.socketpair()
        try:
            descriptor = child_end.fileno()
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", module, str(descriptor)], pass_fds=(descriptor,),
                env=child_environment(environ), stdin=subprocess.DEVNULL)
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.connection = Connection(parent_end.detach())

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s for the process to end; whether it has."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def terminate(self) -> None:
        if self.is_alive():
            self.process.terminate()

    def stop(self, timeout: float) -> None:
        """Wait for the process to end (it was asked to), else terminate it; close the connection."""
        if not self.join(timeout):
            self.terminate()
            if not self.join(1.0):
                self.process.kill()
                self.join()
        self.connection.close()


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, ``environ`` over it, and its ``sys.path`` as ``PYTHONPATH``."""
    path = [entry or os.getcwd() for entry in sys.path]
    return {**os.environ, **(environ or {}), "PYTHONPATH": os.pathsep.join(path)}


def connect_to_parent() -> Connection:
    """In a child: the connection its parent passed (the descriptor is the last argument).

    Ctrl-C in a terminal reaches the whole process group: the parent decides
    what ends, and a child ends when told to or when the connection closes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return Connection(int(sys.argv[-1]))
