"""Log set-up: one line per record, readable text or JSON (LOG_FORMAT), request id included."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from gateway.observability.turns import OncePerTurn
from gateway.settings import Settings

# The request being answered, so that every line logged while answering it (an error's
# traceback included) carries its id; set by gateway.observability.AccessLogMiddleware.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

ACCESS_LOGGER = "gateway.access"


# The formatted second of the last line (lines come many a second, the access log's one a
# request): (whole seconds since the epoch, "YYYY-MM-DDTHH:MM:SS").
_second: tuple[int, str] = (-1, "")


def _timestamp(record: logging.LogRecord) -> str:
    """``2026-01-31T12:00:00.123Z``: the record's time in UTC, to the millisecond."""
    global _second
    whole = int(record.created)
    second, text = _second
    if whole != second:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, text)
    return f"{text}.{int(record.msecs):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, "access", None) or {})
    rid = getattr(record, "request_id", None) or request_id.get()
    if rid and "request_id" not in fields:
        fields["request_id"] = rid
    return fields


class TextFormatter(logging.Formatter):
    """``2026-01-31T12:00:00.123Z INFO gateway.access GET /user 200 3.1ms request_id=…``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        extra = " ".join(
            f"{key}={value}"
            for key, value in fields.items()
            if value is not None and key not in {"method", "route", "status", "duration_ms"}
        )
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        if extra:
            line = f"{line} {extra}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= _fields(record)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TurnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines logged during one turn of the event loop
    together, in one write at the start of the next turn, rather than one write each:
    under load a turn answers many requests, and the write was a quarter of the access
    line's cost. A line logged where no loop runs (another thread, or before the server
    starts) is written at once, after any still waiting; ``flush``, also called at
    exit, writes what waits."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        self._next_turn = OncePerTurn(self.flush)

    def emit(self, record: logging.LogRecord) -> None:  # called holding self.lock
        try:
            self._waiting.append(self.format(record) + self.terminator)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._next_turn.ask()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._waiting:
                lines, self._waiting = "".join(self._waiting), []
                self.stream.write(lines)
            super().flush()


def lean_records() -> None:
    """Log records without what no line of ours shows, as the logging HOWTO's
    "Optimization" section sets out: the caller's file and line (a walk up the stack for
    every record), the thread and the process. Called where the server runs."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the service, also given to uvicorn as its
    ``log_config`` so that each worker sets it up. uvicorn's own access log is off:
    gateway.access writes one richer line per request instead."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"gateway": {"()": f"{formatter.__module__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "()": f"{TurnHandler.__module__}.{TurnHandler.__name__}",
                "formatter": "gateway",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "gateway": {"level": settings.log_level},
            "uvicorn": {"level": settings.log_level},
            "uvicorn.error": {"level": settings.log_level},
            "uvicorn.access": {"level": "WARNING", "propagate": False},
        },
    }
