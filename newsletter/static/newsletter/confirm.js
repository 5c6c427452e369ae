// Asks before a form with data-confirm="question" is submitted (e.g. the admin's
// "Send now to everyone"), and before one whose checkbox with
// data-confirm-unchecked="question" was ticked and is now unticked (switching a
// topic off). A static file, so the site's CSP (script-src 'self', no inline
// script) allows it; without JavaScript the form submits unasked.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form || !form.getAttribute) return;
  var questions = [form.getAttribute("data-confirm")];
  form.querySelectorAll("input[type=checkbox][data-confirm-unchecked]").forEach(function (box) {
    if (box.defaultChecked && !box.checked) questions.push(box.getAttribute("data-confirm-unchecked"));
  });
  for (var i = 0; i < questions.length; i++) {
    if (questions[i] && !window.confirm(questions[i])) {
      event.preventDefault();
      return;
    }
  }
}, true);
