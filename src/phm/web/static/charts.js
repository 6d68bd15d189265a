// Draw every Vega-Lite spec on the page; make the area selector fill level and code.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("script.vl-spec").forEach(function (node) {
    var target = document.getElementById(node.dataset.target);
    if (!target || typeof vegaEmbed === "undefined") { return; }
    vegaEmbed(target, JSON.parse(node.textContent), { actions: false, renderer: "svg" })
      .catch(function () { target.textContent = "The chart could not be drawn: see the table."; });
  });
  var area = document.getElementById("area");
  if (area) {
    area.form.addEventListener("submit", function () {
      var parts = area.value.split("|");
      area.form.elements.level.value = parts[0];
      area.form.elements.code.value = parts[1];
      area.disabled = true;
    });
  }
});
