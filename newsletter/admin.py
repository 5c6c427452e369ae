"""The editors' admin. Actions parse the selection and call one service."""

from django.contrib import admin, messages
from django.db.models import Prefetch
from django.utils.html import format_html, format_html_join

from . import relevance
from .models import Delivery, DeliveryEvent, Edition, EditionPaper, Paper, PaperTopic, Topic


class PaperTopicInline(admin.TabularInline):
    model = PaperTopic
    extra = 1
    fields = ("topic", "score", "source", "matched_terms")
    readonly_fields = ("matched_terms",)
    autocomplete_fields = ("topic",)


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ("title", "trending_date", "upvotes", "num_comments", "topic_chips", "pinned", "hidden")
    list_editable = ("pinned", "hidden")
    list_filter = ("trending_date", "pinned", "hidden", "topics")
    search_fields = ("title", "abstract", "arxiv_id", "authors", "organization")
    date_hierarchy = "trending_date"
    readonly_fields = ("title_key", "created_at", "updated_at")
    inlines = [PaperTopicInline]
    actions = ["pin", "unpin", "hide", "unhide", "rescore"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(
            Prefetch(
                "topic_scores",
                queryset=PaperTopic.objects.filter(score__gt=0).select_related("topic"),
                to_attr="scored_topics",
            )
        )

    @admin.display(description="Topics")
    def topic_chips(self, paper):
        return format_html_join(
            " ", '<span style="padding:1px 6px;border-radius:8px;background:#eef2ff">{}</span>',
            ((pt.topic.name,) for pt in paper.scored_topics),
        )

    @admin.action(description="Pin selected papers")
    def pin(self, request, queryset):
        self.message_user(request, f"Pinned {queryset.update(pinned=True)} papers.")

    @admin.action(description="Unpin selected papers")
    def unpin(self, request, queryset):
        self.message_user(request, f"Unpinned {queryset.update(pinned=False)} papers.")

    @admin.action(description="Hide selected papers")
    def hide(self, request, queryset):
        self.message_user(request, f"Hid {queryset.update(hidden=True)} papers.")

    @admin.action(description="Show selected papers again")
    def unhide(self, request, queryset):
        self.message_user(request, f"{queryset.update(hidden=False)} papers visible again.")

    @admin.action(description="Re-score topics of selected papers")
    def rescore(self, request, queryset):
        relevance.papers_score(papers=list(queryset))
        self.message_user(request, f"Re-scored {queryset.count()} papers.", messages.SUCCESS)


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "position", "paper_count")
    list_editable = ("is_active", "position")
    search_fields = ("name", "keywords")
    prepopulated_fields = {"slug": ("name",)}

    @admin.display(description="Papers")
    def paper_count(self, topic):
        return topic.paper_scores.filter(score__gt=0).count()

    def save_model(self, request, obj, form, change):
        from .services import topic_update

        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            topic_update(topic=obj, **fields)
        else:
            super().save_model(request, obj, form, change)
            relevance.topic_rescore(topic=obj)


class EditionPaperInline(admin.TabularInline):
    model = EditionPaper
    extra = 0
    fields = ("position", "paper")
    raw_id_fields = ("paper",)
    ordering = ("position",)


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin):
    list_display = ("date", "on_hold", "frozen_at", "paper_total")
    list_filter = ("on_hold",)
    readonly_fields = ("frozen_at", "created_at", "updated_at")
    inlines = [EditionPaperInline]

    @admin.display(description="Papers")
    def paper_total(self, edition):
        return edition.entries.count()


class DeliveryEventInline(admin.TabularInline):
    model = DeliveryEvent
    extra = 0
    can_delete = False
    fields = ("event_type", "occurred_at", "description")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("edition", "subscriber", "status", "attempts", "sent_at", "error_short")
    list_filter = ("status", "edition")
    search_fields = ("subscriber__email", "provider_message_id")
    list_select_related = ("edition", "subscriber")
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [DeliveryEventInline]

    @admin.display(description="Error")
    def error_short(self, delivery):
        return format_html("<span title='{}'>{}</span>", delivery.error, delivery.error[:60])

    def has_add_permission(self, request):
        return False
