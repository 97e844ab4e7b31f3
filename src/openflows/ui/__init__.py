"""The web dashboard served at `/ui`: sign-in sessions, a session-to-bearer bridge for the JSON API, a live
run-log stream (server-sent events) and the static single-page app (plain HTML, CSS and ES modules).

`install_ui(app, home=...)` adds all of it to a Flows API app; see docs/ui.md for the security design.
"""

from __future__ import annotations

from .routes import install_ui

__all__ = ["install_ui"]
