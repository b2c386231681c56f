"""Lessons: the presets (``presets``) and the computations behind the three labs (``labs``).

Plain NumPy and pydantic, no Flask: ``server.web.lessons`` serves them.
"""
