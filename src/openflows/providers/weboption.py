"""The built-in `weboption` provider (`https://actions.globus.org/weboption/wait_for_option`, and the automate
host), on the machinery of web inputs: an action opens a web input whose options are the action's options, and
waits until one is chosen.

Body (the hosted provider's): `options: [{name, url_suffix, completed_message, description?, selectable_by?}]`
and an optional `landing_page: {url_suffix, header_text, header_background, header_icon_link, page_title,
preamble_text, include_text_input_form, text_input_form_prompt, display_options_as, selectable_by}`.
Each option is chosen by any HTTP access to `<base>/weboption/option/<url_suffix>` (query parameters and form
fields are kept as the result's `parameters`, e.g. the landing page's `user_input`), and the landing page is
`<base>/weboption/landing_page/<url_suffix>` (providers/weboption_pages.py). `selectable_by` (identity or
group URNs; an option without one inherits the landing page's) limits who may choose: they must present a
bearer token or be signed in to the dashboard. The selectable_by principals are the web input's respondents,
so they may also answer through `POST /web_inputs/{id}/respond`; the action's creator is its viewer.
Once chosen, every URL of the action answers 404, and its suffixes may be used again.

The action succeeds with the hosted result shape `{"name", "url_suffix", "parameters"}`; its status is read
from the web input, so an answer given anywhere completes it. Canceling the action closes the web input.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import sqlalchemy as sa

from ..auth.scopes import PROVIDER_SCOPES
from ..language.model import isoformat
from ..language.webinputs import URN_RE, WebInputSpec, build_document, option_id
from ..store import web_inputs as store_web_inputs
from ..store.schema import runs
from .base import BadActionRequest, Caller, run_id_of
from .outcomes import Outcome, failure
from .stored import StoredProvider, check_request, document, insert_action, update_action

WEBOPTION_SCOPE = PROVIDER_SCOPES["weboption"]
#: what a URL suffix may hold (it is a path segment)
SUFFIX_RE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")
MAX_OPTIONS = 50  # options
MAX_TEXT = 4096  # characters of any text field
LANDING_FIELDS = (
    "url_suffix",
    "header_text",
    "header_background",
    "header_icon_link",
    "page_title",
    "preamble_text",
    "include_text_input_form",
    "text_input_form_prompt",
    "display_options_as",
    "selectable_by",
)
OPTION_FIELDS = ("name", "url_suffix", "completed_message", "description", "selectable_by")


def _text(value: Any, where: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadActionRequest(f"{where} must be a {'non-empty ' if required else ''}string")
    if len(value) > MAX_TEXT:
        raise BadActionRequest(f"{where} is longer than {MAX_TEXT} characters")
    return value


def _suffix(value: Any, where: str) -> str:
    if not isinstance(value, str) or not SUFFIX_RE.match(value):
        raise BadActionRequest(f"{where} must be 1 to 200 letters, digits, '.', '_', '~' or '-'")
    return value


def _principals(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and URN_RE.match(v) for v in value):
        raise BadActionRequest(f"{where} must be a list of identity or group URNs")
    return list(dict.fromkeys(value))


def check_options(body: dict[str, Any]) -> dict[str, Any]:
    """The checked body: options and landing page, with every URL suffix distinct."""
    options = body.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
        raise BadActionRequest(f"options must be a list of 1 to {MAX_OPTIONS} options")
    landing = body.get("landing_page")
    checked_landing = None
    if landing is not None:
        if not isinstance(landing, dict) or set(landing) - set(LANDING_FIELDS):
            raise BadActionRequest(
                f"landing_page must be an object with keys among {', '.join(LANDING_FIELDS)}"
            )
        checked_landing = {
            "url_suffix": _suffix(landing.get("url_suffix"), "landing_page.url_suffix"),
            **{
                key: _text(landing.get(key), f"landing_page.{key}")
                for key in ("header_text", "header_background", "header_icon_link", "page_title")
            },
            "preamble_text": _text(landing.get("preamble_text"), "landing_page.preamble_text"),
            "include_text_input_form": bool(landing.get("include_text_input_form")),
            "text_input_form_prompt": _text(landing.get("text_input_form_prompt"), "text_input_form_prompt"),
            "display_options_as": _text(landing.get("display_options_as"), "display_options_as") or "link",
            "selectable_by": _principals(landing.get("selectable_by"), "landing_page.selectable_by"),
        }
    checked = []
    for i, option in enumerate(options):
        if not isinstance(option, dict) or set(option) - set(OPTION_FIELDS):
            raise BadActionRequest(
                f"options[{i}] must be an object with keys among {', '.join(OPTION_FIELDS)}"
            )
        selectable = _principals(option.get("selectable_by"), f"options[{i}].selectable_by")
        if selectable is None and checked_landing is not None:
            selectable = checked_landing["selectable_by"]  # inherited from the landing page
        checked.append(
            {
                "name": _text(option.get("name"), f"options[{i}].name", required=True),
                "url_suffix": _suffix(option.get("url_suffix"), f"options[{i}].url_suffix"),
                "completed_message": _text(
                    option.get("completed_message"), f"options[{i}].completed_message"
                ),
                "description": _text(option.get("description"), f"options[{i}].description"),
                "selectable_by": selectable,
            }
        )
    suffixes = [o["url_suffix"] for o in checked] + (
        [checked_landing["url_suffix"]] if checked_landing else []
    )
    if len(set(suffixes)) != len(suffixes):
        raise BadActionRequest("every url_suffix (options and landing page) must be different")
    return {"options": checked, "landing_page": checked_landing}


def web_input_spec(
    options: list[dict[str, Any]], landing: dict[str, Any] | None, *, creator: str
) -> WebInputSpec:
    """The web input of a weboption action: its options, the landing page's title and preamble as the
    context, the `selectable_by` principals as respondents (none: anyone with the link, through the URLs
    only) and the action's creator as viewer."""
    page = landing or {}
    title = page.get("page_title") or page.get("header_text") or "Choose an option"
    return WebInputSpec(
        input_type="selection",
        context={"title": title[:256], "presentation_style": "text", "text": page.get("preamble_text") or ""},
        options=tuple({"label": o["name"], "description": o["description"]} for o in options),
        viewer_urns=(creator,),
        respondent_urns=tuple(sorted({urn for o in options for urn in (o["selectable_by"] or ())})),
    )


class WebOptionProvider(StoredProvider):
    """Wait for a person to choose one of several options at a URL."""

    name = "weboption"
    hosted_urls = (
        "https://actions.globus.org/weboption/wait_for_option",
        "https://actions.automate.globus.org/weboption/wait_for_option",
    )
    title = "Wait for User Option Selection"
    subtitle = "Wait until a person chooses an option at a web page"
    description = "Offers options at URLs (and a landing page) and succeeds with the option chosen."
    keywords = ("weboption", "human", "choice")
    globus_auth_scope = WEBOPTION_SCOPE
    synchronous = False
    input_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {"options": {"type": "array", "minItems": 1}, "landing_page": {"type": "object"}},
        "required": ["options"],
    }

    def __init__(self, *args: Any, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: where this server is reached (links in the action's details); relative paths when unknown
        self.base_url = (base_url or "").rstrip("/")

    def url(self, kind: str, suffix: str) -> str:
        return f"{self.base_url}/weboption/{kind}/{suffix}"

    # -- starting ------------------------------------------------------------------------------------------

    def run(self, request: dict[str, Any], caller: Caller) -> tuple[dict[str, Any], bool]:
        request_id, body, extras = check_request(request)
        existing = self._find(caller, request_id, body)
        if existing is not None:
            return self.status(existing["action_id"], caller), False
        checked = check_options(body)
        return self.db.transact(self._start, caller, request_id, body, extras, checked, self.clock.now())

    def _start(
        self,
        conn: sa.Connection,
        caller: Caller,
        request_id: str,
        body: dict[str, Any],
        extras: dict[str, Any],
        checked: dict[str, Any],
        now: dt.datetime,
    ) -> tuple[dict[str, Any], bool]:
        options, landing = checked["options"], checked["landing_page"]
        urls = [(o["url_suffix"], i) for i, o in enumerate(options)]
        if landing is not None:
            urls.append((landing["url_suffix"], None))
        suffixes = [suffix for suffix, _ in urls]
        taken = store_web_inputs.taken_suffixes(conn, suffixes)
        if taken:
            raise BadActionRequest(f"url_suffix {taken[0]!r} is in use by another action that waits")
        store_web_inputs.release_suffixes(conn, suffixes)
        action_id = uuid.uuid4()
        web_input = str(action_id)
        run_id = run_id_of(request_id)
        flow_id = None
        if run_id is not None:
            flow_id = conn.execute(sa.select(runs.c.flow_id).where(runs.c.id == run_id)).scalar_one_or_none()
            run_id = run_id if flow_id is not None else None
        spec_document = build_document(
            web_input_spec(options, landing, creator=caller.identity),
            web_input=web_input,
            creator_urn=caller.identity,
            flow_id=str(flow_id) if flow_id else None,  # type: ignore[arg-type]
            flow_title="",
            run_id=str(run_id) if run_id else None,  # type: ignore[arg-type]
            run_label=extras.get("label"),
            time=isoformat(now),
        )
        store_web_inputs.open_web_input(
            conn, spec_document, run_id=run_id, flow_id=flow_id, source="weboption", state_name=None, now=now
        )
        store_web_inputs.add_weboption_urls(conn, action_id, urls)
        details = {
            "description": "Waiting for an option to be selected",
            "option_urls": {o["name"]: self.url("option", o["url_suffix"]) for o in options},
        }
        if landing is not None:
            details["landing_page_url"] = self.url("landing_page", landing["url_suffix"])
        values = {
            "id": action_id,
            "provider": self.name,
            "creator_id": caller.identity,
            "request_id": request_id,
            "body": body,
            "label": extras.get("label"),
            "monitor_by": extras.get("monitor_by") or [],
            "manage_by": extras.get("manage_by") or [],
            "release_after": extras.get("release_after"),
            "start_time": now,
            "status": "ACTIVE",
            "display_status": "ACTIVE",
            "details": details,
            "state": {"web_input_id": web_input, "options": options, "landing_page": landing},
        }
        insert_action(conn, values)
        return document(values), True

    # -- reading: the action follows its web input -----------------------------------------------------------

    def status(self, action_id: str, caller: Caller) -> dict[str, Any]:
        with self.db.read() as conn:
            row = self._load(conn, action_id, caller, manage=False)
            if row["status"] != "ACTIVE":
                return document(row)
            state = row.get("state") or {}
            web_input = store_web_inputs.get_web_input(conn, uuid.UUID(state["web_input_id"]))
        outcome = self.outcome(web_input, state)
        if outcome is None:
            return document(row)
        changes = {
            "status": outcome.status,
            "display_status": outcome.display_status or outcome.status,
            "details": outcome.details,
            "completion_time": (web_input or {}).get("closed_at") or self.clock.now(),
        }
        self.db.transact(lambda conn: update_action(conn, row["id"], changes))
        return document({**row, **changes})

    @staticmethod
    def outcome(web_input: dict[str, Any] | None, state: dict[str, Any]) -> Outcome | None:
        """The action's end, from its web input: None while it is open."""
        if web_input is None:
            return Outcome.failed(failure("WebInputGone", "The options of this action no longer exist"))
        if web_input["status"] == "open":
            return None
        response = web_input.get("response")
        if not isinstance(response, dict):
            return Outcome.failed(
                failure("NotSelected", f"No option was selected ({web_input.get('close_reason')})")
            )
        options = state.get("options") or []
        index = next(
            (i for i in range(len(options)) if option_id(state["web_input_id"], i) == response.get("value")),
            None,
        )
        chosen = options[index] if index is not None else {}
        return Outcome.succeeded(
            {
                "name": chosen.get("name"),
                "url_suffix": chosen.get("url_suffix"),
                "parameters": response.get("parameters") or {},
            }
        )

    def _cancel(
        self, conn: sa.Connection, action_id: str, caller: Caller, now: dt.datetime
    ) -> dict[str, Any]:
        doc = super()._cancel(conn, action_id, caller, now)
        row = self._load(conn, action_id, caller, manage=True)
        web_input = (row.get("state") or {}).get("web_input_id")
        if web_input:
            store_web_inputs.close_web_input(
                conn, uuid.UUID(web_input), now=now, reason=store_web_inputs.RUN_ENDED
            )
        return doc
