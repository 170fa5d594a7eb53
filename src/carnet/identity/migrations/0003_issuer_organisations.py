"""An issuer vouches for a list of organisations (the former single organisation is kept as the
first of them); professionals created from a token's claims are marked as such."""

from django.db import migrations, models


def copy_organisation(apps, schema_editor):
    issuers = apps.get_model("identity", "RegisteredIssuer")
    for issuer in issuers.objects.exclude(organisation=None):
        issuer.organisations.add(issuer.organisation_id)


class Migration(migrations.Migration):
    dependencies = [
        ("identity", "0002_login_throttle_per_address"),
    ]

    operations = [
        migrations.AlterField(
            model_name="registeredissuer",
            name="organisation",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=models.SET_NULL,
                related_name="+",
                to="identity.organisation",
            ),
        ),
        migrations.AddField(
            model_name="registeredissuer",
            name="organisations",
            field=models.ManyToManyField(
                blank=True,
                related_name="issuers",
                to="identity.organisation",
                verbose_name="structures pour lesquelles il peut se porter garant",
            ),
        ),
        migrations.RunPython(copy_organisation, migrations.RunPython.noop),
        migrations.RemoveField(model_name="registeredissuer", name="organisation"),
        migrations.AddField(
            model_name="professional",
            name="from_token",
            field=models.BooleanField(default=False),
        ),
    ]
