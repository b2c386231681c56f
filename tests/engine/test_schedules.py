"""Learning-rate schedules against values worked out by hand from the contract's formulas."""

import pytest

from server.engine.config import RunConfig, Schedule
from server.engine.schedules import SCHEDULE_NAMES, learning_rate_at, learning_rates

A0 = 0.2

GOLDEN = [
    # (schedule settings, epoch, expected learning rate)
    ({"name": "constant"}, 0, 0.2),
    ({"name": "constant"}, 999, 0.2),
    # a0 / (1 + decay_rate * floor(t / time_interval)), defaults decay_rate 1, interval 1
    ({"name": "inverse_time"}, 0, 0.2),
    ({"name": "inverse_time"}, 1, 0.1),
    ({"name": "inverse_time"}, 4, 0.04),
    ({"name": "inverse_time"}, 9, 0.02),
    ({"name": "inverse_time", "decay_rate": 0.5, "time_interval": 10}, 9, 0.2),
    ({"name": "inverse_time", "decay_rate": 0.5, "time_interval": 10}, 10, 0.2 / 1.5),
    ({"name": "inverse_time", "decay_rate": 0.5, "time_interval": 10}, 25, 0.1),
    # a0 * base**t, default base 0.95
    ({"name": "exponential"}, 0, 0.2),
    ({"name": "exponential"}, 1, 0.19),
    ({"name": "exponential"}, 2, 0.1805),
    ({"name": "exponential"}, 10, 0.11974738784767578125),
    ({"name": "exponential", "base": 0.5}, 3, 0.025),
    # a0 * k / sqrt(t + 1), default k 1
    ({"name": "inverse_sqrt"}, 0, 0.2),
    ({"name": "inverse_sqrt"}, 3, 0.1),
    ({"name": "inverse_sqrt"}, 8, 0.2 / 3),
    ({"name": "inverse_sqrt", "k": 2.0}, 15, 0.1),
    # a0 * factor**floor(t / every), defaults factor 0.5, every 100
    ({"name": "step"}, 0, 0.2),
    ({"name": "step"}, 99, 0.2),
    ({"name": "step"}, 100, 0.1),
    ({"name": "step"}, 250, 0.05),
    ({"name": "step"}, 300, 0.025),
    ({"name": "step", "factor": 0.1, "every": 3}, 7, 0.002),
]


@pytest.mark.parametrize("settings, epoch, expected", GOLDEN)
def test_golden_values(settings, epoch, expected):
    schedule = Schedule.model_validate(settings)
    assert learning_rate_at(schedule, A0, epoch) == pytest.approx(expected, rel=1e-14)


def test_every_schedule_of_the_config_vocabulary_is_covered():
    assert {settings["name"] for settings, _, _ in GOLDEN} == set(SCHEDULE_NAMES)


def test_accepts_the_run_config_section_and_a_plain_dict_alike():
    config = RunConfig.model_validate({"schedule": {"name": "step", "every": 2, "factor": 0.5}})
    assert learning_rate_at(config.schedule, 1.0, 6) == 0.125
    assert learning_rate_at(config.schedule.model_dump(), 1.0, 6) == 0.125


def test_returns_a_python_float():
    assert type(learning_rate_at(Schedule(name="exponential"), 0.1, 3)) is float


def test_a_live_change_of_rate_rescales_the_decay_that_has_already_happened():
    schedule = Schedule(name="inverse_time", decay_rate=1.0)
    # epoch 3 of a run whose rate was raised from 0.1 to 0.4 at some earlier epoch
    assert learning_rate_at(schedule, 0.4, 3) == pytest.approx(0.1)


def test_learning_rates_gives_the_whole_curve():
    curve = learning_rates(Schedule(name="step", every=2, factor=0.5), 1.0, 6)
    assert curve.tolist() == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert learning_rates(Schedule(), 0.3, [0, 5]).tolist() == [0.3, 0.3]


def test_rates_stay_finite_and_non_negative_over_the_longest_run():
    for name in SCHEDULE_NAMES:
        curve = learning_rates(Schedule(name=name, base=0.5, decay_rate=1000.0), 10.0, 10000)
        assert (curve >= 0).all() and (curve <= 10.0).all(), name


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        learning_rate_at({"name": "cosine"}, 0.1, 0)
    with pytest.raises(ValueError, match="counted from 0, got -1"):
        learning_rate_at(Schedule(), 0.1, -1)
