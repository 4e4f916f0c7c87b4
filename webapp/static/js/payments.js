/* "Pagos y Transferencias": status polling with the half-hour countdown, the wizard's
   small helps, and printing the receipt. No inline script (CSP); the server decides
   everything, this file only shows it. */
(function () {
  "use strict";

  var POLL_MS = 1000;

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function showCountdown(el, seconds) {
    var s = Math.max(0, Math.floor(seconds));
    el.textContent = pad(Math.floor(s / 60)) + ":" + pad(s % 60);
  }

  function markStages(root, etapa) {
    var order = ["recibido", "fondeado", "aplicado"];
    var reached = order.indexOf(etapa);
    root.querySelectorAll("[data-stage]").forEach(function (li) {
      li.classList.toggle("done", order.indexOf(li.getAttribute("data-stage")) <= reached && reached >= 0);
    });
  }

  function startStatus(root) {
    var url = root.getAttribute("data-json-url");
    var etapa = document.getElementById("etapa");
    var motivo = document.getElementById("motivo");
    var promesa = document.getElementById("promesa");
    var countdown = document.getElementById("cuenta-regresiva");
    var receipt = document.getElementById("ver-comprobante");
    var deadline = Date.now() + 1000 * Number(root.getAttribute("data-promesa-s") || 0);
    var ticker = null;

    function tick() { showCountdown(countdown, (deadline - Date.now()) / 1000); }

    function render(data) {
      root.setAttribute("data-etapa", data.etapa);
      etapa.textContent = data.etapa_texto;
      markStages(root, data.etapa);
      deadline = Date.now() + 1000 * data.promesa_segundos;
      tick();
      if (data.failure_reason) { motivo.textContent = data.failure_reason; motivo.hidden = false; }
      if (data.comprobante_url) { receipt.href = data.comprobante_url; receipt.hidden = false; }
      if (data.terminal) { promesa.hidden = true; root.setAttribute("data-terminal", "true"); }
    }

    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (resp) {
          if (resp.status === 401 || resp.redirected) { window.location.reload(); return null; }
          return resp.ok ? resp.json() : null;
        })
        .then(function (data) {
          if (data) { render(data); }
          if (!data || !data.terminal) { window.setTimeout(poll, POLL_MS); }
          else if (ticker) { window.clearInterval(ticker); }
        })
        .catch(function () { window.setTimeout(poll, POLL_MS); });
    }

    if (root.getAttribute("data-terminal") !== "true") {
      ticker = window.setInterval(tick, 250);
      // Ask at once: a savings payment is usually applied before the page has loaded,
      // and the member should not read "Recibido" for a second that already passed.
      poll();
    }
  }

  function guardDoubleSubmit(form) {
    // The server already makes a second click harmless (same key, same intent); this only
    // spares the member the wait of a second round trip.
    form.addEventListener("submit", function () {
      var button = form.querySelector("#finalizar");
      if (button) {
        window.setTimeout(function () { button.disabled = true; button.textContent = button.getAttribute("data-busy"); }, 0);
      }
    });
  }

  function linkOtroValor(form) {
    // Typing "Otro valor" replaces the next-installment checkbox of the same row.
    form.querySelectorAll("input.otro").forEach(function (input) {
      var id = input.id.replace("otro-", "");
      var box = document.getElementById("cuota-" + id);
      input.addEventListener("input", function () { if (box && input.value.trim()) { box.checked = false; } });
      if (box) { box.addEventListener("change", function () { if (box.checked) { input.value = ""; } }); }
    });
  }

  function linkFormas(form) {
    var debit = document.getElementById("forma-debito");
    var multiple = document.getElementById("forma-multiple");
    var debitBox = document.getElementById("cuentas-debito");
    var multipleBox = document.getElementById("cuentas-multiple");
    function sync() {
      debitBox.classList.toggle("muted", !debit.checked);
      multipleBox.classList.toggle("muted", !multiple.checked);
    }
    debitBox.querySelectorAll("input").forEach(function (i) { i.addEventListener("change", function () { debit.checked = true; sync(); }); });
    multipleBox.querySelectorAll("input").forEach(function (i) {
      i.addEventListener("input", function () { multiple.checked = true; sync(); });
      i.addEventListener("change", function () { multiple.checked = true; sync(); });
    });
    debit.addEventListener("change", sync);
    multiple.addEventListener("change", sync);
    sync();
  }

  function getJson(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401 || resp.redirected) { window.location.reload(); return null; }
        return resp.ok ? resp.json() : null;
      });
  }

  function startPseConnect(root) {
    // "Conectando con PSE": as soon as the bank's address is known, go there in this
    // same window (never a frame or a pop-up). Any other end: the server renders it.
    if (root.getAttribute("data-estado") !== "esperando") { return; }
    var url = root.getAttribute("data-json-url");
    function poll() {
      getJson(url).then(function (data) {
        if (data && data.estado === "redirigir" && /^https?:\/\//.test(data.url || "")) {
          window.location.assign(data.url);
        } else if (data && data.estado !== "esperando") {
          window.location.reload();
        } else {
          window.setTimeout(poll, POLL_MS);
        }
      }).catch(function () { window.setTimeout(poll, POLL_MS); });
    }
    poll();
  }

  function startPseReturn(root) {
    // The return page while PSE has not decided: ask our server (never PSE) every two
    // seconds; once decided, show the page again with everything it now knows.
    if (root.getAttribute("data-final") === "true") { return; }
    var url = root.getAttribute("data-json-url");
    function poll() {
      getJson(url).then(function (data) {
        if (data && data.final) { window.location.reload(); } else { window.setTimeout(poll, 2 * POLL_MS); }
      }).catch(function () { window.setTimeout(poll, 2 * POLL_MS); });
    }
    window.setTimeout(poll, 2 * POLL_MS);
  }

  function linkPse() {
    // Choosing a bank or a person type means paying by PSE (unless Múltiples is chosen).
    var pse = document.getElementById("forma-pse") || document.getElementById("origen-pse");
    var multiple = document.getElementById("forma-multiple") || document.getElementById("origen-multiple");
    var block = document.getElementById("pse-datos");
    if (!pse || !block) { return; }
    block.querySelectorAll("select, input").forEach(function (i) {
      i.addEventListener("change", function () { if (!(multiple && multiple.checked) && !pse.disabled) { pse.checked = true; } });
    });
    var multiPse = document.getElementById("multi-pse");
    var multiBox = document.getElementById("cuentas-multiple");
    if (multiBox && multiple && !document.getElementById("form-formas")) {
      multiBox.querySelectorAll("input").forEach(function (i) {
        i.addEventListener("change", function () { multiple.checked = true; });
      });
    }
    if (multiPse && multiple) { multiPse.addEventListener("change", function () { multiple.checked = true; }); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var connect = document.getElementById("pse-conectando");
    if (connect) { startPseConnect(connect); }
    var back = document.getElementById("pse-retorno");
    if (back) { startPseReturn(back); }
    linkPse();
    var status = document.getElementById("estado");
    if (status) { startStatus(status); }
    var finish = document.getElementById("form-finalizar");
    if (finish) { guardDoubleSubmit(finish); }
    var obligations = document.getElementById("form-obligaciones");
    if (obligations) { linkOtroValor(obligations); }
    var formas = document.getElementById("form-formas");
    if (formas) { linkFormas(formas); }
    var print = document.getElementById("imprimir");
    if (print) { print.addEventListener("click", function () { window.print(); }); }
  });
})();
