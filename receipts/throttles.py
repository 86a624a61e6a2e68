from core.throttles import SettingsRateThrottle


class ReceiptVerifyThrottle(SettingsRateThrottle):
    """Public verification of receipt codes, page and API together: 30 per IP per minute by
    default (THROTTLE_RECEIPT_VERIFY), stricter than other public reads so that codes cannot be
    tried in bulk (they are unguessable anyway). The address is core.middleware.client_ip, as for
    every limit."""

    scope = "receipt_verify"
