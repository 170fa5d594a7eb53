from __future__ import annotations

from carnet.core.errors import CarnetError, InvalidInput


class LoginFailed(CarnetError):
    """Wrong identifier, password or code, or a locked account: one message for all."""

    code = "login-failed"


class CodeExpired(CarnetError):
    code = "code-expired"


class IdentityMismatch(InvalidInput):
    code = "identity-mismatch"
