"""Issue 11 item 14, details people expect, in real Chromium against a live `manage.py serve`: a step's input
beside its output in a JSON viewer that folds, highlights and copies; relative times with the absolute moment
on hover and a UTC/local switch every page follows; keyboard shortcuts; dark mode from the system (the graph
too); a fan-out's runs labelled apart; graph nodes reachable and opened by keyboard."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page, expect

from runs.models import Run, Step
from runs.status import RunStatus, StepKind, StepStatus
from tests.benchmarks.trees import run_row
from tests.e2e.conftest import ROOT, LiveServer, log_in

pytestmark = pytest.mark.django_db(transaction=True)  # the server (another process) must see committed rows

FAN = 30
OUTPUT = {"sum": 5, "html": "<img src=x onerror=alert(1)>", "nested": {"level": {"deep": [1, 2, 3]}}, "ok": True,
          "none": None}


def album(root: str = "det-album") -> str:
    """A finished album run: a step.run with arguments and a nested output, and a fan-out of FAN invokes of
    resize-photo (rows written directly: what the page shows comes from them)."""
    now = timezone.now() - timedelta(minutes=5)
    Run.objects.bulk_create([run_row(root, function_id="resize-album", created_at=now)] + [
        run_row(f"{root}-{n}", function_id="resize-photo", root_run_id=root, parent_run_id=root, depth=1,
                parent_step_id=f"resize-IMG_{n:04d}.jpg", created_at=now + timedelta(milliseconds=n))
        for n in range(FAN)])
    steps = [Step(run_id=root, step_id="add", kind=StepKind.RUN, status=StepStatus.COMPLETED, position=0, attempts=1,
                  input=[2, 3, {"unit": "px"}], output=OUTPUT, started_at=now, ended_at=now + timedelta(milliseconds=3))]
    steps += [Step(run_id=root, step_id=f"resize-IMG_{n:04d}.jpg", kind=StepKind.INVOKE, status=StepStatus.COMPLETED,
                   position=n + 1, attempts=1, child_run_id=f"{root}-{n}", input={"data": {"photo": n}, "user": {}},
                   output={"ok": n}, started_at=now, ended_at=now + timedelta(milliseconds=5)) for n in range(FAN)]
    Step.objects.bulk_create(steps)
    return root


def add_detail(page: Page) -> Any:
    return page.locator(".step-detail", has=page.locator("summary b", has_text=re.compile(r"^add$")))


def test_step_input_and_output_in_a_json_viewer_that_folds_highlights_and_copies(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    root = album()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}/runs/{root}/")
    detail = add_detail(page)
    detail.locator("summary").first.click()
    step_input = detail.locator(".step-input .json-viewer")
    expect(step_input).to_be_visible()
    assert step_input.locator(".j-num").all_inner_texts() == ["2", "3"]
    assert step_input.locator(".j-key").all_inner_texts() == ['"unit"']
    output = detail.locator(".step-output .json-viewer")
    # Highlighted by kind, the HTML in a string shown as text (escaped), never run.
    expect(output.locator(".j-str", has_text="onerror")).to_have_text('"<img src=x onerror=alert(1)>"')
    assert output.locator(".j-bool").all_inner_texts() == ["true"] and output.locator(".j-null").all_inner_texts() == ["null"]
    assert output.locator(".j-key").first.evaluate("el => getComputedStyle(el).color") != \
        output.locator(".j-str").first.evaluate("el => getComputedStyle(el).color")
    # Folds: the third level starts folded and opens on a click; Collapse all folds all but the top.
    level = output.locator("details.j-node", has=page.locator(":scope > summary .j-key", has_text='"level"'))
    expect(level).not_to_have_attribute("open", "")
    expect(level.locator(":scope > summary .j-fold")).to_have_text(" 1 key }")
    level.locator(":scope > summary").click()
    expect(level).to_have_attribute("open", "")
    deep = output.locator("details.j-node", has=page.locator(":scope > summary .j-key", has_text='"deep"'))
    expect(deep.locator(":scope > summary .j-fold")).to_have_text(" 3 items ]")
    deep.locator(":scope > summary").click()
    expect(deep).to_have_attribute("open", "")
    expect(deep.locator(".j-num")).to_have_text(["1", "2", "3"])
    output.locator("button.j-collapse").click()
    expect(output.locator("details.j-node[open]")).to_have_count(1)
    output.locator("button.j-expand").click()
    expect(output.locator("details.j-node:not([open])")).to_have_count(0)
    # Copies the whole value as JSON.
    output.locator("button.j-copy").click()
    expect(output.locator("button.j-copy")).to_have_text("Copied")
    assert json.loads(page.evaluate("() => navigator.clipboard.readText()")) == OUTPUT
    # An invoke step shows the data it sent.
    invoke = page.locator(".step-detail", has=page.locator("summary b", has_text="resize-IMG_0007.jpg"))
    invoke.locator("summary").first.click()
    expect(invoke.locator(".step-input .j-key", has_text='"photo"')).to_be_visible()
    assert dialogs == []


@pytest.fixture
def kolkata(chromium_browser: Browser) -> Iterator[BrowserContext]:
    """A browser whose local time is not UTC (+05:30), so local and UTC differ on screen."""
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Asia/Kolkata")
    try:
        yield ctx
    finally:
        ctx.close()


def test_relative_times_with_the_moment_on_hover_and_a_utc_local_switch_every_page_follows(
        kolkata: BrowserContext, e2e_rows: LiveServer) -> None:
    server = e2e_rows
    root = album()
    page = kolkata.new_page()
    log_in(page, server)
    page.goto(f"{server.url}/runs/?q={root}")
    started = page.locator(f"#runs-table tr[data-run-id='{root}'] td.started time")
    expect(started).to_have_text(re.compile(r"^[45] min ago$"))
    created = Run.objects.get(id=root).created_at
    utc_text = created.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    local_text = (created + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert started.get_attribute("title") == f"{local_text} local (UTC+05:30) · {utc_text}"
    switch = page.locator("#zone-switch")
    expect(switch).to_have_text("local time")
    switch.click()
    expect(switch).to_have_text("UTC")
    expect(switch).to_have_attribute("aria-pressed", "true")
    expect(started).to_have_attribute("title", utc_text)
    # Remembered: another page, and a reload, show UTC too.
    page.goto(f"{server.url}/runs/{root}/")
    expect(page.locator("#zone-switch")).to_have_text("UTC")
    expect(page.locator(".run-head dd time").first).to_have_attribute("title", re.compile(r"UTC$"))
    assert "local" not in (page.locator(".run-head dd time").first.get_attribute("title") or "")
    page.reload()
    expect(page.locator("#zone-switch")).to_have_text("UTC")
    page.locator("#zone-switch").click()
    expect(page.locator(".run-head dd time").first).to_have_attribute("title", re.compile(r"local \(UTC\+05:30\)"))


def test_keyboard_shortcuts_search_rows_open_go_to_and_help(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    now = timezone.now()
    Run.objects.bulk_create([run_row(f"kb-{n}", function_id=f"kb-fn-{n}", created_at=now - timedelta(seconds=n))
                             for n in range(3)])
    page.goto(f"{server.url}/runs/?root_only=0")
    rows = page.locator("#runs-table tbody tr[data-run-id]")
    expect(rows).to_have_count(3)
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bkb-current\b"))
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkb-current\b"))
    expect(page.locator("tr.kb-current")).to_have_count(1)
    # `/` focuses the search; typing there is typing, not shortcuts.
    page.keyboard.press("/")
    search = page.locator("#run-filters input[name=q]")
    expect(search).to_be_focused()
    page.keyboard.type("jk?")
    expect(search).to_have_value("jk?")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bkb-current\b"))
    expect(page.locator("#shortcut-help")).to_have_count(0)
    search.fill("")
    page.evaluate("() => document.activeElement.blur()")
    # Enter opens the highlighted row.
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/runs/kb-1/")
    # ? shows the help; Escape closes it.
    page.keyboard.press("?")
    help_dialog = page.locator("#shortcut-help")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("go to Events")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    # g then a letter goes to a page.
    for keys, path in (("ge", "/events/"), ("gf", "/functions/"), ("gr", "/runs/")):
        page.keyboard.press(keys[0])
        page.keyboard.press(keys[1])
        page.wait_for_url(f"{server.url}{path}")


@pytest.fixture
def dark(chromium_browser: Browser) -> Iterator[BrowserContext]:
    ctx = chromium_browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    try:
        yield ctx
    finally:
        ctx.close()


def colours(page: Page) -> dict[str, str]:
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    return page.evaluate("""() => ({
        body: getComputedStyle(document.body).backgroundColor,
        panel: getComputedStyle(document.querySelector('.panel')).backgroundColor,
        text: getComputedStyle(document.body).color,
        node: window.tributaryCy.getElementById(document.getElementById('run-head').dataset.runId).style('background-color'),
        edge: window.tributaryCy.edges().first().style('line-color')})""")


def test_dark_mode_follows_the_system_and_the_graph_follows_it(
        dark: BrowserContext, operator_page: Page, live_server_process: LiveServer) -> None:
    server = live_server_process
    root = album()
    operator_page.goto(f"{server.url}/runs/{root}/")
    light = colours(operator_page)
    page = dark.new_page()
    log_in(page, server)
    page.goto(f"{server.url}/runs/{root}/")
    night = colours(page)
    assert light["body"] == "rgb(246, 247, 249)" and night["body"] == "rgb(17, 21, 27)"
    assert night["panel"] == "rgb(24, 29, 36)" and night["text"] == "rgb(230, 233, 238)"
    assert light["node"] != night["node"] and light["edge"] != night["edge"]
    page.screenshot(path=str(ROOT / "docs" / "run-page-dark.png"))


def test_a_fan_out_is_labelled_by_what_tells_its_runs_apart(
        operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    root = album()
    page.goto(f"{server.url}/runs/{root}/")
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    group = page.locator("#graph-nodes button", has_text=f"{FAN} × resize-photo")
    expect(group).to_have_count(1)
    group.click()  # opens into its runs
    buttons = page.locator("#graph-nodes button", has_text="resize-photo")
    expect(buttons).to_have_count(FAN)
    labels = page.evaluate("() => window.tributaryCy.nodes().map(n => n.data('label'))"
                           ".filter(l => l.includes('resize-photo'))")
    assert len(labels) == FAN and len(set(labels)) == FAN, labels
    assert any(label.endswith("\n0007.jpg") for label in labels), labels
    page.screenshot(path=str(ROOT / "docs" / "fan-out-labels.png"))


def test_graph_nodes_are_reached_and_opened_by_keyboard(operator_page: Page, live_server_process: LiveServer) -> None:
    page, server = operator_page, live_server_process
    root = "kbg"
    Run.objects.bulk_create([run_row(root, function_id="kb-root"),
                             run_row("kbg-a", function_id="kb-a", root_run_id=root, parent_run_id=root, depth=1,
                                     parent_step_id="call-a"),
                             run_row("kbg-b", function_id="kb-b", root_run_id=root, parent_run_id=root, depth=1,
                                     parent_step_id="call-b")])
    page.goto(f"{server.url}/runs/{root}/")
    page.wait_for_selector("#graph[data-ready]", state="attached", timeout=15000)
    page.focus("#graph-fit")
    page.keyboard.press("Tab")  # from the fit button straight to the graph's nodes: one Tab stop
    focused = page.locator("#graph-nodes button:focus")
    expect(focused).to_contain_text("kb-root")
    ringed = "() => window.tributaryCy.nodes('.kb').map(n => n.id())"
    assert page.evaluate(ringed) == [root]
    page.keyboard.press("ArrowRight")
    expect(page.locator("#graph-nodes button:focus")).to_contain_text("kb-a")
    assert page.evaluate(ringed) == ["kbg-a"]
    page.keyboard.press("End")
    expect(page.locator("#graph-nodes button:focus")).to_contain_text("kb-b")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # back in: the last node focused keeps the Tab stop
    expect(page.locator("#graph-nodes button:focus")).to_contain_text("kb-b")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/runs/kbg-b/")
    assert RunStatus.COMPLETED in page.locator(".run-head h1").inner_text().lower()
