"""Holder login: password, then a 6-digit code received through a real SMTP server; lockouts."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse

from carnet.core import clock
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _code_from(mailbox, address):
    messages = mailbox.to(address)
    assert messages, f"no e-mail received for {address}"
    match = re.search(r"\b(\d{6})\b", mailbox.body(messages[-1]))
    assert match
    return match.group(1)


def _start(client, identifier, password=PASSWORD, address="127.0.0.1"):
    return client.post(
        reverse("portal:login"),
        {"identifier": identifier, "password": password},
        REMOTE_ADDR=address,
    )


def test_full_login_with_the_code_received_by_email(client, personas, mailbox):
    response = _start(client, "dominique@exemple.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login_code")
    message = mailbox.to("dominique@exemple.test")[-1]
    assert "code" in message["Subject"].lower()
    code = _code_from(mailbox, "dominique@exemple.test")
    response = client.post(reverse("portal:login_code"), {"code": code})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home")
    home = client.get(reverse("portal:home"))
    assert home.status_code == 200
    assert "Bonjour" in home.content.decode()


def test_the_ins_is_also_an_identifier(client, personas, mailbox):
    response = _start(client, personas.patient.ins_matricule)
    assert response.status_code == 302
    assert mailbox.to("dominique@exemple.test")


def test_the_password_alone_does_not_log_in(client, personas):
    _start(client, "dominique@exemple.test")
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


@pytest.mark.parametrize(
    ("identifier", "password"),
    [("dominique@exemple.test", "wrong password!!"), ("nobody@exemple.test", PASSWORD)],
)
def test_wrong_password_and_unknown_account_get_the_same_answer(
    client, personas, mailbox, identifier, password
):
    response = _start(client, identifier, password)
    assert response.status_code == 400
    assert "Identifiant, mot de passe ou code incorrect" in response.content.decode()
    assert mailbox.messages == []


def test_repeated_wrong_passwords_lock_the_account_from_that_address(
    client, personas, mailbox, settings
):
    for _ in range(settings.CARNET_LOGIN_MAX_FAILURES):
        assert _start(client, "dominique@exemple.test", "wrong password!!").status_code == 400
    # locked: even the right password is refused, with the same message, and no code is sent
    response = _start(client, "dominique@exemple.test")
    assert response.status_code == 400
    assert mailbox.messages == []
    # the lock ends by itself
    later = clock.now() + dt.timedelta(seconds=settings.CARNET_LOGIN_LOCK_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert _start(client, "dominique@exemple.test").status_code == 302


def test_an_attacker_cannot_lock_the_holder_out_from_another_address(
    client, personas, mailbox, settings
):
    for _ in range(settings.CARNET_LOGIN_MAX_FAILURES + 3):
        _start(client, "dominique@exemple.test", "wrong password!!", address="203.0.113.9")
    assert _start(client, "dominique@exemple.test", address="203.0.113.9").status_code == 400
    # the holder, from their own address, logs in at once
    response = _start(client, "dominique@exemple.test", address="198.51.100.7")
    assert response.status_code == 302
    code = _code_from(mailbox, "dominique@exemple.test")
    response = client.post(reverse("portal:login_code"), {"code": code}, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302
    assert client.get(reverse("portal:home")).status_code == 200


def test_one_address_trying_many_accounts_is_throttled(client, personas, mailbox, settings):
    settings.CARNET_LOGIN_ADDRESS_MAX_FAILURES = 4
    for n in range(4):
        _start(client, f"inconnu{n}@exemple.test", "wrong password!!", address="203.0.113.9")
    # blocked from that address, even for an account it never tried and the right password
    assert _start(client, "dominique@exemple.test", address="203.0.113.9").status_code == 400
    assert mailbox.messages == []
    assert _start(client, "dominique@exemple.test", address="198.51.100.7").status_code == 302


def test_codes_are_not_resent_without_limit(client, personas, mailbox, settings):
    settings.CARNET_LOGIN_MAX_CODES = 3
    _start(client, "dominique@exemple.test")
    for _ in range(5):
        client.post(reverse("portal:login_code_resend"))
    assert len(mailbox.to("dominique@exemple.test")) == 3
    page = client.get(reverse("portal:login_code")).content.decode()
    assert "Plusieurs codes vous ont déjà été envoyés" in page
    # the last code received still logs in
    code = _code_from(mailbox, "dominique@exemple.test")
    assert client.post(reverse("portal:login_code"), {"code": code}).status_code == 302


def test_no_code_is_sent_while_the_address_is_blocked(client, personas, mailbox, settings):
    _start(client, "dominique@exemple.test")
    assert len(mailbox.to("dominique@exemple.test")) == 1
    code = _code_from(mailbox, "dominique@exemple.test")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.CARNET_LOGIN_MAX_FAILURES):
        client.post(reverse("portal:login_code"), {"code": wrong})
    client.post(reverse("portal:login_code_resend"))
    assert len(mailbox.to("dominique@exemple.test")) == 1


def test_addresses_are_not_stored_in_clear(client, personas):
    from carnet.identity.models import LoginThrottle

    _start(client, "dominique@exemple.test", "wrong password!!", address="203.0.113.9")
    keys = list(LoginThrottle.objects.values_list("key", flat=True))
    assert len(keys) == 2
    assert not any("203.0.113" in key for key in keys)


def test_wrong_codes_invalidate_the_code_and_lock_the_account(client, personas, mailbox, settings):
    _start(client, "dominique@exemple.test")
    code = _code_from(mailbox, "dominique@exemple.test")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(settings.CARNET_OTP_MAX_ATTEMPTS):
        response = client.post(reverse("portal:login_code"), {"code": wrong})
        assert response.status_code == 400
    # the right code no longer works after too many attempts
    response = client.post(reverse("portal:login_code"), {"code": code})
    assert response.status_code == 400
    assert client.get(reverse("portal:home")).status_code == 302


def test_an_expired_code_is_refused(client, personas, mailbox, settings):
    _start(client, "dominique@exemple.test")
    code = _code_from(mailbox, "dominique@exemple.test")
    later = clock.now() + dt.timedelta(seconds=settings.CARNET_OTP_TTL_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        response = client.post(reverse("portal:login_code"), {"code": code})
    assert response.status_code == 400
    assert "expiré" in response.content.decode()


def test_a_new_code_replaces_the_previous_one(client, personas, mailbox):
    _start(client, "dominique@exemple.test")
    first = _code_from(mailbox, "dominique@exemple.test")
    client.post(reverse("portal:login_code_resend"))
    second = _code_from(mailbox, "dominique@exemple.test")
    if first != second:
        assert client.post(reverse("portal:login_code"), {"code": first}).status_code == 400
    assert client.post(reverse("portal:login_code"), {"code": second}).status_code == 302


def test_malformed_code_gets_a_french_message(client, personas):
    _start(client, "dominique@exemple.test")
    response = client.post(reverse("portal:login_code"), {"code": "abc"})
    assert response.status_code == 400
    assert "6 chiffres" in response.content.decode()


def test_code_page_without_pending_login_goes_back_to_login(client, db):
    response = client.get(reverse("portal:login_code"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login")


def test_session_cookie_is_httponly_and_samesite(client, personas, mailbox):
    _start(client, "dominique@exemple.test")
    response = client.post(
        reverse("portal:login_code"), {"code": _code_from(mailbox, "dominique@exemple.test")}
    )
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"


def test_logout_ends_the_session(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    assert client.get(reverse("portal:home")).status_code == 200
    assert client.post(reverse("portal:logout")).status_code == 302
    assert client.get(reverse("portal:home")).status_code == 302


def test_logout_requires_post(logged_in_client, personas):
    client = logged_in_client(personas.patient.user)
    assert client.get(reverse("portal:logout")).status_code == 405


def test_login_form_is_protected_by_csrf(personas):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        reverse("portal:login"), {"identifier": "dominique@exemple.test", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "session a expiré" in response.content.decode()


def test_behind_a_trusted_proxy_the_address_it_saw_counts(rf, settings):
    from carnet.core.requests import client_address

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_address(request) == "10.0.0.2"
    settings.CARNET_TRUSTED_PROXIES = 1
    # the entry the client wrote itself (6.6.6.6) is not trusted
    assert client_address(request) == "203.0.113.9"
    settings.CARNET_TRUSTED_PROXIES = 3
    assert client_address(request) == "10.0.0.2"
