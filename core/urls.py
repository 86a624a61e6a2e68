from django.urls import path

from core import healthz, transparency_views, views

urlpatterns = [
    path("faq/", views.faq, name="faq"),
    path("healthz", healthz.healthz, name="healthz"),
    path("transparency/", transparency_views.audit_heads, name="audit-heads"),
    path("transparency/check/", transparency_views.proof_check, name="proof-check"),
]
