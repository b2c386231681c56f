"""Uploaded data sets: what the engine needs of them, and where it finds them.

A config names an upload as ``data.dataset: "upload:<id>"``.  The engine does
not store uploads: whoever does (the web layer's store, a training host that
was sent the arrays with its start message) registers an ``UploadSource``,
and ``find_upload`` asks each registered source in turn.  Ids are random, so
two sources never disagree about one.

Sources are held weakly: a store that its owner drops stops answering, and
tests that build many apps in one process need not unregister anything.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import numpy as np

UPLOAD_PREFIX = "upload:"
# The id part: what ``secrets.token_urlsafe`` makes, from 16 characters on.
UPLOAD_PATTERN = r"^upload:[A-Za-z0-9_-]{16,64}$"
_UPLOAD_NAME = re.compile(UPLOAD_PATTERN)


@dataclass(frozen=True, eq=False)
class UploadedData:
    """An uploaded table: ``X`` float64 (m, n_features), ``y`` int64 (m,) indices into ``classes``.

    ``classes`` are the labels as the file wrote them (ints when every label
    was an integer, else strings), in class-index order; ``features`` the
    header's feature column names.
    """

    X: np.ndarray
    y: np.ndarray
    classes: tuple
    features: tuple[str, ...]

    @property
    def n_samples(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def nbytes(self) -> int:
        return int(self.X.nbytes + self.y.nbytes)


class UploadSource(Protocol):
    def get(self, upload_id: str) -> UploadedData | None:
        """The upload of this id (the part after ``upload:``), or None when it is unknown or expired."""


class UploadUnavailable(LookupError):
    """A config names an upload that no source has (never uploaded, or expired)."""


_sources: weakref.WeakSet = weakref.WeakSet()
_sources_lock = threading.Lock()


def is_upload(dataset: str) -> bool:
    return dataset.startswith(UPLOAD_PREFIX)


def upload_id(dataset: str) -> str:
    """``upload:<id>`` -> ``<id>``; ValueError for a name that is not an upload's."""
    if not _UPLOAD_NAME.match(dataset):
        raise ValueError(f"{dataset!r} does not name an upload (upload:<id>)")
    return dataset[len(UPLOAD_PREFIX):]


def add_upload_source(source: UploadSource) -> None:
    with _sources_lock:
        _sources.add(source)


def remove_upload_source(source: UploadSource) -> None:
    with _sources_lock:
        _sources.discard(source)


def find_upload(dataset: str) -> UploadedData:
    """The arrays behind ``upload:<id>``; ``UploadUnavailable`` when no source has them.

    A source that fails (its store unreachable) does not hide another's copy;
    when none has the upload, the first failure is raised, not ``UploadUnavailable``.
    """
    key = upload_id(dataset)
    with _sources_lock:
        sources = list(_sources)
    failures = []
    for source in sources:
        try:
            found = source.get(key)
        except Exception as error:  # e.g. Redis unreachable: the caller says so, unless another has it
            failures.append(error)
            continue
        if found is not None:
            return found
    if failures:
        raise failures[0]
    raise UploadUnavailable(f"no uploaded data set {dataset!r}: it was never uploaded or has expired")


class GivenUpload:
    """A source of one upload: a process that was sent the arrays registers it while it needs them."""

    def __init__(self, key: str, data: UploadedData):
        self._key, self._data = key, data

    def get(self, upload_id: str) -> UploadedData | None:
        return self._data if upload_id == self._key else None


@contextmanager
def upload_provided(dataset: str, data: UploadedData) -> Iterator[None]:
    """Make ``data`` findable as ``dataset`` for the duration (a process that was sent the arrays)."""
    source = GivenUpload(upload_id(dataset), data)
    add_upload_source(source)
    try:
        yield
    finally:
        remove_upload_source(source)
