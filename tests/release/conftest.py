"""Fair release tests read in English and start from the booking world (tests/worlds.py): KORDAI
switched to the draw, a window published for DAY that opens at 11:00 on the world's Friday and
closes at 12:00."""

import datetime as dt

import pytest

from release import services
from release.models import ReleaseMode, ReleaseWindow
from tests.release.helpers import DAY, OPENS, hour_places


@pytest.fixture(autouse=True)
def _english(english):
    yield


@pytest.fixture
def draw_window(world, clock):
    """KORDAI on the draw with the release at 11:00; 09:00 and 10:00 of DAY (exit) have one place
    each; the windows are published at 10:00 and the clock is moved into DAY's window."""

    def make(**policy) -> ReleaseWindow:
        hour_places(world, 9, 1)
        hour_places(world, 10, 1)
        services.policy_update(
            checkpoint=world.checkpoint,
            actor=None,
            mode=ReleaseMode.DRAW,
            release_time=dt.time(11, 0),
            **policy,
        )
        services.windows_schedule()
        clock.move_to(OPENS + dt.timedelta(minutes=5))
        return ReleaseWindow.objects.get(checkpoint=world.checkpoint, direction="exit", day=DAY)

    return make
