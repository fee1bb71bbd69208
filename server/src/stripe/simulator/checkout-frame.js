/*! chatpay's Stripe simulator (TEST MODE): tells the page that mounted this embedded
    Checkout that the session completed (its onComplete), like Stripe's frame does. */
(function (d) {
  var done = d.querySelector("[data-complete]");
  if (done && window.parent !== window) {
    window.parent.postMessage({ chatpaySimulator: "complete", session: done.getAttribute("data-complete") }, "*");
  }
})(document);
