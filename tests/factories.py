"""factory_boy factories: valid identities built through the same rules as production."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import factory

from carnet.identity import services
from carnet.identity.identifiers import luhn_check_digit
from carnet.identity.ins import OID_NIR_TEST, nir_key
from carnet.identity.models import Holder, Organisation, Professional, RegisteredIssuer, User

PASSWORD = "correct horse battery staple"

_serial = itertools.count(1)


def valid_nir(sex: str = "2", year: int = 80, month: int = 1, department: str = "75") -> str:
    commune, order = next(_serial) % 1000, next(_serial) % 1000
    body = f"{sex}{year:02d}{month:02d}{department}{commune:03d}{order:03d}"
    return body + f"{nir_key(body):02d}"


def valid_rpps() -> str:
    body = f"1{next(_serial):09d}"
    return body + str(luhn_check_digit(body))


def make_holder(
    *,
    email: str | None = None,
    password: str = PASSWORD,
    birth_date: dt.date | None = None,
    **extra: Any,
) -> Holder:
    """A holder with an activated space (login account) unless `email` is empty."""
    serial = next(_serial)
    holder = services.register_holder(
        matricule=valid_nir(),
        oid=OID_NIR_TEST,
        traits=services.BirthTraits(
            birth_family_name=extra.pop("family", f"TESTEUR{serial}"),
            birth_given_names=extra.pop("given", "CAMILLE ANNE"),
            birth_date=birth_date or dt.date(1980, 1, 15),
            sex=extra.pop("sex", "F"),
            birth_place_code="75056",
        ),
        **extra,
    )
    if email != "":
        services.activate_space(
            holder, email=email or f"titulaire{serial}@exemple.test", password=password
        )
        holder.refresh_from_db()
    return holder


def make_professional(profession_code: str = "10", **extra: Any) -> Professional:
    serial = next(_serial)
    return services.register_professional(
        rpps=extra.pop("rpps", valid_rpps()),
        family_name=extra.pop("family_name", f"DOCTEUR{serial}"),
        given_name=extra.pop("given_name", "Alex"),
        profession_code=profession_code,
        **extra,
    )


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"compte{n}@exemple.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)


def register_issuer(
    *, vouches_for: tuple[str, ...] | None = None, **fields: Any
) -> RegisteredIssuer:
    """A registered token issuer, bound to the organisations it may vouch for (by default the
    one the test tokens name), as an operator registers a professional software."""
    from tests.identity import jwt_factory as jf

    issuer = RegisteredIssuer.objects.create(**fields)
    for idnst in ("1" + jf.FINESS,) if vouches_for is None else vouches_for:
        organisation, _created = Organisation.objects.get_or_create(
            idnst=idnst, defaults={"name": f"Structure {idnst}"}
        )
        issuer.organisations.add(organisation)
    return issuer
