"""core.compiled_query: the ORM builds a queryset's SQL once; each run binds its own values and
reads what the queryset itself reads."""

import pytest
from django.db.models import Count

from auth2fa.models import User
from core.compiled_query import CompiledQuery

pytestmark = pytest.mark.django_db


def _people_after(pk: int, active: bool = True):
    return User.objects.filter(pk__gt=pk, is_active=active).order_by("pk")


def test_the_sql_is_built_once_and_each_run_reads_what_the_queryset_reads():
    people = [User.objects.create_user(f"{n}@one.kz", "x", full_name=n) for n in "abcd"]
    User.objects.filter(pk=people[2].pk).update(is_active=False)
    built = []

    def build(after: int):
        built.append(after)
        return _people_after(after).annotate(logins=Count("pk"))

    compiled = CompiledQuery(build, after=-900_000_001)
    for after in (0, people[0].pk, people[3].pk):
        assert [u.email for u in compiled.run(after=after)] == [
            u.email for u in _people_after(after)
        ]
    assert built == [-900_000_001]
    assert all(person.logins == 1 for person in compiled.run(after=0))


@pytest.mark.parametrize(
    "build, stand_in",
    [
        # True is also the query's own `is_active` value: a run could not tell them apart.
        (lambda value: _people_after(0, value), True),
        # The ORM makes "%x" of a suffix: the value is not a parameter as it was given.
        (lambda value: User.objects.filter(email__endswith=value), "@stand-in.invalid"),
    ],
)
def test_a_stand_in_that_is_not_one_parameter_of_the_query_is_refused(build, stand_in):
    compiled = CompiledQuery(build, value=stand_in)
    with pytest.raises(ValueError, match="stand-in"):
        compiled.run(value=stand_in)
