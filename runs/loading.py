"""Finding users' functions: `functions.py` in every installed app, plus RUNS_FUNCTION_MODULES."""

from __future__ import annotations

import importlib
import os

from django.utils.module_loading import autodiscover_modules

from runs import conf


def function_modules() -> list[str]:
    modules = list(conf.get("RUNS_FUNCTION_MODULES"))
    modules += [m.strip() for m in os.environ.get("RUNS_FUNCTION_MODULES", "").split(",") if m.strip()]
    return modules


def load_functions() -> None:
    """Import every module that defines functions; App objects register themselves on import."""
    autodiscover_modules("functions")
    for module in function_modules():
        importlib.import_module(module)
