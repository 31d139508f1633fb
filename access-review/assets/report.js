// Sorting and filtering of the report's tables. The page is complete without it: this only
// reorders and hides rows that are already there. A link can open a sorted or filtered view:
// #sort=TABLE:COLUMN[:asc|:desc]&filter=TABLE:TEXT (TABLE is a section id, COLUMN a column key).
(function () {
  "use strict";

  function key(cell, type) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent.trim(); }
    if (type === "num") {
      if (v === "") { return null; }
      var n = Number(v);
      return isNaN(n) ? v : n;
    }
    return v.toLowerCase();
  }

  function compare(a, b) {
    // An empty cell sorts as the smallest value.
    if (a === b) { return 0; }
    if (a === null) { return -1; }
    if (b === null) { return 1; }
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b));
  }

  function sortTable(table, column, direction) {
    var heads = table.tHead.rows[0].cells;
    var index = -1;
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].getAttribute("data-key") === column) { index = i; }
    }
    if (index < 0) { return; }
    var type = heads[index].getAttribute("data-type");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, n) {
      return { row: row, key: key(row.cells[index], type), n: n };
    });
    var sign = direction === "desc" ? -1 : 1;
    rows.sort(function (a, b) { return sign * compare(a.key, b.key) || a.n - b.n; });
    rows.forEach(function (r) { body.appendChild(r.row); });
    for (var j = 0; j < heads.length; j++) {
      if (j === index) {
        heads[j].setAttribute("aria-sort", direction === "desc" ? "descending" : "ascending");
      } else {
        heads[j].removeAttribute("aria-sort");
      }
    }
    table.setAttribute("data-sorted", column + ":" + direction);
  }

  function filterTable(table, text) {
    var needle = text.trim().toLowerCase();
    var rows = table.tBodies[0].rows;
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = needle === "" || rows[i].textContent.toLowerCase().indexOf(needle) >= 0;
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    var box = table.filterBox;
    if (box) {
      if (box.input.value !== text) { box.input.value = text; }
      box.count.textContent = shown + " of " + rows.length + " rows";
    }
    table.setAttribute("data-shown", String(shown));
  }

  var tables = {};
  Array.prototype.forEach.call(document.querySelectorAll("table.data"), function (table) {
    tables[table.getAttribute("data-table")] = table;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "Sort by " + th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var next = th.getAttribute("aria-sort") === "ascending" ? "desc" : "asc";
        sortTable(table, th.getAttribute("data-key"), next);
      });
    });
    var wrap = document.createElement("div");
    wrap.className = "filter";
    var label = document.createElement("label");
    label.textContent = "Filter ";
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "text in any column";
    label.appendChild(input);
    var count = document.createElement("span");
    wrap.appendChild(label);
    wrap.appendChild(count);
    table.parentNode.parentNode.insertBefore(wrap, table.parentNode);
    table.filterBox = { input: input, count: count };
    input.addEventListener("input", function () { filterTable(table, input.value); });
    filterTable(table, "");
  });

  function applyHash() {
    var params = location.hash.replace(/^#/, "").split("&");
    params.forEach(function (p) {
      var eq = p.indexOf("=");
      if (eq < 0) { return; }
      var name = p.slice(0, eq);
      var value;
      try {
        value = decodeURIComponent(p.slice(eq + 1));
      } catch (e) {
        return; // a malformed link leaves the page as it is
      }
      var parts = value.split(":");
      var table = tables[parts[0]];
      if (!table) { return; }
      if (name === "sort" && parts.length >= 2) {
        sortTable(table, parts[1], parts[2] === "desc" ? "desc" : "asc");
      } else if (name === "filter") {
        filterTable(table, parts.slice(1).join(":"));
      }
    });
  }
  applyHash();
  window.addEventListener("hashchange", applyHash);
  document.documentElement.setAttribute("data-script", "ready");
})();
