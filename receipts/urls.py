from django.urls import path

from receipts import views

urlpatterns = [
    path("cabinet/receipts/", views.receipt_list, name="receipts"),
    path("cabinet/receipts/archive/", views.receipt_archive, name="receipts-archive"),
    path("cabinet/receipts/<int:pk>/pdf/", views.receipt_pdf, name="receipt-pdf"),
    path("receipts/verify/", views.receipt_verify_form, name="receipt-verify"),
    path("receipts/verify/<str:code>/", views.receipt_verify_code, name="receipt-verify-code"),
]
