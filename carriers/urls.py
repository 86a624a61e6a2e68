from django.urls import path

from carriers import views

urlpatterns = [
    path("cabinet/", views.cabinet, name="cabinet"),
    path("cabinet/members/", views.members, name="members"),
    path("cabinet/documents/", views.documents, name="carrier-documents"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
    path("invite/<str:token>/accept/", views.invitation_accept, name="invitation-accept"),
]
