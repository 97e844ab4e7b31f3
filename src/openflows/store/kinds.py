"""Kinds of work items (the `work_items.kind` column): the contract between api/ (which enqueues) and engine/.

Each item names a run and what the executor must do for it when `due_at` has passed.
"""

from __future__ import annotations

#: deliver an event to `language.step()`; payload {"event": "start" | "enter" | "timer"}
STEP = "step"
#: call the action provider's `/run` for the cursor's Action state (outside any transaction), then step
ACTION_START = "action_start"
#: poll the in-flight action's status, then step with the status
ACTION_POLL = "action_poll"
#: best-effort `/cancel` of an action; payload = ActionRef fields. No run transition.
ACTION_CANCEL = "action_cancel"
#: best-effort `/release` of an action; payload = ActionRef fields. No run transition.
ACTION_RELEASE = "action_release"
#: an INACTIVE run was resumed: call the action's `/resume` if it has one, then poll (or re-enter the state)
RESUME = "resume"

ALL = (STEP, ACTION_START, ACTION_POLL, ACTION_CANCEL, ACTION_RELEASE, RESUME)
