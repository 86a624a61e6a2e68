"""An SMS allowance for the tests of the SMS backends, which send without counting."""

import datetime as dt

from notify.sms import SmsAllowance


def allowance(phone: str) -> SmsAllowance:
    return SmsAllowance(phone=phone, purpose="test", granted_at=dt.datetime.now(dt.UTC))
