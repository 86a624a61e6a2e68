from typing import Any


class ApplicationError(Exception):
    """A refusal the person can act on: a code for programs, a message in the person's language.

    Services raise it; the API turns it into `{"error": {"code", "message", "fields"}}` with
    `status`, and pages show `message`.
    """

    status = 400

    def __init__(
        self,
        code: str,
        message: Any,
        *,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.retry_after = retry_after
        if status is not None:
            self.status = status


def error_body(code: str, message: Any, fields: dict | None = None) -> dict:
    """Every API error's one shape (API.md): {"error": {"code", "message", "fields"}}."""
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}
