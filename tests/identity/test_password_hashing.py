"""Passwords are hashed with Argon2 in every configuration Carnet ships."""

from django.conf import settings as django_settings


def test_the_configured_hasher_is_argon2():
    # the autouse fixture swaps hashers per test; the settings module itself says Argon2
    import carnet.settings as configured

    assert configured.PASSWORD_HASHERS == ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    assert django_settings.SECRET_KEY


def test_argon2_hashes_and_checks(settings):
    from django.contrib.auth.hashers import check_password, make_password

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    hashed = make_password("correct horse battery staple")
    assert hashed.startswith("argon2$")
    assert check_password("correct horse battery staple", hashed)
    assert not check_password("wrong", hashed)
