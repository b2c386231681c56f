"""The package as a user installs it: a wheel in a fresh virtual environment serves every page and asset."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.web.serving import ROOT, free_port, get, gunicorn, post_json

PAGES = ("/", "/embed", "/labs", "/search", "/vendor/plotly.min.js")
SOURCES = ("pyproject.toml", "README.md", "server", "templates", "static")


def lab_pages() -> list[str]:
    """``/labs/<name>`` for every lab template (partials start with ``_``)."""
    return sorted(f"/labs/{path.stem}" for path in (ROOT / "templates" / "labs").glob("*.html")
                  if not path.name.startswith("_") and path.stem != "index")


def static_files() -> list[Path]:
    folder = ROOT / "static"
    return sorted(path.relative_to(folder) for path in folder.rglob("*") if path.is_file())


def run(command: list[str], **options) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def copy_sources(destination: Path) -> Path:
    """The files a build reads, copied: building writes build/ and *.egg-info next to them."""
    destination.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, destination / name)
    return destination


def new_venv(path: Path) -> str:
    """A venv that sees this interpreter's packages (flask, numpy...), without pip of its own; its python."""
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)])
    return str(path / "bin" / "python")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv with the project's wheel installed, its python, and a directory outside the checkout."""
    base = tmp_path_factory.mktemp("install")
    source = copy_sources(base / "source")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), str(source)])
    (wheel,) = (base / "dist").glob("*.whl")
    venv = base / "venv"
    python = new_venv(venv)
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
         str(wheel)])
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return python, venv, elsewhere


def clean_environment() -> dict:
    """This environment without anything that would lead Python back to the checkout."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def test_the_wheel_lists_every_package_under_server():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "server").rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml's packages: {sorted(found - listed)}"


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    python, venv, elsewhere = installed
    location = run([python, "-c", "import server; print(server.__file__)"], cwd=elsewhere,
                   env=clean_environment()).strip()
    assert Path(location).is_relative_to(venv)
    folders = run([python, "-c", "from server.web import page_folder; print(page_folder('templates'));"
                   "print(page_folder('static'))"], cwd=elsewhere, env=clean_environment()).split()
    assert all(Path(folder).is_relative_to(venv) for folder in folders)


def test_gunicorn_serves_every_page_asset_and_a_run_from_the_wheel(installed):
    python, _, elsewhere = installed
    port = free_port()
    with gunicorn(port, python=python, cwd=elsewhere, env=clean_environment()):
        pages = [*PAGES, *lab_pages()]
        statuses = {page: get(port, page)[0] for page in pages}
        assert statuses == dict.fromkeys(pages, 200)
        for relative in static_files():
            status, body = get(port, f"/static/{relative.as_posix()}")
            assert status == 200, relative
            assert body == (ROOT / "static" / relative).read_bytes(), relative
        small = {"data": {"n_samples": 60}, "training": {"epochs": 3}}
        status, run_body = post_json(port, "/api/runs", small)
        assert status == 201
        status, body = get(port, run_body["events_url"])  # the stream ends with the run
        assert status == 200 and b"event: done" in body


def test_an_editable_install_serves_the_pages_from_the_checkout(tmp_path):
    source = copy_sources(tmp_path / "checkout")
    python = new_venv(tmp_path / "venv")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", "-e",
         str(source)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths = [*PAGES, "/static/js/main.js"]
    probe = ("import server\nfrom server import create_app\n"
             "client = create_app({'TESTING': True}).test_client()\n"
             f"print(server.__file__, *(client.get(path).status_code for path in {paths!r}))")
    location, *statuses = run([python, "-c", probe], cwd=elsewhere, env=clean_environment()).split()
    assert Path(location).is_relative_to(source)
    assert statuses == ["200"] * len(paths)
