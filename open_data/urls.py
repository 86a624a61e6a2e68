from django.urls import path

from open_data import views

urlpatterns = [
    path("statistics/", views.statistics_page, name="statistics"),
    path("open-data/daily.csv", views.daily_csv, name="open-data-daily-csv"),
]
