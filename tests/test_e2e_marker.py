"""The ``e2e`` marker is real: ``-m "not e2e"`` keeps every browser test (and so Chromium) out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def collected(*arguments: str) -> list[str]:
    """Node ids that ``pytest --collect-only`` selects with ``arguments``."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 5), result.stdout + result.stderr  # 5: nothing selected
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_every_browser_test_is_marked_so_not_e2e_selects_none_of_them():
    assert len(collected("-m", "e2e", "tests/e2e")) > 30
    assert collected("-m", "not e2e", "tests/e2e") == []


def test_the_page_route_tests_need_no_browser_and_stay_selected():
    assert len(collected("-m", "not e2e", "tests/web/test_page_routes.py")) > 5
