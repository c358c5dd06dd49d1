"""`api.spa`: the built web app answers what the API did not, and never with a 500."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.spa import mount_spa

PAGE = {"accept": "text/html"}


def test_a_page_while_the_app_is_rebuilt_is_a_404_not_a_500(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<div id="app"></div>')
    app = FastAPI()
    assert mount_spa(app, dist=tmp_path)
    with TestClient(app, raise_server_exceptions=False) as http:
        r = http.get("/t/acme/dashboard", headers=PAGE)
        assert r.status_code == 200 and '<div id="app">' in r.text
        (tmp_path / "index.html").unlink()  # a build empties `dist` before it writes again
        assert http.get("/t/acme/dashboard", headers=PAGE).status_code == 404
