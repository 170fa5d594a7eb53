"""People and organisations: account (User), holder (the patient's space), legal representatives,
professionals, organisations and the software registered to call the professional API."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A login account: a holder, a legal representative, a professional or an operator."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("adresse e-mail"), unique=True)
    phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    display_name = models.CharField(_("nom affiché"), max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("compte")

    def __str__(self) -> str:
        return self.display_name or self.email


class Sex(models.TextChoices):
    MALE = "M", _("masculin")
    FEMALE = "F", _("féminin")


class SpaceStatus(models.TextChoices):
    NOTIFIED = "notified", _("notifié (délai d'opposition en cours)")
    CREATED = "created", _("créé, non activé")
    ACTIVE = "active", _("activé")
    OPPOSED = "opposed", _("opposition à la création")
    CLOSED = "closed", _("clôturé")


class IdentityStatus(models.TextChoices):
    PROVISIONAL = "PROV", _("identité provisoire")
    RECOVERED = "RECUP", _("identité récupérée")
    VALIDATED = "VALI", _("identité validée")
    QUALIFIED = "QUAL", _("identité qualifiée")


class Holder(models.Model):
    """The holder (titulaire) of a health space, identified by the INS and the five strict traits.

    The row is the patient key every patient-owned row points to.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ins_matricule = models.CharField(_("matricule INS"), max_length=15)
    ins_oid = models.CharField(_("OID de l'INS"), max_length=64)
    identity_status = models.CharField(
        max_length=5, choices=IdentityStatus.choices, default=IdentityStatus.QUALIFIED
    )
    # The five strict traits (RNIV), stored as returned by INSi and never rewritten.
    birth_family_name = models.CharField(_("nom de naissance"), max_length=100)
    birth_given_names = models.CharField(_("prénoms de naissance"), max_length=200)
    birth_date = models.DateField(_("date de naissance"))
    sex = models.CharField(_("sexe"), max_length=1, choices=Sex.choices)
    birth_place_code = models.CharField(_("lieu de naissance (code INSEE)"), max_length=5)
    used_family_name = models.CharField(_("nom utilisé"), max_length=100, blank=True)
    used_given_name = models.CharField(_("prénom utilisé"), max_length=100, blank=True)
    contact_email = models.EmailField(_("e-mail personnel"), blank=True)
    contact_phone = models.CharField(_("téléphone"), max_length=20, blank=True)
    space_status = models.CharField(
        max_length=10, choices=SpaceStatus.choices, default=SpaceStatus.CREATED
    )
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="holder"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("titulaire")
        constraints = [
            models.UniqueConstraint(fields=["ins_matricule", "ins_oid"], name="holder_unique_ins")
        ]

    def __str__(self) -> str:
        return f"{self.first_given_name} {self.display_family_name}"

    @property
    def first_given_name(self) -> str:
        return self.used_given_name or self.birth_given_names.split(" ")[0].title()

    @property
    def display_family_name(self) -> str:
        return self.used_family_name or self.birth_family_name


class LegalRepresentation(models.Model):
    """A legal representative (parent, guardian) acting for a minor's space."""

    class Kind(models.TextChoices):
        PARENT = "parent", _("parent")
        GUARDIAN = "tuteur", _("tuteur")

    patient = models.ForeignKey(Holder, on_delete=models.CASCADE, related_name="representations")
    representative = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="representations"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PARENT)
    since = models.DateField()
    until = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "representative"], name="representation_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.representative} → {self.patient}"


class Organisation(models.Model):
    """A health organisation identified by FINESS (or another IDNST identifier)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    idnst = models.CharField(_("identifiant national de structure"), max_length=20, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    facility_type = models.CharField(_("secteur d'activité"), max_length=20, blank=True)

    def __str__(self) -> str:
        return self.name


class Professional(models.Model):
    """A health professional known by RPPS, profession (G15) and specialty."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rpps = models.CharField(_("RPPS"), max_length=11, unique=True)
    family_name = models.CharField(_("nom"), max_length=100)
    given_name = models.CharField(_("prénom"), max_length=100)
    profession_code = models.CharField(_("profession (G15)"), max_length=4)
    specialty_code = models.CharField(_("spécialité"), max_length=40, blank=True)
    pharmacist_section = models.CharField(_("section de l'Ordre"), max_length=4, blank=True)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    mssante_address = models.EmailField(_("adresse MSSanté"), blank=True)
    user = models.OneToOneField(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="professional"
    )
    oidc_subject = models.CharField(max_length=200, null=True, blank=True, unique=True)
    # Created from the claims of an API token (an RPPS the directory did not know): such a row
    # never carries an organisation-based right.
    from_token = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("professionnel de santé")

    def __str__(self) -> str:
        return f"{self.given_name} {self.family_name}"


class RegisteredIssuer(models.Model):
    """A professional software or organisation allowed to sign API tokens, with its public keys."""

    issuer = models.CharField(_("émetteur (iss)"), max_length=200, unique=True)
    name = models.CharField(_("nom du logiciel ou de la structure"), max_length=200)
    # The organisations this issuer may vouch for: a token's `organisation` claim is believed only
    # for these (or when the directory itself attaches the professional to it).
    organisations = models.ManyToManyField(
        Organisation,
        blank=True,
        related_name="issuers",
        verbose_name=_("structures pour lesquelles il peut se porter garant"),
    )
    jwks = models.JSONField(_("clés publiques (JWKS)"))
    is_active = models.BooleanField(default=True)
    # The insurer's system client deposits reimbursement data without a practitioner.
    is_insurer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class LoginThrottle(models.Model):
    """Failed logins counted for one key: an account from one client address, or a client
    address whatever the account (addresses are stored as keyed hashes, never in clear)."""

    key = models.CharField(max_length=100, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_started_at = models.DateTimeField()
    blocked_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:20]}… {self.failures}"


class OneTimeCode(models.Model):
    """The second login factor: a 6-digit code sent by e-mail or SMS, stored hashed."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_codes")
    code_hash = models.CharField(max_length=128)
    channel = models.CharField(max_length=10, default="email")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code {self.channel} {self.created_at:%Y-%m-%d %H:%M}"
