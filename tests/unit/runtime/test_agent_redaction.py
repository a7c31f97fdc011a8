"""The agent keeps passwords and values of sensitive variables out of its log."""

from __future__ import annotations

import io
import logging

from dtsctl.runtime.agent_process import RedactSecrets, configure_logging, secrets_in

ATTRIBUTES = {
    "source_endpoint": {"engine": "mysql", "password": "pw-source"},
    "destination_endpoint": {"engine": "sqlite", "path": "/x.db"},
    "objects": [{"database": "main", "filter": {"orders": "note != 'hidden-note'"}}],
}


def test_passwords_and_sensitive_paths_are_secrets() -> None:
    secrets = secrets_in(ATTRIBUTES, [["objects", 0, "filter", "orders"], ["no", "such", "path"]])
    assert set(secrets) == {"pw-source", "note != 'hidden-note'"}


def test_log_lines_and_tracebacks_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging(RedactSecrets(["pw-source", "note != 'hidden-note'"]), stream)
    log = logging.getLogger("test.redaction")
    log.error("filter note != 'hidden-note' failed with pw-source")
    try:
        raise ValueError("login with pw-source refused")
    except ValueError:
        log.exception("connection failed")
    text = stream.getvalue()
    assert "pw-source" not in text and "hidden-note" not in text
    assert "filter (sensitive value) failed with (sensitive value)" in text
    assert "ValueError: login with (sensitive value) refused" in text
