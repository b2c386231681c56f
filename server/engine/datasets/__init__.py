"""Data files shipped with the engine (read through ``importlib.resources``)."""
