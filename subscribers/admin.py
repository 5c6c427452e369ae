from django import forms
from django.contrib import admin

from .models import BlockedDomain, ConsentRecord, Subscriber, Suppression
from .selectors import email_hash
from .tokens import subscriber_manage_url


class ConsentRecordInline(admin.TabularInline):
    """The evidence of consent, read-only: editors see it, nobody rewrites it."""

    model = ConsentRecord
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "source", "ip_address", "user_agent",
              "consent_text_version", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ("email", "status", "frequency", "delivery_hour", "time_zone", "source",
                    "confirmed_at", "created_at")
    list_filter = ("status", "frequency", "source", "only_with_code", "topics")
    search_fields = ("email",)
    date_hierarchy = "created_at"
    filter_horizontal = ("topics",)
    readonly_fields = ("status_changed_at", "confirmation_sent_at", "confirmed_at",
                       "unsubscribed_at", "created_at", "updated_at", "manage_link")
    inlines = [ConsentRecordInline]
    fieldsets = (
        (None, {"fields": ("email", "status", "paused_until", "source", "manage_link")}),
        ("Preferences", {"fields": ("topics", "keywords", "exclude_keywords", "only_with_code",
                                    "frequency", "weekday", "delivery_hour", "time_zone",
                                    "papers_per_digest", "skip_empty")}),
        ("History", {"fields": ("status_changed_at", "confirmation_sent_at", "confirmed_at",
                                "unsubscribed_at", "created_at", "updated_at")}),
    )

    @admin.display(description="Preference centre")
    def manage_link(self, obj: Subscriber) -> str:
        return subscriber_manage_url(subscriber=obj) if obj.pk else "—"


class SuppressionForm(forms.ModelForm):
    """Editors type an address; only its hash is stored."""

    email = forms.EmailField(required=False, help_text="Stored only as a hash.")

    class Meta:
        model = Suppression
        fields = ("email", "email_hash", "reason", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email_hash"].required = False

    def clean(self):
        data = super().clean()
        if data.get("email"):
            data["email_hash"] = email_hash(data["email"])
            self.instance.email_hash = data["email_hash"]
        elif not data.get("email_hash"):
            raise forms.ValidationError("Give an address or its hash.")
        return data


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = ("email_hash", "reason", "note", "created_at")
    list_filter = ("reason",)
    search_fields = ("email_hash", "note")

    def get_search_results(self, request, queryset, search_term):
        # An editor can search by address: it is hashed the same way.
        if "@" in search_term:
            return queryset.filter(email_hash=email_hash(search_term)), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(BlockedDomain)
class BlockedDomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "note", "created_at")
    search_fields = ("domain", "note")
