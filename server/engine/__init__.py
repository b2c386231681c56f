"""The NumPy engine: data, network, training loop and gradient check, without any web code.

Entry points (the contract's section 2)::

    make_data(config)        -> {"train": (X, y), "dev": (X, y), "test": (X, y)}
    train(config)            -> iterator of {"event": NAME, "data": {...}}
    gradient_check(config)   -> {"difference", "verdict", "layers", ...}
    preview(config)          -> {"data": {...}, "parameters", "points"}, before any training

``Trainer`` is the object behind ``train`` for callers that need live control
(``request_update``, ``request_stop``).
"""

from server.engine.config import ConfigError, parse_config
from server.engine.data import make_data
from server.engine.gradcheck import gradient_check
from server.engine.preview import preview
from server.engine.trainer import Trainer, train

__all__ = ["ConfigError", "Trainer", "gradient_check", "make_data", "parse_config", "preview", "train"]
