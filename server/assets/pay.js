/*! chatpay pay page: mounts Stripe's embedded Checkout for one payment. The status comes
    from Stripe's signed webhook, never from this page: after onComplete it only says that
    Stripe is confirming. */
(function (d) {
  var c = JSON.parse(d.getElementById("pay-data").textContent);
  var note = d.getElementById("note");
  function say(title, text) {
    note.textContent = "";
    var b = d.createElement("strong");
    b.textContent = title;
    note.appendChild(b);
    note.appendChild(d.createTextNode(" " + text));
  }
  if (typeof window.Stripe !== "function") return say("", c.failed);
  var here = d.getElementById("checkout");
  Promise.resolve()
    .then(function () {
      return window.Stripe(c.pk).createEmbeddedCheckoutPage({
        fetchClientSecret: function () { return Promise.resolve(c.secret); },
        onComplete: function () { say(c.doneTitle, c.doneText); }
      });
    })
    .then(function (checkout) { checkout.mount(here); })
    .catch(function () { say("", c.failed); });
})(document);
