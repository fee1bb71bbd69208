/*! chatpay: paying inside the chat panel. Imported by the loader (embed.js) only when the
    visitor presses Pay on a card whose link is the relay's pay page (a payment made on
    Stripe's embedded Checkout), unless the page set chatpaySettings.checkout = "tab"; the
    relay puts the words in the visitor's language above (WORDS).
    It draws a sheet over the panel in the widget's shadow root (the way back to the chat,
    and the payment's page should the form not open), asks the widget for the session
    ("chatpay:cmd" { checkout: id }; the relay answers on that visitor's socket only, and
    the widget hands the frame back as "chatpay:pay"), loads Stripe.js (never before Pay),
    and mounts the checkout in a light-DOM element of the page shown through the sheet's
    slot: Stripe's frames do not mount inside a shadow root. A page whose own Stripe.js has
    createEmbeddedCheckoutPage lends it; otherwise the relay's is loaded and the page's
    window.Stripe put back. Paid is never decided here: onComplete only tells the widget
    to say "Confirming…"; Paid comes from Stripe's signed webhook. */
var ours, co, cur, sheet, k, timer;
// Each Pay that mounts anew is an attempt; whatever an older one finishes is dropped.
var attempt = 0;

function stripeJs(w, d, src) {
  var theirs = w.Stripe;
  if (ours) return Promise.resolve(ours);
  return new Promise(function (ok, no) {
    var t = d.createElement("script"), late = setTimeout(function () { no(Error("timeout")); }, 15000);
    t.src = src;
    t.onload = function () {
      clearTimeout(late);
      ours = w.Stripe;
      if (theirs) w.Stripe = theirs;
      ours && ours !== theirs ? ok(ours) : no(Error("no Stripe.js"));
    };
    t.onerror = function () { clearTimeout(late); no(Error("Stripe.js was blocked")); };
    d.head.appendChild(t);
  });
}

function drop(d) {
  attempt++;
  clearTimeout(timer);
  try { co && co.destroy && co.destroy(); } catch (e) {}
  co = cur = null;
  var old = d.getElementById("chatpay-checkout");
  if (old) old.remove();
  if (sheet) sheet.hidden = true;
}

function tell(x) { k.root.dispatchEvent(new CustomEvent("chatpay:cmd", { detail: x })); }

export default function open(href, root, host, base) {
  var w = window, d = document;
  var payment = decodeURIComponent(href.slice(base.length + 5));
  if (!sheet) {
    k = { root: root, host: host, base: base };
    // Its own rules, only for a visitor who pays here (a file of the relay's: a page's CSP
    // that lets the widget's stylesheet in lets this one in too; an inline one it may not).
    var style = d.createElement("link");
    style.rel = "stylesheet";
    style.href = base + "/pay-panel.css";
    root.appendChild(style);
    sheet = d.createElement("section");
    sheet.className = "cp-panel cp-paying";
    sheet.setAttribute("role", "dialog");
    sheet.setAttribute("aria-label", WORDS[0]);
    sheet.innerHTML = '<header class="cp-head"><button class="cp-back"></button></header>' +
      '<div class="cp-payfail" role="alert" hidden></div><div class="cp-checkout"><slot name="checkout"></slot></div>';
    sheet.querySelector("button").textContent = "\u2190 " + WORDS[0];
    sheet.querySelector("button").onclick = function () { sheet.hidden = true; };
    root.appendChild(sheet);
    root.addEventListener("chatpay:pay", function (e) { mount(JSON.parse(e.detail)); });
    // A payment that ended needs its checkout no more.
    w.addEventListener("chatpay:payment", function (e) {
      if (cur && e.detail.payment === cur && e.detail.status !== "pending") drop(d);
    });
  }
  // Back and Pay again: the same session, still mounted (or still on its way).
  if (cur === payment && co) {
    sheet.hidden = false;
    sheet.querySelector("button").focus();
    return;
  }
  drop(d);
  var mine = attempt;
  cur = payment;
  sheet.hidden = false;
  sheet.querySelector(".cp-payfail").hidden = true;
  sheet.querySelector("button").focus();
  tell({ checkout: payment });
  // No answer (the socket is down, the relay refused): the payment's own page.
  timer = setTimeout(function () { if (attempt === mine && !co) failed(payment); }, 10000);
}

function failed(payment) {
  var d = document, fail = sheet.querySelector(".cp-payfail"), a = d.createElement("a");
  fail.textContent = WORDS[1] + " ";
  a.href = k.base + "/pay/" + encodeURIComponent(payment);
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.textContent = WORDS[2];
  fail.appendChild(a);
  fail.hidden = false;
}

function mount(o) {
  var w = window, d = document, mine = attempt;
  if (cur !== o.payment || co) return;
  clearTimeout(timer);
  var el = d.createElement("div");
  el.id = "chatpay-checkout";
  el.slot = "checkout";
  el.setAttribute("style", "display:block!important;margin:0!important;padding:0!important;border:0!important;width:100%!important;background:#fff!important");
  k.host.appendChild(el);
  var lent;
  try { lent = w.Stripe && w.Stripe(o.publishable_key).createEmbeddedCheckoutPage && w.Stripe; } catch (x) {}
  co = (lent ? Promise.resolve(lent) : stripeJs(w, d, o.script))
    .then(function (S) {
      if (attempt !== mine) return null;
      return S(o.publishable_key).createEmbeddedCheckoutPage({
        fetchClientSecret: function () { return Promise.resolve(o.client_secret); },
        onComplete: function () {
          tell({ paid: o.payment });
          if (attempt === mine) sheet.hidden = true;
        }
      });
    })
    .then(function (c) {
      if (!c) return;
      if (attempt !== mine) return c.destroy();
      co = c;
      sheet.querySelector(".cp-payfail").hidden = true;
      c.mount(el);
    })
    .catch(function () {
      if (attempt !== mine) return;
      co = null;
      failed(o.payment);
    });
}
