// Asks before a form with data-confirm="question" is submitted (e.g. the admin's
// "Send now to everyone"). A static file, so the site's CSP (script-src 'self',
// no inline script) allows it; without JavaScript the form submits unasked.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
