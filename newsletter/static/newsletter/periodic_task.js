// The admin's periodic task page (templates/admin/djcelery/change_periodictask_form.html):
// django-celery-beat's inline script as a static file, which the CSP allows. Beside the
// crontab picker, its help says what the chosen schedule means in words.
(function ($) {
  var readableCrontabs = JSON.parse($("#readable-crontabs").text());
  var help = $(".field-crontab .help");
  var originalHelp = help.html() || "";

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    help.html(originalHelp + "<br/>Translation: " + $("<span>").text(readableCrontabs[$("#id_crontab").val()] || "").html());
  });
})(django.jQuery);
