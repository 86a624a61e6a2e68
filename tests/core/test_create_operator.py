"""create_operator: the first registrar operator of a deployment, with backup codes for the
first sign-in (the second factor A2 requires)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from auth2fa import services
from auth2fa.models import User
from auth2fa.roles import OPERATORS, has_role
from core.models import AuditEvent

pytestmark = pytest.mark.django_db

IIN = "850512300119"


def create(*args, **kwargs) -> str:
    from io import StringIO

    out = StringIO()
    call_command("create_operator", *args, stdout=out, **kwargs)
    return out.getvalue()


def test_an_operator_with_an_iin_gets_the_role_and_ten_backup_codes(settings):
    settings.PASSWORD_LOGIN = False
    output = create("Ops@Registrar.kz", full_name="Asel Operator", iin=IIN)
    user = User.objects.get(email="ops@registrar.kz")
    assert user.is_staff and not user.is_superuser and user.iin == IIN
    assert not user.has_usable_password()
    assert has_role(user, OPERATORS)
    codes = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    assert len(codes) == 10
    assert services.factors_of(user) == ["backup"]
    assert AuditEvent.objects.filter(action="auth.operator_created").exists()
    # The EDS first factor and a printed code sign the operator in.
    started = services.sign_in_with_eds(iin=IIN)
    signed_in = services.sign_in_verify(challenge=started.challenge, factor="backup", code=codes[0])
    assert signed_in.user == user


def test_refusals_leave_nothing_behind(settings):
    settings.PASSWORD_LOGIN = False
    with pytest.raises(CommandError, match="first factor"):
        create("a@registrar.kz", full_name="A")
    with pytest.raises(CommandError, match="not a valid IIN"):
        create("a@registrar.kz", full_name="A", iin="123456789012")
    with pytest.raises(CommandError, match="not an e-mail"):
        create("nobody", full_name="A", iin=IIN)
    assert not User.objects.exists()
    create("a@registrar.kz", full_name="A", iin=IIN)
    with pytest.raises(CommandError, match="already has an account"):
        create("A@registrar.kz", full_name="B", iin="900101300126")
    with pytest.raises(CommandError, match="already has an account"):
        create("b@registrar.kz", full_name="B", iin=IIN)
    assert User.objects.count() == 1


def test_a_password_operator_where_password_sign_in_is_on(settings, monkeypatch):
    settings.PASSWORD_LOGIN = True
    answers = iter(["a-long-operator-passphrase", "a-long-operator-passphrase"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    create("ops@registrar.kz", full_name="Asel", password=True, superuser=True)
    user = User.objects.get()
    assert user.is_superuser and user.check_password("a-long-operator-passphrase")
