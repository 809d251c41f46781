// The official Node signer `tls-sig-api-v2` (1.0.2), driven for tests/official_npm.rs.
//
//   node official_signer.js gen      prints, as JSON, sigs made by the official package with its clock pinned
//   node official_signer.js verify   reads [{sig, sdkappid, key, identifier, now, expire, userbufHex}] on stdin
//                                    and checks each with the official algorithm (the package has no verify
//                                    function, so the steps are written here from its own code); prints results
//
// The package directory comes from the environment variable TIM_SIG_MODULE.
'use strict';

const crypto = require('crypto');
const zlib = require('zlib');

const modulePath = process.env.TIM_SIG_MODULE;
if (!modulePath) {
  console.error('TIM_SIG_MODULE is not set');
  process.exit(2);
}
const { Api } = require(modulePath);

const realNow = Date.now;
/** Runs `f` with the package's clock (Date.now) pinned to `seconds`. */
function atTime(seconds, f) {
  Date.now = () => seconds * 1000;
  try {
    return f();
  } finally {
    Date.now = realNow;
  }
}

/** The package's base64url.unescape (not exported), then base64 and inflate: the inverse of genSig. */
function inflateSig(sig) {
  const padded = (sig + Array(5 - (sig.length % 4)).join('_'))
    .replace(/_/g, '=')
    .replace(/-/g, '/')
    .replace(/\*/g, '+');
  return zlib.inflateSync(Buffer.from(padded, 'base64')).toString();
}

const APPS = [
  [1400000000, 'test-secret-key-0123456789abcdef'],
  [1400000001, '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e'],
];

function generate() {
  const out = [];
  const times = [1700000000, 1735689600];
  for (const [sdkappid, key] of APPS) {
    const api = new Api(sdkappid, key);
    for (const time of times) {
      for (const identifier of ['alice', 'bob_2', 'user-with-dash', '12345']) {
        for (const expire of [1, 300, 86400, 86400 * 180]) {
          const sig = atTime(time, () => api.genUserSig(identifier, expire));
          out.push({ kind: 'genUserSig', sdkappid, key, identifier, time, expire, sig, userbufHex: null });
        }
        const room = 10000;
        const priv = 255;
        out.push(atTime(time, () => ({
          kind: 'genPrivateMapKey', sdkappid, key, identifier, time, expire: 300, room, priv,
          sig: api.genPrivateMapKey(identifier, 300, room, priv),
          userbufHex: api._genUserbuf(identifier, room, 300, priv, 0, null).toString('hex'),
        })));
        const roomName = '1000000040';
        out.push(atTime(time, () => ({
          kind: 'genPrivateMapKeyWithStringRoomID', sdkappid, key, identifier, time, expire: 86400, roomName, priv: 42,
          sig: api.genPrivateMapKeyWithStringRoomID(identifier, 86400, roomName, 42),
          userbufHex: api._genUserbuf(identifier, 0, 86400, 42, 0, roomName).toString('hex'),
        })));
      }
    }
    // And one on the real clock, as an application would call it.
    const sig = api.genUserSig('realclock', 600);
    const time = JSON.parse(inflateSig(sig))['TLS.time'];
    out.push({ kind: 'genUserSig (real clock)', sdkappid, key, identifier: 'realclock', time, expire: 600, sig, userbufHex: null });
  }
  return out;
}

/** The official verification steps; `reason` uses the words of usersig-vectors.json. */
function officialVerify(c) {
  let doc;
  let text;
  try {
    text = inflateSig(c.sig);
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: 'malformed: ' + e.message };
  }
  if (doc['TLS.ver'] !== '2.0') return { ok: false, reason: 'malformed: TLS.ver' };
  if (doc['TLS.identifier'] !== c.identifier) return { ok: false, reason: 'identifier mismatch' };
  if (doc['TLS.sdkappid'] !== c.sdkappid) return { ok: false, reason: 'sdkappid mismatch' };
  const time = doc['TLS.time'];
  const expire = doc['TLS.expire'];
  if (typeof time !== 'number' || typeof expire !== 'number') return { ok: false, reason: 'malformed: numbers' };
  const userbuf = doc['TLS.userbuf'] === undefined ? null : doc['TLS.userbuf'];
  // The package's own HMAC routine, over the document's fields.
  const expectedSig = new Api(c.sdkappid, c.key)._hmacsha256(doc['TLS.identifier'], time, expire, userbuf);
  const a = Buffer.from(expectedSig);
  const b = Buffer.from(String(doc['TLS.sig']));
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return { ok: false, reason: 'bad signature' };
  if (c.now > time + expire) return { ok: false, reason: 'expired' };
  const gotUserbuf = userbuf === null ? null : Buffer.from(userbuf, 'base64').toString('hex');
  if (gotUserbuf !== c.userbufHex) return { ok: false, reason: 'userbuf mismatch' };
  // The document the package itself writes for the same inputs and clock.
  const officialDoc = atTime(time, () => inflateSig(new Api(c.sdkappid, c.key).genSig(
    c.identifier, c.expire, c.userbufHex === null ? null : Buffer.from(c.userbufHex, 'hex'))));
  return { ok: true, reason: 'OK', sameDocument: officialDoc === text, document: text, officialDocument: officialDoc };
}

function readStdin() {
  return require('fs').readFileSync(0, 'utf8');
}

const mode = process.argv[2];
if (mode === 'gen') {
  process.stdout.write(JSON.stringify(generate()));
} else if (mode === 'verify') {
  process.stdout.write(JSON.stringify(JSON.parse(readStdin()).map(officialVerify)));
} else {
  console.error('usage: node official_signer.js gen|verify');
  process.exit(2);
}
