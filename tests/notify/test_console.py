"""The console of `make run` is for people: a code sent by the console SMS or Telegram backend
stands out as a framed block, and periodic jobs that found nothing to do stay out of it."""

import logging

import pytest
from celery import shared_task

from core import audit
from core.tasks import seal_audit
from notify.console import WIDTH
from notify.sms import send_sms
from notify.telegram import send_telegram
from tests.notify.sms_allowance import allowance

CODE_TEXT = "Kezek code: 482913. Valid for 5 minutes. Never tell it to anyone."


def block_of(caplog, logger: str) -> list[str]:
    (record,) = [r for r in caplog.records if r.name == logger]
    lines = record.getMessage().split("\n")
    assert lines[0] == ""  # the block starts below the log line's own prefix
    return lines[1:]


def assert_framed(lines: list[str]) -> None:
    assert lines[0].startswith("┌") and lines[-1].startswith("└")
    assert all(len(line) == WIDTH for line in lines)
    assert all(line.startswith("│ ") and line.endswith(" │") for line in lines[1:-1])


def test_console_sms_is_a_framed_block_with_the_phone_and_the_code(settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.WARNING, logger="notify.sms"):
        send_sms(allowance("+77011234567"), CODE_TEXT)
    lines = block_of(caplog, "notify.sms")
    assert_framed(lines)
    assert "SMS to +77011234567" in lines[1]
    assert any(line.strip("│ ") == "CODE  482913" for line in lines)


def test_console_telegram_is_a_framed_block_with_the_chat_and_the_code(settings, caplog):
    settings.TELEGRAM_BOT_TOKEN = ""
    with caplog.at_level(logging.WARNING, logger="notify.telegram"):
        send_telegram(4242, CODE_TEXT)
    lines = block_of(caplog, "notify.telegram")
    assert_framed(lines)
    assert "Telegram to chat 4242" in lines[1]
    assert any(line.strip("│ ") == "CODE  482913" for line in lines)


def test_a_message_without_a_code_has_no_code_line(settings, caplog):
    settings.SMS_BACKEND = "console"
    with caplog.at_level(logging.WARNING, logger="notify.sms"):
        send_sms(allowance("+77011234567"), "Booking KZ-1 confirmed for 12.03 09:00.")
    assert not any("CODE" in line for line in block_of(caplog, "notify.sms"))


def test_celerys_per_job_lines_are_off_and_failures_still_show():
    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.WARNING), name


@pytest.mark.django_db
def test_a_periodic_job_that_did_nothing_logs_at_debug_one_that_did_at_info(settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    caplog.set_level(logging.DEBUG, logger="kezek.jobs")
    seal_audit.apply()
    (idle,) = [r for r in caplog.records if r.name == "kezek.jobs"]
    assert idle.levelno == logging.DEBUG
    assert idle.getMessage() == "job core.tasks.seal_audit done: 0"
    caplog.clear()
    audit.record("test.something_happened")
    seal_audit.apply()
    (busy,) = [r for r in caplog.records if r.name == "kezek.jobs"]
    assert busy.levelno == logging.INFO
    assert busy.getMessage() == "job core.tasks.seal_audit done: 1"


@shared_task
def _failing_job():
    raise RuntimeError("the job broke")


def test_a_failed_job_is_not_reported_as_done(caplog):
    caplog.set_level(logging.DEBUG, logger="kezek.jobs")
    _failing_job.apply(throw=False)
    assert not [r for r in caplog.records if r.name == "kezek.jobs"]
