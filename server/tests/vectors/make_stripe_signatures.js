#!/usr/bin/env node
// Generates Stripe webhook-signature test vectors with Stripe's OFFICIAL Node
// SDK (npm package `stripe`), for chatpay's Rust verifier of the
// `Stripe-Signature` header (HMAC-SHA256 over "{t}.{raw body}", v1 scheme,
// 300 s tolerance).
//
// Usage (see README.md next to this file for the full, pinned recipe):
//
//   NODE_PATH=/tmp/stripe-vectors/node_modules \
//     node server/tests/vectors/make_stripe_signatures.js \
//     > server/tests/vectors/stripe_signatures.json
//
//   # re-check a saved file against the SDK (exit code 1 on any mismatch):
//   NODE_PATH=/tmp/stripe-vectors/node_modules \
//     node server/tests/vectors/make_stripe_signatures.js --check server/tests/vectors/stripe_signatures.json
//
// `stripe` is resolved from the directories in NODE_PATH, then from
// ./node_modules of the current working directory.
//
// How `now` and `expect` are derived
// ----------------------------------
// Every vector is pinned to a FIXED clock, NOW (below), never the machine's
// clock, so the output is byte-for-byte reproducible and the Rust verifier can
// be called with `now = NOW` and agree with the SDK.
//
//  * Headers are produced by stripe.webhooks.generateTestHeaderString with an
//    explicit `timestamp` relative to NOW (e.g. NOW - 10).
//  * `expect` and `sdk_error` are NOT hand-written: each is the outcome of
//      stripe.webhooks.constructEvent(payload, header, secret, 300,
//                                     undefined /* default crypto */,
//                                     NOW * 1000 /* receivedAt */)
//    The SDK's constructEvent takes an optional 6th argument `receivedAt`
//    (milliseconds, same unit as Date.now()) and uses it instead of
//    Date.now() for the age check:
//      age = floor(receivedAt / 1000) - t;  reject iff tolerance > 0 && age > tolerance
//    i.e. it is the SDK's own stubbed clock. No real-time arithmetic or
//    oversized tolerance is involved.
//  * As a guard, each case also states the outcome we INTEND to test
//    (`intended`, not emitted); the script aborts if the SDK disagrees, so
//    a future SDK version that changes behaviour cannot silently flip a vector.
//
// SDK semantics worth mirroring in Rust (stripe 23.x, cjs/Webhooks.js):
//  * The HMAC key is the whole secret string "whsec_..." as UTF-8 bytes
//    (it is NOT base64-decoded).
//  * The header is split on ',' and each item on '='; `t` is parsed as an
//    integer; every `v1=` item is a candidate; other schemes (v0, ...) are
//    ignored. Accept iff ANY v1 equals hex(HMAC) (constant-time compare).
//  * age == tolerance is still accepted (strict `>`); timestamps in the
//    future are never rejected by the SDK.

'use strict';

const fs = require('fs');
const path = require('path');

// ---------------------------------------------------------------------------
// Resolve `stripe` from NODE_PATH or from the cwd's node_modules.
// ---------------------------------------------------------------------------
const searchPaths = [
  ...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
  process.cwd(),
];
const stripeMain = require.resolve('stripe', { paths: searchPaths });
const Stripe = require(stripeMain);

// The package's `exports` map hides package.json, so read it from disk.
function stripePackageVersion(mainFile) {
  let dir = path.dirname(mainFile);
  while (dir !== path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      const pkg = JSON.parse(fs.readFileSync(pj, 'utf8'));
      if (pkg.name === 'stripe') return pkg.version;
    }
    dir = path.dirname(dir);
  }
  throw new Error('cannot find package.json of stripe near ' + mainFile);
}
const STRIPE_VERSION = stripePackageVersion(stripeMain);

// A dummy API key: nothing here talks to the network.
const stripe = new Stripe('sk_test_chatpay_vectors_no_network');

// ---------------------------------------------------------------------------
// Fixed inputs.
// ---------------------------------------------------------------------------
const NOW = 1764160000; // the verifier's "current time" (unix seconds)
const TOLERANCE = 300; // seconds, = stripe.webhooks.DEFAULT_TOLERANCE

// Fake secrets (not real Stripe credentials). VERIFIER_SECRET is the one the
// Rust verifier is configured with in every case.
const VERIFIER_SECRET = 'whsec_chatpayTestVectorsNewSecret0123456789';
const OLD_SECRET = 'whsec_chatpayTestVectorsOldSecret9876543210';
const ATTACKER_SECRET = 'whsec_chatpayTestVectorsWrongSecretAAAAAAAA';

const REGEN_COMMAND =
  'NODE_PATH=/tmp/stripe-vectors/node_modules node server/tests/vectors/make_stripe_signatures.js' +
  ' > server/tests/vectors/stripe_signatures.json';

// A small, realistic checkout.session.completed event. JSON.stringify gives a
// compact, deterministic raw body; that exact string is what gets signed.
const PAYLOAD = JSON.stringify({
  id: 'evt_1QchatpayTestVector0001',
  object: 'event',
  api_version: '2024-06-20',
  created: NOW - 12,
  livemode: false,
  type: 'checkout.session.completed',
  data: {
    object: {
      id: 'cs_test_a1chatpayVectorSession0001',
      object: 'checkout.session',
      client_reference_id: 'conv_0001',
      payment_status: 'paid',
      status: 'complete',
      mode: 'payment',
      amount_total: 4999,
      currency: 'usd',
      metadata: { conversation_id: 'conv_0001', visitor_id: 'vis_0001' },
    },
  },
});

// One byte changed: amount_total 4999 -> 4998.
const TAMPERED_PAYLOAD = PAYLOAD.replace('"amount_total":4999', '"amount_total":4998');
if (TAMPERED_PAYLOAD === PAYLOAD || TAMPERED_PAYLOAD.length !== PAYLOAD.length) {
  throw new Error('tampering did not change exactly one byte');
}

// ---------------------------------------------------------------------------
// Helpers around the SDK.
// ---------------------------------------------------------------------------
function header(payload, secret, timestamp, scheme) {
  const opts = { payload, secret, timestamp };
  if (scheme) opts.scheme = scheme;
  return stripe.webhooks.generateTestHeaderString(opts);
}

// Returns the single `<scheme>=<hex>` signature value of an SDK-made header.
function sigOf(hdr, scheme) {
  const item = hdr.split(',').find((kv) => kv.startsWith(scheme + '='));
  return item.slice(scheme.length + 1);
}

// The SDK's verdict at the fixed clock NOW (receivedAt is in milliseconds).
function sdkVerdict(payload, hdr, secret) {
  try {
    stripe.webhooks.constructEvent(payload, hdr, secret, TOLERANCE, undefined, NOW * 1000);
    return { expect: 'ok', sdk_error: null };
  } catch (e) {
    return { expect: 'error', sdk_error: e.message };
  }
}

// ---------------------------------------------------------------------------
// Cases. Each: name, payload (raw body the verifier sees), secret (the
// verifier's), header, and `intended` (what we mean to test; cross-checked
// against the SDK, not emitted).
// ---------------------------------------------------------------------------
function buildCases() {
  const t10 = NOW - 10;
  const good = header(PAYLOAD, VERIFIER_SECRET, t10);

  return [
    {
      name: 'accepted',
      payload: PAYLOAD,
      header: good,
      intended: 'ok',
    },
    {
      // Header was made for PAYLOAD; the body delivered has 4999 -> 4998.
      name: 'tampered_body',
      payload: TAMPERED_PAYLOAD,
      header: good,
      intended: 'error',
    },
    {
      // Signed with a secret that is not the verifier's.
      name: 'wrong_secret',
      payload: PAYLOAD,
      header: header(PAYLOAD, ATTACKER_SECRET, t10),
      intended: 'error',
    },
    {
      // Correct signature, but 301 s old (> 300 s tolerance).
      name: 'stale_timestamp',
      payload: PAYLOAD,
      header: header(PAYLOAD, VERIFIER_SECRET, NOW - 301),
      intended: 'error',
    },
    {
      // Extra (not in the original brief): exactly at the limit. The SDK
      // rejects only age > tolerance, so age == 300 is accepted.
      name: 'boundary_age_300',
      payload: PAYLOAD,
      header: header(PAYLOAD, VERIFIER_SECRET, NOW - 300),
      intended: 'ok',
    },
    {
      // Secret rotation: Stripe sends one v1 per active secret. Two SDK
      // headers (old and new secret, same payload and t) joined as
      // t=...,v1=<old>,v1=<new>. The verifier holds only the new one.
      name: 'rotated_secret_two_v1',
      payload: PAYLOAD,
      header: (() => {
        const oldH = header(PAYLOAD, OLD_SECRET, t10);
        const newH = header(PAYLOAD, VERIFIER_SECRET, t10);
        return `t=${t10},v1=${sigOf(oldH, 'v1')},v1=${sigOf(newH, 'v1')}`;
      })(),
      intended: 'ok',
    },
    {
      // generateTestHeaderString with scheme "v0": t=...,v0=<hmac with the
      // right secret>. No v1 signature at all, so it must be rejected.
      name: 'v0_only',
      payload: PAYLOAD,
      header: header(PAYLOAD, VERIFIER_SECRET, t10, 'v0'),
      intended: 'error',
    },
    {
      // A valid v1 plus a non-v1 item that must be ignored.
      name: 'extra_unknown_scheme',
      payload: PAYLOAD,
      header: `${good},v0=${'0'.repeat(64)}`,
      intended: 'ok',
    },
    {
      name: 'malformed_header',
      payload: PAYLOAD,
      header: 'garbage',
      intended: 'error',
    },
  ];
}

// ---------------------------------------------------------------------------
// Main: generate, or --check a saved file.
// ---------------------------------------------------------------------------
function generate() {
  const cases = buildCases().map((c) => {
    const verdict = sdkVerdict(c.payload, c.header, VERIFIER_SECRET);
    if (verdict.expect !== c.intended) {
      throw new Error(
        `case ${c.name}: intended ${c.intended} but SDK says ${verdict.expect}` +
          (verdict.sdk_error ? ` (${verdict.sdk_error})` : '')
      );
    }
    return {
      name: c.name,
      payload: c.payload,
      secret: VERIFIER_SECRET,
      header: c.header,
      expect: verdict.expect,
      sdk_error: verdict.sdk_error,
    };
  });

  const out = {
    generated_by: {
      command: REGEN_COMMAND,
      stripe_package: `stripe@${STRIPE_VERSION}`,
      node_version: process.version,
      method:
        'expect/sdk_error = outcome of stripe.webhooks.constructEvent(payload, header, secret, ' +
        'tolerance_seconds, undefined, now * 1000) -- the SDK\'s receivedAt (ms) argument pins its ' +
        'clock to `now`; headers from stripe.webhooks.generateTestHeaderString',
    },
    tolerance_seconds: TOLERANCE,
    now: NOW,
    cases,
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

function check(file) {
  const data = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (data.now !== NOW || data.tolerance_seconds !== TOLERANCE) {
    throw new Error('now/tolerance_seconds differ from this script');
  }
  let bad = 0;
  for (const c of data.cases) {
    const v = sdkVerdict(c.payload, c.header, c.secret);
    const ok = v.expect === c.expect && v.sdk_error === c.sdk_error;
    if (!ok) bad++;
    console.log(`${ok ? 'OK  ' : 'FAIL'} ${c.name}: file=${c.expect} sdk=${v.expect}`);
  }
  console.log(`stripe@${STRIPE_VERSION}, ${data.cases.length} cases, ${bad} mismatches`);
  process.exit(bad ? 1 : 0);
}

if (process.argv[2] === '--check') {
  check(process.argv[3]);
} else {
  generate();
}
