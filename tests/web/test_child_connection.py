"""The parent's end of a child's connection: multiprocessing's framing, over the socket object's own calls."""

from __future__ import annotations

import socket
import threading
from multiprocessing.connection import Connection

import pytest

from server.child import SocketConnection


@pytest.fixture
def ends():
    ours, theirs = socket.socketpair()
    parent, child = SocketConnection(ours), Connection(theirs.detach())
    yield parent, child
    parent.close()
    child.close()


def test_messages_cross_both_ways_in_connections_framing(ends):
    parent, child = ends
    parent.send(("start", 1, {"data": {"n_samples": 40}}))
    assert child.recv() == ("start", 1, {"data": {"n_samples": 40}})
    child.send(("event", 1, {"event": "metrics"}, 3, None))
    assert parent.recv() == ("event", 1, {"event": "metrics"}, 3, None)


def test_a_message_larger_than_the_socket_buffers_arrives_whole(ends):
    parent, child = ends
    big = ("result", 7, "x" * 3_000_000)
    sender = threading.Thread(target=child.send, args=(big,))
    sender.start()
    assert parent.recv() == big
    sender.join()
    received = []
    receiver = threading.Thread(target=lambda: received.append(child.recv()))
    receiver.start()
    parent.send(big)
    receiver.join()
    assert received == [big]


def test_the_end_of_the_child_is_an_eof(ends):
    parent, child = ends
    child.send(("ready", 0))
    child.close()
    assert parent.recv() == ("ready", 0)
    with pytest.raises(EOFError):
        parent.recv()
