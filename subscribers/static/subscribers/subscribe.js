// Preset the time zone from the browser; the visitor can still change it.
// Without JavaScript the select stays on UTC and the form works the same, and
// the line under it (#tz-unread) says so; it goes once the zone is set here.
(function () {
  var select = document.querySelector('select[data-tz-preset="on"]');
  if (!select || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      var unread = document.getElementById('tz-unread');
      if (unread) unread.hidden = true;
      return;
    }
  }
})();
