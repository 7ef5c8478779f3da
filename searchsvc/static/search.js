/* searchsvc: autocomplete for the search box, as progressive enhancement.
   Without this file the page works the same, minus suggestions.
   ARIA combobox pattern: arrows move through the list, Enter searches the
   highlighted suggestion, Esc closes the list and restores what was typed.
   Suggestions are inserted as text, never as HTML. */
(function () {
  "use strict";
  var input = document.getElementById("q");
  if (!input || !window.fetch || !input.getAttribute("data-suggest")) return;
  var form = input.form;
  var endpoint = input.getAttribute("data-suggest");
  var field = input.parentNode;
  var list = document.createElement("ul");
  var status = document.createElement("div");
  var items = [];
  var active = -1;
  var typed = input.value;
  var timer = 0;
  var seq = 0;
  var MIN_CHARS = 2;

  list.id = "q-suggestions";
  list.className = "suggestions";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Gợi ý tìm kiếm");
  list.hidden = true;
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  field.appendChild(list);
  field.appendChild(status);

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("autocomplete", "off");

  function isOpen() { return !list.hidden; }

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var options = list.children;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index < 0) {
      input.removeAttribute("aria-activedescendant");
      input.value = typed;
    } else {
      input.setAttribute("aria-activedescendant", options[index].id);
      input.value = items[index];
      options[index].scrollIntoView({ block: "nearest" });
    }
  }

  function show(suggestions) {
    items = suggestions.slice(0, 8);
    list.textContent = "";
    active = -1;
    items.forEach(function (text, i) {
      var option = document.createElement("li");
      option.id = "q-suggestion-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      option.textContent = text;
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep focus in the box
        choose(i);
      });
      list.appendChild(option);
    });
    if (items.length) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      status.textContent = items.length + " gợi ý. Dùng phím mũi tên để chọn.";
    } else {
      close();
      status.textContent = "";
    }
  }

  function choose(index) {
    input.value = items[index];
    close();
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  function fetchSuggestions() {
    var value = input.value;
    if (value.trim().length < MIN_CHARS) { show([]); return; }
    var mine = ++seq;
    fetch(endpoint + "?q=" + encodeURIComponent(value), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (data) {
        if (mine !== seq || document.activeElement !== input) return; // a newer request or the reader left
        show(Array.isArray(data.suggestions) ? data.suggestions.filter(function (s) { return typeof s === "string"; }) : []);
      })
      .catch(function () { if (mine === seq) close(); });
  }

  input.addEventListener("input", function () {
    typed = input.value;
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 150);
  });

  input.addEventListener("keydown", function (event) {
    var key = event.key;
    if (key === "ArrowDown" || key === "Down") {
      event.preventDefault();
      if (!isOpen()) { if (items.length && input.value === typed) { list.hidden = false; input.setAttribute("aria-expanded", "true"); } else { fetchSuggestions(); } return; }
      highlight(active + 1 >= items.length ? -1 : active + 1);
    } else if (key === "ArrowUp" || key === "Up") {
      if (!isOpen()) return;
      event.preventDefault();
      highlight(active - 1 < -1 ? items.length - 1 : active - 1);
    } else if (key === "Escape" || key === "Esc") {
      if (isOpen()) {
        event.preventDefault();
        input.value = typed;
        close();
      }
    } else if (key === "Enter") {
      close(); // the form submits what the box holds, highlighted suggestion or typed text
    }
  });

  input.addEventListener("blur", function () { close(); });
  form.addEventListener("submit", function () { clearTimeout(timer); seq++; close(); });
})();
