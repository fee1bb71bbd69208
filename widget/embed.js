/*! chatpay loader: draws the chat bubble in a Shadow DOM and loads the widget when the
    page is idle or the bubble is clicked. The relay fills in the __CHATPAY_*__ paths. */
(function (w, d) {
  var s = d.currentScript;
  if (!s || w.__chatpay) return;
  var base = new URL(s.src).origin;
  var host = d.createElement("div");
  host.id = "chatpay";
  host.setAttribute("style", "position:fixed;z-index:2147483000;right:0;bottom:0;width:0;height:0");
  var root = host.attachShadow({ mode: "open" });
  var boot = (w.__chatpay = { root: root, site: s.getAttribute("data-site") || "", base: base, open: false });
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
  root.querySelector("button").onclick = function () {
    boot.open = true;
    root.dispatchEvent(new CustomEvent("chatpay:cmd", { detail: "open" }));
    load();
  };
  function mount() {
    d.body.appendChild(host);
    (w.requestIdleCallback || function (f) { setTimeout(f, 1000); })(load, { timeout: 4000 });
  }
  d.body ? mount() : d.addEventListener("DOMContentLoaded", mount);
})(window, document);
