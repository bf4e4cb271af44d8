/* biofeedback dashboard: theme, full screen and sound, all in the page (nothing downloaded).
   Choices are remembered in localStorage: "bf-theme" (light|dark, absent = follow the
   system) and "bf-sound" ("1" = on; off by default). */
(function () {
  "use strict";
  var root = document.documentElement;
  var store = window.localStorage;
  function get(k) { try { return store.getItem(k); } catch (e) { return null; } }
  function put(k, v) { try { store.setItem(k, v); } catch (e) { /* private mode */ } }

  var theme = get("bf-theme");
  if (theme === "dark" || theme === "light") { root.dataset.theme = theme; }
  function effectiveTheme() {
    if (root.dataset.theme) { return root.dataset.theme; }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches
      ? "dark" : "light";
  }

  /* Sound: soft tones at each breath turn and a chime at phase changes (Web Audio). */
  var audio = null;
  var sound = { on: get("bf-sound") === "1" };
  function ctx() {
    if (!audio) {
      var A = window.AudioContext || window.webkitAudioContext;
      if (!A) { return null; }
      audio = new A();
    }
    if (audio.state === "suspended") { audio.resume(); }
    return audio;
  }
  function tone(freq, start, dur, peak) {
    var c = ctx();
    if (!c) { return; }
    var o = c.createOscillator();
    var g = c.createGain();
    o.type = "sine";
    o.frequency.value = freq;
    var t = c.currentTime + start;
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(peak, t + 0.08);
    g.gain.exponentialRampToValueAtTime(0.0001, t + dur);
    o.connect(g);
    g.connect(c.destination);
    o.start(t);
    o.stop(t + dur + 0.05);
  }
  window.bfSound = {
    enabled: function () { return sound.on; },
    breath: function (inhale) {
      if (sound.on) { tone(inhale ? 392 : 294, 0, 0.9, 0.05); }
    },
    chime: function () {
      if (sound.on) { tone(660, 0, 1.6, 0.08); tone(990, 0.18, 1.6, 0.05); }
    },
    played: 0
  };
  var chimeOf = window.bfSound.chime;
  window.bfSound.chime = function () { window.bfSound.played += 1; chimeOf(); };

  function show(el, on, text) {
    /* only when different: this runs from a MutationObserver */
    var p = on ? "true" : "false";
    if (el.getAttribute("aria-pressed") !== p) { el.setAttribute("aria-pressed", p); }
    if (el.textContent !== text) { el.textContent = text; }
  }
  /* phone cards: label every table cell with its column's header (see style.css) */
  function labelCells() {
    var tables = document.querySelectorAll("table.bf-table");
    for (var i = 0; i < tables.length; i++) {
      var heads = tables[i].querySelectorAll("thead th");
      if (!heads.length) { continue; }
      var rows = tables[i].querySelectorAll("tbody tr");
      for (var r = 0; r < rows.length; r++) {
        var cells = rows[r].children;
        for (var c = 0; c < cells.length && c < heads.length; c++) {
          var label = heads[c].textContent;
          if (cells[c].getAttribute("data-label") !== label) {
            cells[c].setAttribute("data-label", label);
          }
        }
      }
    }
  }
  function sync() {
    labelCells();
    var t = document.getElementById("theme-toggle");
    if (t) {
      var dark = effectiveTheme() === "dark";
      show(t, dark, dark ? "Dark theme: on" : "Dark theme: off");
    }
    var s = document.getElementById("live-sound");
    if (s) { show(s, sound.on, sound.on ? "Sound: on" : "Sound: off"); }
    /* the current page is marked in the nav (a session belongs to Sessions) */
    var path = window.location.pathname.replace(/\/+$/, "") || "/";
    if (path.indexOf("/session/") === 0) { path = "/sessions"; }
    var links = document.querySelectorAll(".bf-nav a");
    for (var i = 0; i < links.length; i++) {
      var here = links[i].getAttribute("href") === path;
      if (here && links[i].getAttribute("aria-current") !== "page") {
        links[i].setAttribute("aria-current", "page");
      } else if (!here && links[i].hasAttribute("aria-current")) {
        links[i].removeAttribute("aria-current");
      }
    }
  }
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("button") : null;
    if (!el) { return; }
    if (el.id === "theme-toggle") {
      root.dataset.theme = effectiveTheme() === "dark" ? "light" : "dark";
      put("bf-theme", root.dataset.theme);
    } else if (el.id === "live-sound") {
      sound.on = !sound.on;
      put("bf-sound", sound.on ? "1" : "0");
      if (sound.on) { ctx(); tone(523, 0, 0.5, 0.04); }  /* a gesture unlocks audio */
    } else if (el.id === "live-fullscreen") {
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (root.requestFullscreen) { root.requestFullscreen(); }
    } else { return; }
    sync();
  });
  new MutationObserver(sync).observe(document.documentElement, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", sync);
})();
