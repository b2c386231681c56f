"""Reading SSE streams in tests: a parser of the wire format and a strict JSON decoder."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field


def strict_json(text: str):
    """``json.loads`` that rejects NaN and Infinity, as browsers' ``JSON.parse`` does."""
    def reject(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=reject)


@dataclass
class Message:
    event: str = "message"
    id: int | None = None
    data_lines: list[str] = field(default_factory=list)
    retry: int | None = None

    @property
    def data(self):
        return strict_json("\n".join(self.data_lines))


def parse_block(block: str) -> tuple[Message | None, list[str]]:
    """One message (None when the block holds only comments or nothing) and its comments."""
    message, comments, seen = Message(), [], False
    for line in block.split("\n"):
        if line.startswith(":"):
            comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        seen = True
        if name == "event":
            message.event = value
        elif name == "id":
            message.id = int(value)
        elif name == "data":
            message.data_lines.append(value)
        elif name == "retry":
            message.retry = int(value)
        else:
            raise AssertionError(f"unknown SSE field in {line!r}")
    return (message if seen else None), comments


class StreamReader:
    """Iterates the messages of a streamed test-client response, keeping comments aside."""

    def __init__(self, response):
        assert response.status_code == 200, response.get_data(as_text=True)
        self.response = response
        self._chunks = iter(response.response)
        self._buffer = ""
        self.comments: list[str] = []
        self.messages: list[Message] = []

    def _next_block(self, max_chunks: int) -> str | None:
        for _ in range(max_chunks):
            if "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                return block
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self._buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        raise AssertionError(f"no complete block in {max_chunks} chunks")

    def next_message(self, max_chunks: int = 2000) -> Message | None:
        """The next message with fields (None when the stream ended); comments are kept aside."""
        while (block := self._next_block(max_chunks)) is not None:
            message, comments = parse_block(block)
            self.comments.extend(comments)
            if message is not None:
                self.messages.append(message)
                return message
        return None

    def next_comment(self, max_blocks: int = 1000) -> str:
        """Skip to the next comment line (a heartbeat); the messages on the way are kept."""
        for _ in range(max_blocks):
            block = self._next_block(2000)
            assert block is not None, "the stream ended without a comment"
            message, comments = parse_block(block)
            if message is not None:
                self.messages.append(message)
            self.comments.extend(comments)
            if comments:
                return comments[0]
        raise AssertionError(f"no comment in {max_blocks} blocks")

    def messages_during(self, seconds: float) -> list[Message]:
        """Messages received in the next ``seconds`` (heartbeats make sure reading returns)."""
        deadline = time.monotonic() + seconds
        received = []
        while time.monotonic() < deadline:
            block = self._next_block(2000)
            if block is None:
                break
            message, comments = parse_block(block)
            self.comments.extend(comments)
            if message is not None:
                self.messages.append(message)
                received.append(message)
        return received

    def events(self, until=lambda message: False, limit: int = 100000) -> list[Message]:
        """Messages with an ``event`` until the stream ends or ``until(message)`` holds (inclusive)."""
        read = []
        for _ in range(limit):
            message = self.next_message()
            if message is None:
                return read
            if message.retry is not None and not message.data_lines:
                continue
            read.append(message)
            if until(message):
                return read
        raise AssertionError(f"stream did not end within {limit} messages")

    def close(self) -> None:
        self.response.close()
