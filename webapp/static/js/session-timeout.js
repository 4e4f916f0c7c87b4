/* Idle session warning: a minute before the server would close the session, a dialog
   offers to continue; "Seguir conectado" renews it, otherwise the page goes to the
   login with the inactivity notice. The server's clock decides: before warning, ask it
   how long is left (another tab may have kept the session alive). */
(function () {
  "use strict";
  var timer = document.getElementById("session-timer");
  var dialog = document.getElementById("session-warning");
  if (!timer || !dialog) { return; }
  var idleS = parseInt(timer.getAttribute("data-idle-s"), 10);
  var warningS = Math.min(parseInt(timer.getAttribute("data-warning-s"), 10), idleS);
  var countdown = document.getElementById("session-countdown");
  var warnTimeout = null, tick = null, deadline = 0;

  function expire() { window.location.assign(timer.getAttribute("data-expired-url")); }

  function schedule(leftS) {
    clearTimeout(warnTimeout);
    clearInterval(tick);
    deadline = Date.now() + leftS * 1000;
    warnTimeout = setTimeout(check, Math.max(0, (leftS - warningS) * 1000));
  }

  function showWarning() {
    if (!dialog.open) { dialog.showModal ? dialog.showModal() : dialog.setAttribute("open", ""); }
    tick = setInterval(function () {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      countdown.textContent = String(left);
      if (left <= 0) { clearInterval(tick); expire(); }
    }, 250);
  }

  function check() {
    fetch(timer.getAttribute("data-status-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data.activa) { expire(); return; }
        if (data.segundos_restantes > warningS + 1) { schedule(data.segundos_restantes); return; }
        deadline = Date.now() + data.segundos_restantes * 1000;
        showWarning();
      })
      .catch(function () { showWarning(); });
  }

  document.getElementById("session-continue").addEventListener("click", function () {
    fetch(timer.getAttribute("data-renew-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": timer.getAttribute("data-csrf"), "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) { expire(); return null; }
      return r.json();
    }).then(function (data) {
      if (!data) { return; }
      if (dialog.open) { dialog.close ? dialog.close() : dialog.removeAttribute("open"); }
      schedule(data.segundos_restantes);
    }).catch(expire);
  });

  schedule(idleS);
}());
