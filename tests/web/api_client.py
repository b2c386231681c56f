"""Shortcuts over Flask's test client for the runs API."""

from __future__ import annotations


def start(client, config: dict | None = None, **request) -> dict:
    """POST a run (``{}`` by default); its 201 body."""
    response = client.post("/api/runs", json={} if config is None else config, **request)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def control(client, run: dict, action: str, **body) -> dict:
    """POST a control that must succeed; the run status it answers."""
    response = client.post(f"/api/runs/{run['id']}/control", json={"action": action, **body})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def epoch_of(message) -> int | None:
    """The epoch of a ``metrics`` message, None for any other."""
    return message.data["epoch"] if message.event == "metrics" else None
