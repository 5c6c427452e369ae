// The preference centre has one form to save and several buttons that act at once
// (pause, resume, unsubscribe, forget what the digest learned, email me my data),
// each a form of its own that reloads the page. A change typed into the first form
// and not saved was lost without a word when one of those was pressed. Now the
// reader is asked first, and leaving the page another way (a link, closing the tab)
// gets the browser's own "changes you made may not be saved". Without JavaScript
// nothing changes: every form still works.
(function () {
  var form = document.querySelector('form[data-preferences]');
  if (!form) return;
  var leaving = false;
  // Changed from what the page was served with (the fields' default values), so a
  // change made before this script ran counts too.
  var changed = function () {
    // Sent back with errors: what the page shows was never saved.
    if (form.hasAttribute('data-unsaved')) return true;
    return Array.prototype.some.call(form.elements, function (field) {
      if (field.type === 'checkbox' || field.type === 'radio') return field.checked !== field.defaultChecked;
      if (field.options) {
        return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return 'defaultValue' in field && field.type !== 'hidden' && field.value !== field.defaultValue;
    });
  };
  var unsaved = function () { return !leaving && changed(); };

  form.addEventListener('submit', function () { leaving = true; });
  Array.prototype.forEach.call(document.querySelectorAll('form'), function (other) {
    if (other === form) return;
    other.addEventListener('submit', function (event) {
      if (unsaved() && !window.confirm(
        'Your changes to "What you get" are not saved yet. Continue without saving them?'
      )) {
        event.preventDefault();
        return;
      }
      leaving = true;
    });
  });
  window.addEventListener('beforeunload', function (event) {
    if (!unsaved()) return;
    event.preventDefault();
    event.returnValue = '';
  });
})();
