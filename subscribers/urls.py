from django.urls import path

from . import views

app_name = "subscribers"
urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/start/", views.subscribe_start, name="subscribe_start"),
    path("subscribe/check-your-inbox/", views.subscribe_done, name="subscribe_done"),
    path("subscribe/check-your-inbox/again/", views.subscribe_again, name="subscribe_again"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
    path("confirm/<str:token>/links/", views.confirm_links, name="confirm_links"),
    path("subscription/", views.links_request, name="links_request"),
    path("subscription/sent/", views.links_sent, name="links_sent"),
    path("manage/<str:token>/", views.manage, name="manage"),
    path("manage/<str:token>/pause/", views.pause, name="pause"),
    path("manage/<str:token>/resume/", views.resume, name="resume"),
    path("manage/<str:token>/export/", views.export, name="export"),
    path("manage/<str:token>/delete/", views.delete, name="delete"),
    path("manage/<str:token>/address/", views.email_change_request, name="email_change_request"),
    path("address/<str:token>/", views.email_change, name="email_change"),
    path("address-approval/<str:token>/", views.email_change_approve, name="email_change_approve"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("unsubscribe/<str:token>/resubscribe/", views.resubscribe, name="resubscribe"),
]
