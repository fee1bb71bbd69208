/*! chatpay loader: draws the chat bubble in a Shadow DOM and loads the widget when the
    page is idle or the bubble is clicked. The relay fills in the __CHATPAY_*__ paths.
    Settings (read once): window.chatpaySettings = { position: "left"|"right", color, locale, open,
    checkout: "tab" }.
    API: window.chatpay.open() / close() / toggle() / setVisitor({ name, email }) / on(event, fn),
    events "ready", "message" and "payment" (also dispatched on window as chatpay:<event>). */
(function (w, d) {
  var s = d.currentScript;
  if (!s || w.__chatpay) return;
  var cfg = w.chatpaySettings || {};
  var base = new URL(s.src).origin;
  var host = d.createElement("div");
  host.id = "chatpay";
  host.setAttribute("style", "position:fixed;z-index:2147483000;right:0;bottom:0;width:0;height:0");
  if (cfg.position === "left") host.setAttribute("data-position", "left");
  if (cfg.color) host.style.setProperty("--cp-accent", String(cfg.color));
  var root = host.attachShadow({ mode: "open" });
  var boot = (w.__chatpay = {
    root: root, site: s.getAttribute("data-site") || "", base: base,
    open: !!cfg.open, locale: cfg.locale || "", visitor: null
  });
  // Pay on a /pay/ link opens over the panel: the relay's module, imported then.
  root.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.cp-pay");
    if (!a || cfg.checkout === "tab" || a.href.indexOf(base + "/pay/") || e.button || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    import(base + "/pay-panel.js?lang=" + (boot.lang || "en")).then(
      function (m) { m.default(a.href, root, host, base); },
      function () { w.open(a.href, "_blank", "noopener"); }
    );
  });
  root.innerHTML =
    '<link rel="stylesheet" href="' + base + '__CHATPAY_CSS__">' +
    '<button class="cp-launch cp-boot" aria-label="Open chat">' +
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5h16v11H9l-5 4z"/></svg></button>';
  var loading = 0;
  function load() {
    if (loading) return;
    loading = 1;
    import(base + "__CHATPAY_JS__")
      .then(function (m) { return m.default({ module_or_path: base + "__CHATPAY_WASM__" }); })
      .catch(function (e) { loading = 0; console.error("chatpay: cannot load the widget", e); });
  }
  function cmd(c) {
    if (c === "open") boot.open = true;
    if (c === "close") boot.open = false;
    if (c === "toggle") boot.open = !boot.open;
    if (boot.open) load();
    root.dispatchEvent(new CustomEvent("chatpay:cmd", { detail: c }));
  }
  w.chatpay = {
    open: function () { cmd("open"); },
    close: function () { cmd("close"); },
    toggle: function () { cmd("toggle"); },
    setVisitor: function (v) {
      boot.visitor = v || null;
      root.dispatchEvent(new CustomEvent("chatpay:cmd", { detail: { visitor: boot.visitor } }));
    },
    on: function (name, fn) {
      w.addEventListener("chatpay:" + name, function (e) { fn(e.detail); });
    }
  };
  root.querySelector("button").onclick = function () { cmd("open"); };
  function mount() {
    d.body.appendChild(host);
    if (boot.open) load();
    else (w.requestIdleCallback || function (f) { setTimeout(f, 1000); })(load, { timeout: 4000 });
  }
  d.body ? mount() : d.addEventListener("DOMContentLoaded", mount);
})(window, document);
