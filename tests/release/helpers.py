"""What the fair release tests share: the day drawn and a request of the booking world."""

import datetime as dt

from checkpoints.models import HourOverride
from release import services
from tests.worlds import NOW

# The day drawn: 29 days after the world's Friday (its window opens then at 11:00).
DAY = NOW.date() + dt.timedelta(days=29)
OPENS = NOW.replace(hour=11)
CLOSES = NOW.replace(hour=12)


def hour_places(world, hour: int, places: int, day=DAY) -> None:
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=day, hour=hour, capacity=places
    )


def ask(
    world, *, hours=(9, 10), vehicle=None, service="regular", trailer=None, drivers=None, **extra
):
    """A request of `world`'s carrier for DAY at KORDAI, exit."""
    return services.RequestInput(
        checkpoint_code="KORDAI",
        direction="exit",
        day=DAY,
        service=service,
        hours=list(hours),
        vehicle_id=(vehicle or world.truck).pk,
        trailer_id=trailer.pk if trailer else None,
        driver_ids=[d.pk for d in (drivers or world.drivers[:1])],
        **extra,
    )


def place(world, **kwargs):
    return services.request_create(member=world.member, data=ask(world, **kwargs))
