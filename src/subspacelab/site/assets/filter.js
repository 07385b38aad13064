/* Results site: filter the papers table (#sl-papers) by family and by verdict, offline, no libraries.
   A row carries data-family and data-verdicts (space-separated verdicts of the paper's own claims,
   or "not_implemented"); a row is shown when it matches both selects. */
(function () {
  "use strict";

  function matches(row, family, verdict) {
    var familyOk = !family || row.dataset.family === family;
    var verdicts = (row.dataset.verdicts || "").split(" ");
    var verdictOk = !verdict || verdicts.indexOf(verdict) !== -1;
    return familyOk && verdictOk;
  }

  function apply() {
    var table = document.getElementById("sl-papers");
    if (!table) {
      return;
    }
    var family = document.getElementById("sl-family").value;
    var verdict = document.getElementById("sl-verdict").value;
    var rows = table.tBodies[0].rows;
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var visible = matches(rows[i], family, verdict);
      rows[i].hidden = !visible;
      if (visible) {
        shown += 1;
      }
    }
    document.getElementById("sl-shown").textContent = shown + " of " + rows.length + " papers shown";
  }

  function init() {
    var selects = [document.getElementById("sl-family"), document.getElementById("sl-verdict")];
    if (!selects[0] || !selects[1]) {
      return;
    }
    selects.forEach(function (s) {
      s.addEventListener("change", apply);
    });
    apply();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
