from django.urls import path

from bench.floor import views

urlpatterns = [
    path("book", views.book),
    path("const", views.const),
]
