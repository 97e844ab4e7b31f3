"""Log output of OpenFlows processes: plain text lines (default) or one JSON object per line
(`OPENFLOWS_LOG_FORMAT=json`) carrying the structured fields the engine puts on its records (`action`,
`run_id`, `state`, `attempt`, `item_id`, `kind`, ...).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

#: the accepted values of OPENFLOWS_LOG_FORMAT
LOG_FORMATS = ("text", "json")

# attributes every LogRecord has; anything else on a record came from `extra=`
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the `extra` fields, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, separators=(",", ":"))


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter for `log_format` ("text" or "json")."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)} (got {log_format!r})")


def configure_logging(level: str, log_format: str = "text", *, stream: TextIO | None = None) -> None:
    """Send the `openflows` loggers (and uvicorn's) to `stream` (stderr) at `level` in `log_format`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    for name in ("openflows", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
    logging.getLogger("openflows").setLevel(level.upper())
