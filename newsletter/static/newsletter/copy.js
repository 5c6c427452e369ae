// The feeds page: a "Copy" button beside each feed's address (shown only when this
// script runs). It copies with the Clipboard API where the page may (https,
// localhost), else selects the address for the reader to copy, and says which.
document.querySelectorAll("button[data-copy-from]").forEach(function (button) {
  var input = button.previousElementSibling;
  button.hidden = false;
  button.addEventListener("click", function () {
    var said = function (text) {
      button.textContent = text;
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { said("Copied"); },
        function () { said("Selected: copy it"); });
    } else {
      said("Selected: copy it");
    }
  });
});
