"""Operator pages. A plain runs list and run page until the dashboard issue lands."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from runs.exceptions import RunNotFound
from runs.status import RunStatus
from runs.store import reads


@require_GET
@login_required
def runs_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    if status not in (None, *RunStatus.values):
        status = None
    runs = reads.list_runs(status=status, limit=100)
    return render(request, "runs/list.html", {"runs": runs, "statuses": RunStatus.choices, "status": status})


@require_GET
@login_required
def run_page(request: HttpRequest, run_id: str) -> HttpResponse:
    try:
        run = reads.get_run(run_id)
    except RunNotFound:
        raise Http404(f"no run {run_id}") from None
    children = reads.list_runs(parent_run_id=run.id, limit=1000)
    return render(request, "runs/detail.html", {"run": run, "children": children})
