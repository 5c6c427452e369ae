// Preset the time zone from the browser; the visitor can still change it.
// Without JavaScript the select stays on UTC and the form works the same, and
// the line under it (#tz-unread) says so; it goes once the zone is set here.
(function () {
  var select = document.querySelector('select[data-tz-preset="on"]');
  if (!select || !window.Intl) return;
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (var i = 0; i < select.options.length; i++) {
    // The browser may name the place by an old name (Europe/Kiev): the option has it.
    var was = (select.options[i].getAttribute('data-was') || '').split(' ');
    if (select.options[i].value === zone || was.indexOf(zone) >= 0) {
      select.value = select.options[i].value;
      var unread = document.getElementById('tz-unread');
      if (unread) unread.hidden = true;
      return;
    }
  }
})();
