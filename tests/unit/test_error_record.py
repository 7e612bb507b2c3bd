"""The one error record (runs/errors.py): built from exceptions in one place, stored in the JSON shape rows
have always had, and raised again on replay as the class it names."""

from __future__ import annotations

from runs.errors import ErrorRecord, step_error_from
from runs.exceptions import InvokeTimeoutError, StepError


def raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_an_exception_becomes_name_message_stack_and_its_class_path() -> None:
    stored = ErrorRecord.from_exception(raised(ValueError("bad\x00value"))).to_json()
    assert stored["name"] == "ValueError" and stored["type"] == "ValueError"
    assert stored["message"] == "bad\\x00value"  # storable: no NUL reaches the database
    assert stored["class_path"] == "builtins.ValueError"
    assert "Traceback" in stored["stack"] and "ValueError" in stored["stack"]
    assert stored["run_id"] is None and stored["step_id"] is None


def test_a_step_error_keeps_the_name_stack_and_cause_it_carries() -> None:
    error = StepError("out of stock", name="InventoryError", stack="the child's stack", run_id="R1", step_id="s1")
    stored = ErrorRecord.from_exception(error).to_json()
    assert stored == {"name": "InventoryError", "message": "out of stock", "stack": "the child's stack",
                      "type": "StepError", "class_path": "runs.exceptions.StepError", "run_id": "R1", "step_id": "s1"}


def test_a_stored_error_is_raised_again_as_the_class_it_names() -> None:
    timeout = ErrorRecord.raised_as(InvokeTimeoutError, "too slow", run_id="child").to_json()
    again = step_error_from(timeout, "call")
    assert type(again) is InvokeTimeoutError
    assert (again.name, again.message, again.run_id, again.step_id) == ("InvokeTimeoutError", "too slow", "child",
                                                                        "call")


def test_old_rows_read_back_with_defaults() -> None:
    old = {"name": "KeyError", "message": "'x'", "stack": None, "type": "KeyError"}
    record = ErrorRecord.from_json(old)
    assert (record.name, record.message, record.class_path, record.run_id) == ("KeyError", "'x'", None, None)
    assert type(record.as_step_error("s")) is StepError


def test_a_failed_child_is_stored_on_its_invoke_step_as_a_step_error_naming_the_child() -> None:
    child = ErrorRecord.from_exception(raised(RuntimeError("deep"))).to_json()
    stored = ErrorRecord.child_failed(child, "CHILD").to_json()
    assert (stored["name"], stored["message"], stored["type"], stored["run_id"]) == ("RuntimeError", "deep",
                                                                                     "StepError", "CHILD")
    assert stored["stack"] == child["stack"]
