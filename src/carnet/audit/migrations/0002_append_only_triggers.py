"""Database triggers that refuse UPDATE and DELETE on the audit trail (and TRUNCATE on
PostgreSQL), so the append-only rule holds even for code that bypasses the ORM."""

from django.db import migrations

from carnet.audit import triggers


def forward(apps, schema_editor):
    triggers.install(schema_editor.connection)


def backward(apps, schema_editor):
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
