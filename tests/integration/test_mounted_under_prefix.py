"""The dashboard mounted under a prefix in a project's URLconf (`path("tributary/", include("dashboard.urls"))`):
every link, form, script URL and redirect stays under the prefix, the scripts learn the prefix from the page,
the login views are the project's when LOGIN_URL leads to one and the dashboard's otherwise, and the websocket
routes answer under the prefix through `dashboard.routing.websocket_application`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import AsyncClient, Client

from dashboard import live
from dashboard.routing import websocket_application
from runs import client as runs_client
from runs.models import Run
from runs.store.functions import sync_functions
from tests.integration import live_functions

PREFIX = "/tributary/"
STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"
URL_ATTRIBUTE = re.compile(r'(?:href|src|action)="(/[^"]*)"')


@pytest.fixture
def mounted(settings: Any) -> Any:
    settings.ROOT_URLCONF = "tests.prefix_urls"
    # A new project's: Django's default LOGIN_URL, which this project does not serve, and no logout page.
    settings.LOGIN_URL = "/accounts/login/"
    settings.LOGOUT_REDIRECT_URL = None
    return settings


@pytest.fixture
def run_id(db: None) -> str:
    sync_functions(live_functions.app.functions.values())
    event_id = runs_client.send(live_functions.ECHO_EVENT, {"n": 1})
    return Run.objects.get(event_id=event_id).id


@pytest.fixture
def browser(client: Client, db: None) -> Client:
    client.force_login(get_user_model().objects.create_user("operator", password="pw"))
    return client


def page_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="tributary-page-config" type="application/json">(.*?)</script>', html, re.S)
    assert found, "the page hands its scripts no config"
    return json.loads(found.group(1))


@pytest.mark.parametrize("page", ["runs/", "runs/{run}/", "functions/", "events/", "audit/", "apps/", "incidents/",
                                  "metrics/"])
def test_every_url_on_a_page_is_under_the_prefix(mounted: Any, browser: Client, run_id: str, page: str) -> None:
    response = browser.get(PREFIX + page.format(run=run_id))
    assert response.status_code == 200
    html = response.content.decode()
    urls = URL_ATTRIBUTE.findall(html)
    assert urls, "no URL found on the page"
    outside = [url for url in urls if not url.startswith((PREFIX, "/static/tributary/"))]
    assert outside == []
    assert page_config(html)["base"] == PREFIX


def test_the_prefix_root_and_the_api_answer_under_it(mounted: Any, browser: Client, run_id: str) -> None:
    home = browser.get(PREFIX)
    assert home.status_code == 302 and home["Location"] == f"{PREFIX}runs/"
    listing = browser.get(f"{PREFIX}api/runs")
    assert listing.status_code == 200 and [r["id"] for r in listing.json()["runs"]] == [run_id]
    assert browser.get("/").content == b"the project's own home page"  # the project's own names still win
    assert browser.get("/runs/").status_code == 404
    # Prometheus' target sits beside the Metrics page under the prefix (this user lacks runs.view_run: 403 JSON).
    assert browser.get(f"{PREFIX}metrics").json()["error"] == "metrics need the runs.view_run permission"


def test_without_a_login_of_its_own_the_project_uses_the_dashboards(mounted: Any, db: None) -> None:
    get_user_model().objects.create_user("alice", password="pw")
    anonymous = Client()
    response = anonymous.get(f"{PREFIX}runs/")
    assert response.status_code == 302
    assert response["Location"] == f"{PREFIX}accounts/login/?next={PREFIX}runs/"
    form = anonymous.get(response["Location"])
    assert form.status_code == 200 and f'action="{PREFIX}accounts/login/"' in form.content.decode()
    logged_in = anonymous.post(f"{PREFIX}accounts/login/", {"username": "alice", "password": "pw"})
    assert logged_in.status_code == 302 and logged_in["Location"] == f"{PREFIX}runs/"
    assert anonymous.get(f"{PREFIX}runs/").status_code == 200
    logged_out = anonymous.post(f"{PREFIX}accounts/logout/")
    assert logged_out.status_code == 302 and logged_out["Location"] == f"{PREFIX}accounts/login/"
    assert anonymous.get(f"{PREFIX}runs/").status_code == 302


def test_a_project_login_named_by_login_url_is_used(mounted: Any, db: None) -> None:
    mounted.LOGIN_URL = "login"  # the project's own view, by URL name
    response = Client().get(f"{PREFIX}functions/")
    assert response.status_code == 302 and response["Location"] == f"/my-login/?next={PREFIX}functions/"


def test_pages_say_whether_a_live_socket_can_work(mounted: Any, browser: Client) -> None:
    # Over WSGI (plain runserver) there are no websockets: the badge says so instead of retrying.
    assert page_config(browser.get(f"{PREFIX}runs/").content.decode())["live"] is False
    asgi = AsyncClient()
    asgi.cookies = browser.cookies
    response = async_to_sync(asgi.get)(f"{PREFIX}runs/")
    assert page_config(response.content.decode())["live"] is True


def test_scripts_build_every_url_from_the_base_the_page_hands_them() -> None:
    absolute = re.compile(r"""["'`]/(?:runs|api|ws|audit|events|functions|accounts)\b""")
    found = {path.name: absolute.findall(path.read_text()) for path in STATIC_JS.glob("*.js")}
    assert {name: hits for name, hits in found.items() if hits} == {}


@pytest.mark.django_db(transaction=True)
def test_websockets_answer_under_the_prefix(mounted: Any, client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "_home_loop", None)  # consumers attach their loop; forget it afterwards
    client.force_login(get_user_model().objects.create_user("watcher", password="pw"))
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]

    async def scenario() -> None:
        socket = WebsocketCommunicator(websocket_application, f"{PREFIX}ws/runs/", headers=headers)
        connected, _ = await socket.connect(timeout=5)
        assert connected and await socket.receive_json_from(timeout=5) == {"type": "hello"}
        await socket.disconnect()
        outside = WebsocketCommunicator(websocket_application, "/ws/runs/", headers=headers)
        await outside.connect(timeout=5)
        assert (await outside.receive_output(timeout=5))["code"] == 4404
        await outside.disconnect()

    async_to_sync(scenario)()
