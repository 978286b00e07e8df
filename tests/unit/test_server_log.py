"""`cpay server run` logs one JSON object per line, whatever a message holds."""

from __future__ import annotations

import json
import logging
import sys

from cpay_cli.commands.server import JsonLines


def test_every_log_line_is_json_even_with_quotes_newlines_and_a_traceback() -> None:
    message = 'connection to server on socket "/tmp/.s.PGSQL.5432" failed\nis it running?'
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("cpay.engine", logging.ERROR, __file__, 1, message, (), exc_info)

    line = JsonLines().format(record)

    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["msg"]) == ("ERROR", "cpay.engine", message)
    assert "RuntimeError: boom" in entry["exc"]
