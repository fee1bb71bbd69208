/*! chatpay's Stripe simulator (TEST MODE): a stand-in for Stripe.js's embedded Checkout,
    for relays run with --stripe-simulator. Stripe(pk).createEmbeddedCheckoutPage({
    fetchClientSecret | clientSecret, onComplete }) resolves to { mount, unmount, destroy },
    as Stripe.js does since 2026-03-25.dahlia; mount draws the simulator's checkout in an
    iframe and refuses a shadow root, like Stripe.js. No real money moves. */
(function (w, d) {
  var me = d.currentScript;
  var base = me ? new URL(me.src).origin : location.origin;
  function fail(m) { var e = new Error(m); e.name = "IntegrationError"; throw e; }
  w.Stripe = function (pk) {
    if (!/^pk_(test|live)_/.test(pk || "")) fail("Stripe(): pass your publishable key (pk_test_…)");
    return {
      createEmbeddedCheckoutPage: function (opts) {
        opts = opts || {};
        var secret = opts.fetchClientSecret
          ? Promise.resolve().then(opts.fetchClientSecret)
          : Promise.resolve(opts.clientSecret);
        return secret.then(function (s) {
          var id = typeof s === "string" ? s.split("_secret_")[0] : "";
          if (!id || id === s) fail("createEmbeddedCheckoutPage: a Checkout Session's client_secret is needed");
          var frame = null, gone = false;
          function heard(e) {
            if (frame && e.source === frame.contentWindow && e.origin === base &&
                e.data && e.data.chatpaySimulator === "complete" && opts.onComplete) opts.onComplete();
          }
          w.addEventListener("message", heard);
          return {
            mount: function (at) {
              if (gone) fail("this embedded Checkout was destroyed; create another");
              var el = typeof at === "string" ? d.querySelector(at) : at;
              if (!el) fail("mount(): no element " + at);
              if (el.getRootNode() !== d) fail("Embedded Checkout cannot be mounted in a ShadowRoot. Please mount in the Light DOM.");
              frame = d.createElement("iframe");
              frame.src = base + "/simulator/checkout/" + encodeURIComponent(id) + "?embedded=1";
              frame.title = "Secure payment (TEST MODE)";
              frame.setAttribute("allow", "payment");
              frame.style.cssText = "display:block;border:0;width:100%;height:460px";
              el.appendChild(frame);
            },
            unmount: function () { if (frame) frame.remove(); frame = null; },
            destroy: function () { this.unmount(); gone = true; w.removeEventListener("message", heard); }
          };
        });
      }
    };
  };
})(window, document);
