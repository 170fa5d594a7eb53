"""The messaging settings, each with its default (settings.py reads them from the environment
with the typed helpers of carnet/env.py; a test may override any of them).

| setting | default | meaning |
|---|---|---|
| CARNET_MSS_PATIENT_DOMAIN | mssante.fr | holders' addresses are `<INS>@patient.<domain>` |
| CARNET_MSS_TRUSTED_DOMAINS | ("mssante.fr",) | the MSSanté trust list (domains and subdomains) |
| CARNET_MSS_GATEWAY_HOST / _PORT | 127.0.0.1 / 2525 | where `manage.py smtp_gateway` listens |
| CARNET_MSS_GATEWAY_HOSTNAME | carnet-mss-gateway | name in the SMTP greeting |
| CARNET_MSS_GATEWAY_TLS_CERT / _KEY | "" | PEM files; STARTTLS is offered when both are set |
| CARNET_MSS_GATEWAY_REQUIRE_TLS | False | refuse MAIL before STARTTLS |
| CARNET_MSS_GATEWAY_WORKERS | 4 | threads storing received messages (database work) |
| CARNET_MSS_MAX_MESSAGE_BYTES | 20 MiB | per message (product decision) |
| CARNET_MSS_MAX_ATTACHMENT_BYTES | 10 MiB | per attachment (product decision) |
| CARNET_MSS_RELAY_HOST / _PORT | "" / 0 (EMAIL_HOST / _PORT) | relay for the holders' replies |
| CARNET_MSS_RELAY_STARTTLS | False | STARTTLS to the relay (certificate verified) |
| CARNET_MSS_RELAY_TLS_CA | "" | CA bundle to verify the relay (system store if empty) |
| CARNET_MSS_RELAY_TLS_CERT / _KEY | "" | client certificate for the relay (MSSanté operators) |
| CARNET_MSS_RELAY_USER / _PASSWORD | "" | SMTP AUTH on the relay |
| CARNET_MSS_RELAY_TIMEOUT | 30 | seconds per SMTP operation |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from carnet.messaging.inbound import normalize_domains
from carnet.messaging.limits import MAX_ATTACHMENT_BYTES, MAX_MESSAGE_BYTES


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def patient_domain() -> str:
    return str(_get("CARNET_MSS_PATIENT_DOMAIN", "mssante.fr"))


def trusted_domains() -> frozenset[str]:
    value = _get("CARNET_MSS_TRUSTED_DOMAINS", ("mssante.fr",))
    entries: Sequence[str] = value.split(",") if isinstance(value, str) else list(value)
    return normalize_domains(e for e in entries if e.strip())


def max_message_bytes() -> int:
    return int(_get("CARNET_MSS_MAX_MESSAGE_BYTES", MAX_MESSAGE_BYTES))


def max_attachment_bytes() -> int:
    return int(_get("CARNET_MSS_MAX_ATTACHMENT_BYTES", MAX_ATTACHMENT_BYTES))


def string(name: str, default: str = "") -> str:
    return str(_get(name, default))


def integer(name: str, default: int) -> int:
    return int(_get(name, default))


def flag(name: str, default: bool = False) -> bool:
    return bool(_get(name, default))
