"""Texts the engine writes for people, kept translatable: an English template plus parameters.

A ``Message`` renders to English with ``str()``, and to JSON as
``{"id": template, "params": {...}}``: the template is the gettext message id
that the page looks up in its catalog (docs/page.md), so the engine stays a
library that knows no languages.  Parameters are display strings (numbers
already formatted), nested messages, or lists of messages, which render as
"a, b or c" in whichever language the reader has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

# The message that joins a list parameter's items; the page translates it too.
LIST_JOIN = "{rest} or {last}"

Param = Union[str, "Message", list["Message"]]


@dataclass(frozen=True)
class Message:
    """``template`` with ``{name}`` fields filled from ``params``."""

    template: str
    params: dict[str, Param] = field(default_factory=dict)

    def __init__(self, template: str, **params: Param):
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "params", params)

    def __str__(self) -> str:
        return self.template.format(**{name: _render(value) for name, value in self.params.items()})

    def json(self) -> dict[str, Any]:
        return {"id": self.template, "params": {name: _json(value) for name, value in self.params.items()}}


def _render(value: Param) -> str:
    if isinstance(value, list):
        items = [_render(item) for item in value]
        if len(items) == 1:
            return items[0]
        return LIST_JOIN.format(rest=", ".join(items[:-1]), last=items[-1])
    return str(value)


def _json(value: Param) -> Any:
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value.json() if isinstance(value, Message) else value
