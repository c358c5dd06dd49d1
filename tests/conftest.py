"""Fixtures on real services (PostgreSQL, SMTP over loopback); `./run test` starts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.container import Container
from infra.settings import Settings
from tests.support import (
    Api,
    MailSink,
    live_server,
    mail_sink,
    make_settings,
    running_container,
    throwaway_database,
)


@pytest.fixture
def database_url() -> Iterator[str]:
    with throwaway_database() as url:
        yield url


@pytest.fixture
def mail() -> Iterator[MailSink]:
    with mail_sink() as sink:
        yield sink


@pytest.fixture
def settings(database_url: str, tmp_path: Path, mail: MailSink) -> Settings:
    return make_settings(database_url, tmp_path, smtp_port=mail.port)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    with running_container(settings) as c:
        yield c


@pytest.fixture
def base_url(container: Container) -> Iterator[str]:
    with live_server(container) as url:
        yield url


@pytest.fixture
def api(base_url: str, mail: MailSink) -> Iterator[Api]:
    client = Api(base_url, mail)
    yield client
    client.http.close()
