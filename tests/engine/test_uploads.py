"""Where the engine finds uploads: every registered source, in turn."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from server.engine import uploads
from server.engine.uploads import GivenUpload, UploadedData, UploadUnavailable, add_upload_source, find_upload


class Unreachable:
    """A source whose store cannot be reached (an app of another test, pointed at a closed port)."""

    def get(self, upload_id):
        raise ConnectionError("the store is unreachable")


class InOrder(list):
    """The registry, asked in the order sources were added (the real one is a weak set, in no order)."""

    def add(self, source):
        self.append(source)

    def discard(self, source):
        if source in self:
            self.remove(source)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(uploads, "_sources", InOrder())  # only this test's sources, in a known order

    def register(source):
        add_upload_source(source)
        return source

    yield register


def an_upload():
    key = secrets.token_urlsafe(16)
    data = UploadedData(X=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), classes=(0, 1), features=("a", "b"))
    return key, data


def test_a_source_that_fails_does_not_hide_another_ones_copy(registered):
    key, data = an_upload()
    registered(Unreachable())  # asked first
    registered(GivenUpload(key, data))
    assert find_upload(f"upload:{key}") is data


def test_when_no_source_has_it_a_failure_is_said_rather_than_that_it_does_not_exist(registered):
    key, _ = an_upload()
    registered(Unreachable())
    with pytest.raises(ConnectionError):
        find_upload(f"upload:{key}")


def test_an_upload_no_source_knows_is_unavailable(registered):
    key, data = an_upload()
    registered(GivenUpload(key, data))
    with pytest.raises(UploadUnavailable):
        find_upload(f"upload:{secrets.token_urlsafe(16)}")
