"""`manage.py audit_verify`: exits non-zero when any audit row was altered or removed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.models import AuditEvent
from carnet.audit.services import verify


class Command(BaseCommand):
    help = "Vérifie l'intégrité de la chaîne d'audit (lignes modifiées ou supprimées)."

    def handle(self, *args: Any, **options: Any) -> None:
        problems = verify()
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"audit trail broken: {len(problems)} problem(s)")
        self.stdout.write(f"audit trail intact: {AuditEvent.objects.count()} rows verified")
