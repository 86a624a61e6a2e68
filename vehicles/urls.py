from django.urls import path

from vehicles import views

urlpatterns = [
    path("cabinet/vehicles/", views.vehicles, name="vehicles"),
    path(
        "cabinet/vehicles/<int:pk>/deactivate/",
        views.vehicle_deactivate,
        name="vehicle-deactivate",
    ),
    path("cabinet/drivers/", views.drivers, name="drivers"),
    path("cabinet/drivers/<int:pk>/deactivate/", views.driver_deactivate, name="driver-deactivate"),
]
