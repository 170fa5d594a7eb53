"""Carnet settings, read from the environment (see README "Configuration").

`CARNET_MODE` is `dev`, `demo`, `test` or `production`. Production refuses the development secret,
the test/demo INS OIDs and DEBUG. SQLite is the embedded default; `DATABASE_URL` selects PostgreSQL.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dj_database_url
import django_stubs_ext

from carnet.env import (
    ConfigurationError,
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_str,
)

django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(env_str("CARNET_VAR_DIR", str(PROJECT_DIR / "var")))

CARNET_MODE = env_choice("CARNET_MODE", "dev", {"dev", "demo", "test", "production"})
PRODUCTION = CARNET_MODE == "production"

_DEV_SECRET = "carnet-development-secret-key-not-for-production-use-0123456789"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", None if PRODUCTION else _DEV_SECRET)
if PRODUCTION and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 50):
    raise ConfigurationError("SECRET_KEY must be a random value of 50 characters or more")

DEBUG = env_bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ConfigurationError("DEBUG cannot be on in production")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigurationError("ALLOWED_HOSTS must be set in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Public base URL, used in links sent by e-mail and as the default JWT audience.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "mozilla_django_oidc",
    "carnet.core",
    "carnet.identity",
    "carnet.audit",
    "carnet.access",
    "carnet.fhir",
    "carnet.portal",
    "carnet.pro",
    "carnet.documents",
    "carnet.profile",
    "carnet.messaging",
    "carnet.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "carnet.portal.middleware.PortalActorMiddleware",
    "carnet.core.middleware.SecurityHeadersMiddleware",
    "carnet.fhir.middleware.FhirErrorMiddleware",
]

ROOT_URLCONF = "carnet.urls"
WSGI_APPLICATION = "carnet.wsgi.application"
ASGI_APPLICATION = "carnet.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "carnet.portal.context.portal_context",
            ],
        },
    }
]

# Database: SQLite by default (tuned for concurrent readers), PostgreSQL through DATABASE_URL.
_default_sqlite = VAR_DIR / "carnet.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{_default_sqlite}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0))
except ValueError as exc:
    raise ConfigurationError(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000;"
        ),
    }
elif _db["ENGINE"] != "django.db.backends.postgresql":
    raise ConfigurationError("DATABASE_URL must point to SQLite or PostgreSQL")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "carnet.pro.oidc.ProfessionalOIDCBackend",
]
CSRF_FAILURE_VIEW = "carnet.core.views.csrf_failure"
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login hardening: one-time code and lockout thresholds.
CARNET_OTP_TTL_SECONDS = env_int("CARNET_OTP_TTL_SECONDS", 600)
CARNET_OTP_MAX_ATTEMPTS = env_int("CARNET_OTP_MAX_ATTEMPTS", 5)
# Failures are counted per account *and client address*: an attacker locks only their own
# address out of an account, never the holder logging in from elsewhere. One address is also
# throttled whatever the accounts it tries, and codes cannot be resent without limit.
CARNET_LOGIN_MAX_FAILURES = env_int("CARNET_LOGIN_MAX_FAILURES", 5)
CARNET_LOGIN_LOCK_SECONDS = env_int("CARNET_LOGIN_LOCK_SECONDS", 15 * 60)
CARNET_LOGIN_ADDRESS_MAX_FAILURES = env_int("CARNET_LOGIN_ADDRESS_MAX_FAILURES", 20)
CARNET_LOGIN_MAX_CODES = env_int("CARNET_LOGIN_MAX_CODES", 5)
# Reverse proxies in front of Carnet that append the client address to X-Forwarded-For.
CARNET_TRUSTED_PROXIES = env_int("CARNET_TRUSTED_PROXIES", 0)
CARNET_SMS_BACKEND = env_str("CARNET_SMS_BACKEND", "carnet.identity.sms.NoSmsGateway")

# Sessions and cookies: secure by default, relaxed only outside production over plain HTTP.
_https = env_bool("CARNET_HTTPS", default=PRODUCTION)
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not from the cookie
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 30 * 60)
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout rather than absolute
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _https:
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# E-mail: a real SMTP server (a local sink in demo mode, see `manage.py smtp_sink`).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 1025)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Carnet <ne-pas-repondre@carnet.localhost>")

# INS OIDs accepted for patient identities: test and demo OIDs never in production.
INS_OID_NIR = "1.2.250.1.213.1.4.8"
INS_OID_NIA = "1.2.250.1.213.1.4.9"
INS_OID_TEST = "1.2.250.1.213.1.4.10"
INS_OID_DEMO = "1.2.250.1.213.1.4.11"
CARNET_ACCEPT_TEST_INS = env_bool("CARNET_ACCEPT_TEST_INS", default=not PRODUCTION)
if PRODUCTION and CARNET_ACCEPT_TEST_INS:
    raise ConfigurationError("CARNET_ACCEPT_TEST_INS cannot be on in production")

# Document content: encrypted at rest with a per-patient key wrapped by these KEKs
# ("id:base64-32-bytes,..."; the first, or CARNET_CONTENT_KEK_ID, wraps new keys).
_dev_kek = "dev:" + base64.b64encode(b"carnet-development-kek-0123456789"[:32]).decode()
CARNET_CONTENT_KEKS = env_str("CARNET_CONTENT_KEKS", "" if PRODUCTION else _dev_kek)
if not CARNET_CONTENT_KEKS:
    raise ConfigurationError("CARNET_CONTENT_KEKS must be set in production")
CARNET_CONTENT_KEK_ID = env_str("CARNET_CONTENT_KEK_ID", "")
# file:///abs/path (default: VAR_DIR/documents) or s3://bucket/prefix?endpoint=...&region=...
CARNET_CONTENT_STORE_URL = env_str("CARNET_CONTENT_STORE_URL", "")
CARNET_MAX_DOCUMENT_BYTES = env_int("CARNET_MAX_DOCUMENT_BYTES", 20 * 1024 * 1024)
# Check every FHIR resource Carnet emits against R4 (carnet.fhir.emitted): a safety net for
# development and tests; in production it costs ~1 ms per resource for rows validated on entry.
CARNET_FHIR_CHECK_OUTPUT = env_bool("CARNET_FHIR_CHECK_OUTPUT", not PRODUCTION)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 40 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Professional API tokens (IUA/VIHF-like bearer JWT).
CARNET_JWT_AUDIENCE = env_str("CARNET_JWT_AUDIENCE", SITE_URL + "/fhir/R4")
CARNET_JWT_MAX_LIFETIME_SECONDS = env_int("CARNET_JWT_MAX_LIFETIME_SECONDS", 15 * 60)
CARNET_JWT_LEEWAY_SECONDS = env_int("CARNET_JWT_LEEWAY_SECONDS", 30)

# Audit chain key: an HMAC key so that a row cannot be re-hashed without it.
_audit_key = env_str(
    "CARNET_AUDIT_KEY", "" if PRODUCTION else base64.b64encode(b"dev-audit" * 4).decode()
)
if not _audit_key:
    raise ConfigurationError("CARNET_AUDIT_KEY must be set in production (base64, 32 bytes)")
CARNET_AUDIT_KEY = base64.b64decode(_audit_key)

# Professional web login through OpenID Connect (Pro Santé Connect style).
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid scope_all")
OIDC_CREATE_USER = False
OIDC_AUTHENTICATION_CALLBACK_URL = "pro:oidc_callback"
CARNET_OIDC_RPPS_CLAIM = env_str("CARNET_OIDC_RPPS_CLAIM", "rpps")
LOGIN_REDIRECT_URL_FAILURE = "/pro/connexion/"
CARNET_OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID and OIDC_OP_AUTHORIZATION_ENDPOINT)
CARNET_DEMO_PRO_LOGIN = CARNET_MODE in {"demo", "dev", "test"}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A notification e-mail claimed by a worker that died is taken over after this lease.
CARNET_NOTIFICATION_LEASE_SECONDS = env_int("CARNET_NOTIFICATION_LEASE_SECONDS", 300)

# Secure messaging (MSSanté): the inbound gateway (`manage.py smtp_gateway`) and the relay of the
# holders' replies. Meanings and defaults: carnet/messaging/config.py.
CARNET_MSS_PATIENT_DOMAIN = env_str("CARNET_MSS_PATIENT_DOMAIN", "mssante.fr")
CARNET_MSS_TRUSTED_DOMAINS = env_list("CARNET_MSS_TRUSTED_DOMAINS", ["mssante.fr"])
CARNET_MSS_GATEWAY_HOST = env_str("CARNET_MSS_GATEWAY_HOST", "127.0.0.1")
CARNET_MSS_GATEWAY_PORT = env_int("CARNET_MSS_GATEWAY_PORT", 2525)
CARNET_MSS_GATEWAY_HOSTNAME = env_str("CARNET_MSS_GATEWAY_HOSTNAME", "carnet-mss-gateway")
CARNET_MSS_GATEWAY_TLS_CERT = env_str("CARNET_MSS_GATEWAY_TLS_CERT", "")
CARNET_MSS_GATEWAY_TLS_KEY = env_str("CARNET_MSS_GATEWAY_TLS_KEY", "")
CARNET_MSS_GATEWAY_REQUIRE_TLS = env_bool("CARNET_MSS_GATEWAY_REQUIRE_TLS", False)
CARNET_MSS_GATEWAY_WORKERS = env_int("CARNET_MSS_GATEWAY_WORKERS", 4)
CARNET_MSS_MAX_MESSAGE_BYTES = env_int("CARNET_MSS_MAX_MESSAGE_BYTES", 20 * 1024 * 1024)
CARNET_MSS_MAX_ATTACHMENT_BYTES = env_int("CARNET_MSS_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
CARNET_MSS_RELAY_HOST = env_str("CARNET_MSS_RELAY_HOST", "")  # "": the EMAIL_HOST server
CARNET_MSS_RELAY_PORT = env_int("CARNET_MSS_RELAY_PORT", 0)  # 0: EMAIL_PORT
CARNET_MSS_RELAY_STARTTLS = env_bool("CARNET_MSS_RELAY_STARTTLS", False)
CARNET_MSS_RELAY_TLS_CA = env_str("CARNET_MSS_RELAY_TLS_CA", "")
CARNET_MSS_RELAY_TLS_CERT = env_str("CARNET_MSS_RELAY_TLS_CERT", "")
CARNET_MSS_RELAY_TLS_KEY = env_str("CARNET_MSS_RELAY_TLS_KEY", "")
CARNET_MSS_RELAY_USER = env_str("CARNET_MSS_RELAY_USER", "")
CARNET_MSS_RELAY_PASSWORD = env_str("CARNET_MSS_RELAY_PASSWORD", "")
CARNET_MSS_RELAY_TIMEOUT = env_int("CARNET_MSS_RELAY_TIMEOUT", 30)
if (
    PRODUCTION
    and CARNET_MSS_GATEWAY_REQUIRE_TLS
    and not (CARNET_MSS_GATEWAY_TLS_CERT and CARNET_MSS_GATEWAY_TLS_KEY)
):
    raise ConfigurationError(
        "CARNET_MSS_GATEWAY_REQUIRE_TLS needs CARNET_MSS_GATEWAY_TLS_CERT and _KEY"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
