"""A real local SMTP server and a real local webhook receiver for notification tests, and a
recorder of queued tasks. Import the fixtures you use into the test module.

- `mailbox`: `watchfloor.demo.sinks.MailSink` (aiosmtpd on 127.0.0.1, a free port), with
  `settings.SMTP_URL` pointing at it.
- `webhook`: `watchfloor.demo.sinks.WebhookSink` (http.server on 127.0.0.1); `webhook.url()` is
  an apprise `json://` URL that posts to it.
- `queued`: every committed `jobs.runtime.enqueue` as `(path, args, eta)`, instead of running it.
"""

from __future__ import annotations

import pytest

from watchfloor.demo.sinks import MailSink, WebhookSink


@pytest.fixture
def mailbox(settings):
    with MailSink() as sink:
        settings.SMTP_URL = sink.url
        settings.EMAIL_FROM = "noc@watchfloor.test"
        yield sink


@pytest.fixture
def webhook():
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def queued():
    from watchfloor.jobs.runtime import set_task_sink

    calls: list[tuple[str, tuple, object]] = []
    set_task_sink(lambda path, args, eta: calls.append((path, args, eta)))
    yield calls
    set_task_sink(None)
