"""The carrier's vehicles and drivers pages: lists, an add form, deactivation."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from auth2fa.decorators import verified_login_required
from carriers.selectors import membership_of
from core.errors import ApplicationError
from core.forms import show_refusal
from vehicles import services
from vehicles.forms import DriverForm, VehicleForm
from vehicles.models import Driver, Vehicle
from vehicles.selectors import drivers_of, vehicles_of


def _refuse_readers(request: HttpRequest, member) -> bool:
    """Accountants see the lists; a change by them is refused here with a message."""
    if member.can_dispatch:
        return False
    messages.error(
        request, _("Only the carrier's owner or a dispatcher can manage vehicles and drivers.")
    )
    return True


@verified_login_required
def vehicles(request: HttpRequest) -> HttpResponse:
    """Trucks, tractor units and trailers of the carrier; the owner and dispatchers add them."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    form = VehicleForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if _refuse_readers(request, member):
            return redirect("vehicles")
        if form.is_valid():
            try:
                vehicle = services.vehicle_register(member=member, **form.cleaned_data)
            except ApplicationError as refusal:
                show_refusal(form, refusal)
            else:
                messages.success(
                    request,
                    _("%(vehicle)s is added to the fleet.") % {"vehicle": vehicle.plate_display},
                )
                return redirect("vehicles")
    carrier = member.carrier
    return render(
        request,
        "vehicles/vehicles.html",
        {
            "member": member,
            "can_manage": member.can_dispatch,
            "motor_vehicles": vehicles_of(carrier, kind=[Vehicle.Kind.TRUCK, Vehicle.Kind.TRACTOR]),
            "trailers": vehicles_of(carrier, kind=Vehicle.Kind.TRAILER),
            "form": form,
        },
    )


@verified_login_required
def vehicle_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first (a page, no script), then takes the vehicle out of the fleet."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    vehicle = get_object_or_404(Vehicle, pk=pk, carrier=member.carrier, is_active=True)
    if _refuse_readers(request, member):
        return redirect("vehicles")
    if request.method == "POST":
        try:
            services.vehicle_deactivate(member=member, vehicle=vehicle)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request,
                _("%(vehicle)s is taken out of the fleet.") % {"vehicle": vehicle.plate_display},
            )
        return redirect("vehicles")
    return render(request, "vehicles/vehicle_deactivate.html", {"vehicle": vehicle})


@verified_login_required
def drivers(request: HttpRequest) -> HttpResponse:
    """The carrier's drivers; the owner and dispatchers add them."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    form = DriverForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if _refuse_readers(request, member):
            return redirect("drivers")
        if form.is_valid():
            try:
                driver = services.driver_register(member=member, **form.cleaned_data)
            except ApplicationError as refusal:
                show_refusal(form, refusal)
            else:
                messages.success(
                    request, _("%(name)s is added to the drivers.") % {"name": driver.full_name}
                )
                return redirect("drivers")
    return render(
        request,
        "vehicles/drivers.html",
        {
            "member": member,
            "can_manage": member.can_dispatch,
            "drivers": drivers_of(member.carrier),
            "form": form,
        },
    )


@verified_login_required
def driver_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Asks first, then takes the driver off the carrier's list."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    driver = get_object_or_404(Driver, pk=pk, carrier=member.carrier, is_active=True)
    if _refuse_readers(request, member):
        return redirect("drivers")
    if request.method == "POST":
        try:
            services.driver_deactivate(member=member, driver=driver)
        except ApplicationError as refusal:
            messages.error(request, refusal.message)
        else:
            messages.success(
                request, _("%(name)s is taken off the drivers.") % {"name": driver.full_name}
            )
        return redirect("drivers")
    return render(request, "vehicles/driver_deactivate.html", {"driver": driver})
