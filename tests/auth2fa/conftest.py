import pytest
import time_machine

from tests.auth2fa.factories import T0


@pytest.fixture
def clock():
    """Time frozen at T0, moved by the test (codes and sessions expire with it)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller
