import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()  # sets Django up: the import below needs it

# A stored public page is answered before Django's request handling
# (newsletter/page_cache.py); every other request goes to Django.
from newsletter.page_cache import PublicPageWSGI

application = PublicPageWSGI(django_application)
