// A paper's picture that cannot be had takes its frame with it. The picture is this
// site's copy (newsletter/pictures.py), fetched from Hugging Face when first asked
// for; one the CDN will not give (a 404, something else than a picture, the CDN
// away) is a 404 here, and its card or page showed an empty bordered frame where the
// picture should be (an editor's walkthrough, 7 December). The frame is the element
// marked data-picture-frame (the picture itself, or the link around it); a card
// without it is laid out as one with no picture. Pictures that failed before this
// script ran are found by their size (complete, nothing decoded); later ones (lazy
// cards further down) by their error event, caught on its way down to them.
(function () {
  var PICTURES = "img[data-picture-frame], [data-picture-frame] img";

  function drop(img) {
    var frame = img.closest("[data-picture-frame]");
    var card = frame.closest(".paper-card--thumb");
    if (card) card.classList.remove("paper-card--thumb");
    frame.remove();
  }

  document.addEventListener("error", function (event) {
    if (event.target instanceof HTMLImageElement && event.target.matches(PICTURES)) drop(event.target);
  }, true);
  document.querySelectorAll(PICTURES).forEach(function (img) {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) drop(img);
  });
})();
