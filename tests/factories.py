"""Registrar and checkpoint staff for tests (factory-boy): a person with the staff flag, the
roles (groups) asked for and, for an officer, the checkpoint they work at."""

import factory
from django.contrib.auth.models import Group

from auth2fa.models import User
from checkpoints.models import StaffAssignment


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        # The roles are added to the saved person; nothing to save again after them.
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@registrar.kz")
    full_name = "Registrar Staff"
    password = factory.django.Password("x")
    is_staff = True

    @factory.post_generation
    def roles(self, create: bool, extracted, **kwargs) -> None:
        """StaffFactory(roles=[OPERATORS]): the person is in these groups (auth2fa.roles)."""
        for role in extracted or ():
            self.groups.add(Group.objects.get(name=role))


class StaffAssignmentFactory(factory.django.DjangoModelFactory):
    """An officer of a checkpoint's staff (A5): StaffAssignmentFactory(checkpoint=…).user."""

    class Meta:
        model = StaffAssignment

    user = factory.SubFactory(StaffFactory, full_name="Checkpoint Officer")
