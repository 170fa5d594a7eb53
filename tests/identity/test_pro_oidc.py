"""Professional web login through OpenID Connect, against a small real identity provider served
on loopback (token, userinfo and JWKS endpoints; RS256-signed ID tokens)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
from django.urls import reverse

from tests.identity import jwt_factory as jf

pytestmark = pytest.mark.django_db
CLIENT_ID = "carnet-test"


class _Provider:
    def __init__(self) -> None:
        self.key = jf.rsa_key(kid="op-1")
        self.nonce = ""
        self.rpps = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/jwks":
                    self._json(jf.jwks(provider.key, with_alg=True))
                elif self.path == "/userinfo":
                    self._json({"sub": "psc-subject-1", "rpps": provider.rpps})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = parse_qs(self.rfile.read(length).decode())
                assert form["grant_type"] == ["authorization_code"]
                now = int(time.time())
                id_token = jwt.encode(
                    {
                        "iss": provider.url,
                        "sub": "psc-subject-1",
                        "aud": CLIENT_ID,
                        "iat": now,
                        "exp": now + 300,
                        "nonce": provider.nonce,
                    },
                    provider.key.private_key,
                    algorithm="RS256",
                    headers={"kid": "op-1"},
                )
                self._json(
                    {"access_token": "opaque-access", "id_token": id_token, "token_type": "Bearer"}
                )

        return Handler

    def __enter__(self) -> _Provider:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider(settings):
    with _Provider() as op:
        settings.OIDC_RP_CLIENT_ID = CLIENT_ID
        settings.OIDC_RP_CLIENT_SECRET = "secret"
        settings.OIDC_RP_SIGN_ALGO = "RS256"
        settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{op.url}/authorize"
        settings.OIDC_OP_TOKEN_ENDPOINT = f"{op.url}/token"
        settings.OIDC_OP_USER_ENDPOINT = f"{op.url}/userinfo"
        settings.OIDC_OP_JWKS_ENDPOINT = f"{op.url}/jwks"
        settings.CARNET_OIDC_ENABLED = True
        yield op


def _login(client, provider, rpps):
    redirect = client.get(reverse("pro:oidc_authenticate"), {"next": reverse("pro:home")})
    assert redirect.status_code == 302
    location = urlparse(redirect["Location"])
    assert location.path == "/authorize"
    query = parse_qs(location.query)
    provider.nonce = query["nonce"][0]
    provider.rpps = rpps
    return client.get(
        reverse("pro:oidc_callback"), {"code": "one-time", "state": query["state"][0]}
    )


def test_a_known_professional_logs_in_through_the_identity_provider(client, provider, personas):
    response = _login(client, provider, "8" + personas.doctor.rpps)
    assert response.status_code == 302
    home = client.get(reverse("pro:home"))
    assert home.status_code == 200
    assert personas.doctor.rpps in home.content.decode()
    personas.doctor.refresh_from_db()
    assert personas.doctor.oidc_subject == "psc-subject-1"


def test_an_unknown_rpps_is_refused(client, provider, personas):
    response = _login(client, provider, jf.with_luhn("1999999999"))
    assert response.status_code == 302
    assert client.get(reverse("pro:home")).status_code == 302  # back to login: not authenticated


def test_the_login_page_offers_the_provider_when_configured(client, provider):
    page = client.get(reverse("pro:login")).content.decode()
    assert reverse("pro:oidc_authenticate") in page
