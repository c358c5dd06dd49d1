"""`./run up`'s process: embedded Postgres under MCPS_HOME, ready line, restart keeps data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(home: Path, port: int) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")
    }
    env.update(MCPS_HOME=str(home), PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "up"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 180  # first start: initdb, schemas, template seed
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "is ready at" in line:
            assert f"http://127.0.0.1:{port}" in line
            return process
        if process.poll() is not None:
            break
    process.kill()
    rest = process.stdout.read()
    raise AssertionError(
        f"`up` did not print its ready line (exit {process.wait()}, a negative exit is the"
        f" signal that ended it): {rest}"
    )


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0


def test_up_serves_keeps_data_across_restarts_and_writes_mail_to_files(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start(home, port)
    try:
        r = httpx.post(
            f"{url}/api/v1/auth/register",
            json={"email": "up@example.com", "username": "upuser", "password": "Sup3r-secret!"},
        )
        assert r.status_code == 201, r.text
        mails = list((home / "mail").glob("*.eml"))
        assert len(mails) == 1 and "up@example.com" in mails[0].read_text()
    finally:
        _stop(process)

    process = _start(home, port)
    try:
        r = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": "up@example.com", "password": "Sup3r-secret!"},
        )
        assert r.status_code == 200, r.text
        me = httpx.get(
            f"{url}/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        assert me.json()["username"] == "upuser"
        assert httpx.get(f"{url}/readyz").status_code == 200
    finally:
        _stop(process)


def test_two_instances_run_side_by_side(tmp_path: Path) -> None:
    first, second = free_port(), free_port()
    a = _start(tmp_path / "a", first)
    try:
        b = _start(tmp_path / "b", second)
        try:
            for port in (first, second):
                assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        finally:
            _stop(b)
    finally:
        _stop(a)
