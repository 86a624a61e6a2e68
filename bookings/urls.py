from django.urls import path

from bookings import views

urlpatterns = [
    path("cabinet/bookings/", views.bookings, name="bookings"),
    path("cabinet/bookings/new/", views.booking_new, name="booking-new"),
    path("cabinet/bookings/<int:pk>/", views.booking, name="booking"),
    path("cabinet/bookings/<int:pk>/confirmation.pdf", views.booking_pdf, name="booking-pdf"),
    path("cabinet/bookings/<int:pk>/drivers/", views.booking_drivers, name="booking-drivers"),
    path(
        "cabinet/bookings/<int:pk>/reschedule/",
        views.booking_reschedule,
        name="booking-reschedule",
    ),
    path("cabinet/bookings/<int:pk>/cancel/", views.booking_cancel, name="booking-cancel"),
    path(
        "cabinet/bookings/<int:pk>/driver-link/",
        views.booking_driver_link,
        name="booking-driver-link",
    ),
    # The driver link (Q5): public, the booking number and an unguessable token.
    path("d/<str:number>/<str:token>/", views.driver_page, name="driver-link"),
]
