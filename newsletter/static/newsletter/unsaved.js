// A page with one form to save and other buttons that act at once, each a form of
// its own that reloads the page: a change typed into the first form and not saved
// was lost without a word when one of those was pressed. The reader's preference
// centre (pause, resume, unsubscribe, forget what the digest learned, email me my
// data beside "What you get") and the edition's page in the admin (Pin, Hide,
// Hold, Show preview, Send a test to me beside the editor's note). Now the person
// is asked first, and leaving the page another way (a link, closing the tab) gets
// the browser's own "changes you made may not be saved". Without JavaScript nothing
// changes: every form still works.
//
// The page names its form and its question on this script's tag:
//   <script src="…/unsaved.js" data-form="CSS selector" data-ask="question" defer>
(function () {
  var script = document.currentScript;
  if (!script) return;
  var form = document.querySelector(script.getAttribute('data-form'));
  var question = script.getAttribute('data-ask');
  if (!form || !question) return;
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
      if (unsaved() && !window.confirm(question)) {
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
