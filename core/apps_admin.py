from django.contrib.admin.apps import AdminConfig


class KezekAdminConfig(AdminConfig):
    """django.contrib.admin with the Kezek site as `admin.site` (core.admin_site)."""

    default_site = "core.admin_site.KezekAdminSite"
