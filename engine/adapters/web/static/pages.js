// Counters under text areas with a limit ("12/4000 karakter"). The forms work without this file.
document.addEventListener("input", function (event) {
  var box = event.target;
  var id = box && box.getAttribute && box.getAttribute("data-counter");
  if (!id) return;
  var counter = document.getElementById(id);
  if (counter) counter.textContent = box.value.length + "/" + box.getAttribute("maxlength") + " karakter";
});
