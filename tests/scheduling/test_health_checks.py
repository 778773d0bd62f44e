"""The health checks on their own: the embedded filesystem broker's folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery import Celery

from scheduling.health import check_broker


@pytest.fixture(autouse=True)
def _broker_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery prefers the CELERY_BROKER_URL environment variable to its configuration.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)


def filesystem_app(folder: Path) -> Celery:
    """A Celery app on kombu's filesystem transport under ``folder``, as settings.py sets it."""
    app = Celery("health-test", set_as_current=False)
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
    }
    return app


def test_the_filesystem_broker_is_up_when_its_folders_are_usable(tmp_path) -> None:
    for name in ("queue", "control"):
        (tmp_path / name).mkdir()

    result = check_broker(filesystem_app(tmp_path))

    assert result["ok"] is True
    assert result["transport"] == "filesystem"


def test_the_filesystem_broker_is_down_when_a_folder_is_missing(tmp_path) -> None:
    (tmp_path / "queue").mkdir()

    result = check_broker(filesystem_app(tmp_path))

    # kombu itself connects happily: only the folder check sees it.
    assert result == {"ok": False, "error": "FileNotFoundError"}
