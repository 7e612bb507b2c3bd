"""The op records of a pass, under their historical engine path; they live in `runs.ops` (a neutral module the
SDK, the engine and the store all read)."""

from runs.ops import (
    EventsSent,
    InvokePlanned,
    Outcome,
    PassResult,
    RunFailed,
    RunFinished,
    SleepPlanned,
    StepCompleted,
    StepFailed,
    StepMemo,
    StepOp,
    Suspended,
    WaitPlanned,
)

__all__ = ["EventsSent", "InvokePlanned", "Outcome", "PassResult", "RunFailed", "RunFinished", "SleepPlanned",
           "StepCompleted", "StepFailed", "StepMemo", "StepOp", "Suspended", "WaitPlanned"]
