"""Control, gradient-check and search-control bodies as pydantic models: one 400 shape naming each field."""

from __future__ import annotations

import pytest

from server.web.api import GradcheckRequest, RunControl
from server.web.errors import validate_body
from server.web.searches import SearchControl


@pytest.mark.parametrize(("model", "raw", "details"), [
    (RunControl, {"action": "explode", "force": 1}, [
        ("action", "must be one of pause, resume, step, stop, update"), ("force", "unexpected field")]),
    (RunControl, {"config": {}}, [("action", "must be one of pause, resume, step, stop, update (missing)")]),
    (RunControl, {"action": "update"}, [("config", "an update needs the partial config to apply")]),
    (SearchControl, {"action": "zoom", "top_k": True}, [("top_k", "must be a positive integer, got True")]),
    (SearchControl, {"action": "zoom", "top_k": 2.0}, [("top_k", "must be a positive integer, got 2.0")]),
    (SearchControl, {"action": "zoom", "top_k": "x" * 100},
     [("top_k", "must be a positive integer, got '" + "x" * 36 + "...")]),
    (GradcheckRequest, {"config": {}, "epsilon": True, "inject_bug": 1}, [
        ("inject_bug", "must be true or false"), ("epsilon", "must be a number in (0, 0.01]")]),
    (GradcheckRequest, {"config": {}, "epsilon": "1e-7"}, [("epsilon", "must be a number in (0, 0.01]")]),
    (GradcheckRequest, {"inject_bug": True}, [("config", "Field required")]),
    (RunControl, ["pause"], [("", "the body must be a JSON object")]),
])
def test_every_bad_field_is_named_with_the_apis_message(model, raw, details):
    body, found = validate_body(model, raw)
    assert body is None
    assert found == [{"loc": loc, "msg": msg} for loc, msg in details]


def test_valid_bodies_keep_their_values_and_defaults():
    control, details = validate_body(RunControl, {"action": "update", "config": {"optimizer": {}}})
    assert details == [] and (control.action, control.config) == ("update", {"optimizer": {}})
    zoom, details = validate_body(SearchControl, {"action": "zoom"})
    assert details == [] and zoom.top_k == 3
    check, details = validate_body(GradcheckRequest, {"config": {}, "epsilon": 1e-5})
    assert details == [] and (check.inject_bug, check.epsilon) == (False, 1e-5)


def test_a_gradient_check_reports_its_own_fields_and_the_configs_together(client):
    body = {"config": {"optimizer": {"beta1": 2}}, "epsilon": 1, "extra": 0}
    response = client.post("/api/gradcheck", json=body)
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid configuration", "details": [
        {"loc": "epsilon", "msg": "must be a number in (0, 0.01]"},
        {"loc": "extra", "msg": "unexpected field"},
        {"loc": "config.optimizer.beta1", "msg": "Input should be less than 1"}]}
