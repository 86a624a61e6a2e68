from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse


def verified_login_required(view):
    """Pages of the personal account: signed in with both factors (A2), else to the sign-in."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_verified()):
            return redirect_to_login(request.get_full_path(), reverse("signin"))
        return view(request, *args, **kwargs)

    return wrapper
