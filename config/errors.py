"""The site's own page for a form refused by Django's CSRF check."""

from django.conf import settings
from django.shortcuts import render


def csrf_failure(request, reason=""):
    """Django's CSRF failure view, with the request: templates/403_csrf.html, whose
    way on is the form's own page for an editor (an admin form left open across a
    deploy or a sign-out: every admin page that takes a POST opens by GET at the
    same address), and today's papers for a reader. Django's view renders the
    template without the request, so an editor was sent to the readers' home."""
    admin_page = request.path.startswith(f"/{settings.ADMIN_URL}")
    return render(request, "403_csrf.html", {"form_page": request.path if admin_page else ""}, status=403)
