from django.urls import path

from checkpoint_queue import views

urlpatterns = [
    path("staff/checkpoints/", views.staff_checkpoints, name="staff-checkpoints"),
    path("staff/checkpoints/<str:code>/", views.staff_checkpoint, name="staff-checkpoint"),
    path("board/<str:code>/", views.board, name="board"),
]
