/* The on-screen keyboard: every key press (mouse, keyboard focus + Enter, or a typed
   character) adds one single-use token to the form, never the character itself.
   The visible password fields hold only placeholders and have no name, so they are
   never posted. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-vk-form]");
  if (!form) { return; }
  var PLACEHOLDER = "\u2022";
  var fields = Array.prototype.slice.call(form.querySelectorAll(".vk-field"));
  var keys = Array.prototype.slice.call(form.querySelectorAll(".vk-key"));
  var pools = {};      // char -> unused tokens of this page load
  keys.forEach(function (key) {
    pools[key.getAttribute("data-c")] = key.getAttribute("data-t").split(" ");
  });
  var state = {};      // field name -> [{c, t}]
  var active = fields[0];
  fields.forEach(function (f) { state[f.getAttribute("data-name")] = []; });

  function name(field) { return field.getAttribute("data-name"); }
  function container(field) { return form.querySelector('[data-vk-hidden="' + name(field) + '"]'); }

  function render(field) {
    var entries = state[name(field)];
    var box = container(field);
    while (box.firstChild) { box.removeChild(box.firstChild); }
    entries.forEach(function (entry) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name(field);
      input.value = entry.t;
      box.appendChild(input);
    });
    field.value = new Array(entries.length + 1).join(PLACEHOLDER);
    var counter = document.getElementById(field.getAttribute("aria-describedby"));
    if (counter) {
      counter.textContent = entries.length + (entries.length === 1 ? " carácter ingresado" : " caracteres ingresados");
    }
  }

  function add(field, c) {
    var entries = state[name(field)];
    var max = parseInt(field.getAttribute("data-max"), 10) || 8;
    var pool = pools[c];
    if (!pool || !pool.length || entries.length >= max) { return false; }
    entries.push({ c: c, t: pool.shift() });
    render(field);
    return true;
  }

  function removeLast(field) {
    var entry = state[name(field)].pop();
    if (entry) { pools[entry.c].unshift(entry.t); }  // never posted: may be used again
    render(field);
  }

  function clear(field) {
    while (state[name(field)].length) { removeLast(field); }
  }

  function setShift(on) {
    var shift = form.querySelector(".vk-shift");
    shift.setAttribute("aria-pressed", on ? "true" : "false");
    form.querySelector('.vk-letters[data-case="lower"]').hidden = on;
    form.querySelector('.vk-letters[data-case="upper"]').hidden = !on;
  }

  fields.forEach(function (field) {
    field.addEventListener("focus", function () {
      active = field;
      fields.forEach(function (f) { f.classList.toggle("vk-active", f === field); });
    });
    field.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (event.key === "Backspace") { event.preventDefault(); removeLast(field); return; }
      if (event.key === "Delete") { event.preventDefault(); clear(field); return; }
      if (event.key.length === 1) {
        event.preventDefault();   // the character never reaches the field
        add(field, event.key);
      }
    });
    field.addEventListener("paste", function (event) {
      event.preventDefault();
      var text = (event.clipboardData || window.clipboardData).getData("text");
      for (var i = 0; i < text.length; i++) { add(field, text.charAt(i)); }
    });
    // A password manager fills the value directly: turn it into tokens at once.
    field.addEventListener("input", function () {
      var text = field.value.split(PLACEHOLDER).join("");
      state[name(field)].slice().forEach(function () { removeLast(field); });
      for (var i = 0; i < text.length; i++) { add(field, text.charAt(i)); }
      render(field);
    });
  });

  keys.forEach(function (key) {
    key.addEventListener("click", function () { add(active, key.getAttribute("data-c")); });
  });
  form.querySelector(".vk-shift").addEventListener("click", function () {
    setShift(this.getAttribute("aria-pressed") !== "true");
  });
  form.querySelector(".vk-back").addEventListener("click", function () { removeLast(active); });
  form.querySelector(".vk-clear").addEventListener("click", function () { clear(active); });

  var submitted = false;
  form.addEventListener("submit", function (event) {
    if (submitted) { event.preventDefault(); return; }  // one post per page load
    submitted = true;
  });
  fields.forEach(render);
}());
