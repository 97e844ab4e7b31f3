"""Kinds of work items (the `work_items.kind` column): the contract between api/ (which enqueues) and engine/.

Each item names a run (or, for `TIMER_FIRE`, a timer) and what the executor must do for it when `due_at` has
passed.
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
#: the run waits in an AwaitWebInput state: deliver the answer once the web input is answered (its item is
#: made due then), or fail the state once its WaitTime has passed; payload {"web_input_id", "deadline"}
WEB_INPUT = "web_input"
#: send one notification (`notifications` row); payload {"notification_id"}. It neither waits for nor
#: holds up the run's own items (the claim treats it apart). No run transition.
NOTIFY = "notify"

#: fire a timer's next occurrence (start its run or transfer) and schedule the one after; the item names a
#: timer (`work_items.timer_id`), not a run. Payload {"occurrence": k}, for diagnostics only.
TIMER_FIRE = "timer_fire"
#: a run that held its user's delegated tokens ended: revoke them (`engine.delegation`). No run transition.
REVOKE_TOKENS = "revoke_tokens"

#: the children (iterations) of a Map or Parallel state changed: start the queued ones, or gather them all and
#: step the parent; the item names the parent run; payload {"state", "visit"} (engine/fanout.py)
CHILDREN = "children"

ALL = (
    STEP,
    ACTION_START,
    ACTION_POLL,
    ACTION_CANCEL,
    ACTION_RELEASE,
    RESUME,
    WEB_INPUT,
    NOTIFY,
    REVOKE_TOKENS,
    TIMER_FIRE,
    CHILDREN,
)
#: kinds that are claimed whatever else of their run is leased, and that do not keep the run's other items
#: from being claimed
INDEPENDENT = (NOTIFY,)
