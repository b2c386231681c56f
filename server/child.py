"""Child processes started as ``python -m <module>``, talking to their parent over a socket pair.

multiprocessing's ``spawn`` and ``forkserver`` start a child by importing the
parent's ``__main__`` again, so an app script without an ``if __name__ ==
"__main__":`` guard would start itself once more in every training host and
search worker.  A child started here runs its own module and nothing else.

It imports what the parent imports: its ``PYTHONPATH`` is the parent's
``sys.path``, so ``server`` (and any function a message names) comes from the
same place, whether that is a checkout, an editable install, a wheel or a
directory that a script put on its path.  ``-P`` keeps the child's working
directory off the front of that path.  Messages are pickled tuples in
``multiprocessing.connection.Connection``'s framing, the protocol each module
defines.  The parent's end is a ``SocketConnection``: its reads and writes go
through the socket object, so under an evented server (gevent patches
``socket``) a reader waiting for its child yields to the other connections
instead of blocking the whole process, as ``Connection``'s ``os.read`` would.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import struct
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
            # An evented server's sockets are non-blocking underneath; the
            # child reads its end with plain blocking calls.
            os.set_blocking(descriptor, True)
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-m", module, str(descriptor)], pass_fds=(descriptor,),
                env=child_environment(environ), stdin=subprocess.DEVNULL)
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self.connection = SocketConnection(parent_end)

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


class SocketConnection:
    """``send``, ``recv`` and ``close`` of ``multiprocessing.connection.Connection``, over a socket.

    The same wire format (a signed 32-bit big-endian length, or -1 and a 64-bit
    one, then the pickle), so the child reads it with a plain ``Connection``.
    """

    def __init__(self, sock: socket.socket):
        self._socket = sock

    def send(self, message) -> None:
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        size = len(payload)
        header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
        self._socket.sendall(header + payload)

    def recv(self):
        """The next message; ``EOFError`` once the child has closed its end."""
        (size,) = struct.unpack("!i", self._read(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self._read(8))
        return pickle.loads(self._read(size))

    def _read(self, size: int) -> bytes:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            count = self._socket.recv_into(view[received:])
            if count == 0:
                raise EOFError("the child closed its connection")
            received += count
        return bytes(buffer)

    def close(self) -> None:
        self._socket.close()


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
