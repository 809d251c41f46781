/**
 * UTF-8 `TextEncoder` / `TextDecoder` for runtimes that lack them (many mini-program base libraries).
 *
 * The wasm-bindgen glue creates one of each when it loads, so these must be in place before it runs.
 * `install(target)` adds a fallback only where the runtime has none; a native one is never replaced.
 * Behaviour follows the WHATWG Encoding standard for UTF-8: lone surrogates encode as U+FFFD, invalid
 * byte sequences decode to one U+FFFD per maximal invalid subpart, and a leading BOM is dropped unless
 * `ignoreBOM` is set.
 */
'use strict';

var REPLACEMENT = 0xfffd;
var CHUNK = 4096;

/** Encodes `str` as UTF-8. */
function FallbackTextEncoder() {}

FallbackTextEncoder.prototype.encoding = 'utf-8';

FallbackTextEncoder.prototype.encode = function (input) {
  var str = input === undefined ? '' : String(input);
  var out = new Uint8Array(str.length * 3);
  var written = encodeInto(str, out).written;
  return out.slice(0, written);
};

FallbackTextEncoder.prototype.encodeInto = function (input, dest) {
  return encodeInto(String(input), dest);
};

/** Writes whole characters of `str` into `dest` while they fit; returns `{read, written}` (read in UTF-16 units). */
function encodeInto(str, dest) {
  var read = 0;
  var written = 0;
  var capacity = dest.length;
  while (read < str.length) {
    var cp = str.charCodeAt(read);
    var units = 1;
    if (cp >= 0xd800 && cp <= 0xdbff) {
      var next = read + 1 < str.length ? str.charCodeAt(read + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        units = 2;
      } else {
        cp = REPLACEMENT;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      cp = REPLACEMENT;
    }
    var size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (written + size > capacity) break;
    if (size === 1) {
      dest[written] = cp;
    } else if (size === 2) {
      dest[written] = 0xc0 | (cp >> 6);
      dest[written + 1] = 0x80 | (cp & 0x3f);
    } else if (size === 3) {
      dest[written] = 0xe0 | (cp >> 12);
      dest[written + 1] = 0x80 | ((cp >> 6) & 0x3f);
      dest[written + 2] = 0x80 | (cp & 0x3f);
    } else {
      dest[written] = 0xf0 | (cp >> 18);
      dest[written + 1] = 0x80 | ((cp >> 12) & 0x3f);
      dest[written + 2] = 0x80 | ((cp >> 6) & 0x3f);
      dest[written + 3] = 0x80 | (cp & 0x3f);
    }
    written += size;
    read += units;
  }
  return { read: read, written: written };
}

var UTF8_LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'];

/** Decodes UTF-8 bytes (an ArrayBuffer or any ArrayBuffer view) to a string. */
function FallbackTextDecoder(label, options) {
  var name = label === undefined ? 'utf-8' : String(label).trim().toLowerCase();
  if (UTF8_LABELS.indexOf(name) < 0) {
    throw new RangeError('TextDecoder fallback: only UTF-8 is supported, not "' + label + '"');
  }
  var opts = options || {};
  this.encoding = 'utf-8';
  this.fatal = Boolean(opts.fatal);
  this.ignoreBOM = Boolean(opts.ignoreBOM);
}

FallbackTextDecoder.prototype.decode = function (input) {
  var bytes = toBytes(input);
  var start = 0;
  if (!this.ignoreBOM && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    start = 3;
  }
  return decodeUtf8(bytes, start, this.fatal);
};

function toBytes(input) {
  if (input === undefined || input === null) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (Object.prototype.toString.call(input) === '[object ArrayBuffer]') return new Uint8Array(input);
  throw new TypeError('TextDecoder fallback: decode() takes an ArrayBuffer or an ArrayBuffer view');
}

/** The WHATWG UTF-8 decoder: one U+FFFD per maximal invalid subpart. */
function decodeUtf8(bytes, start, fatal) {
  var parts = [];
  var units = [];
  var i = start;
  var n = bytes.length;
  while (i < n) {
    var b = bytes[i];
    var cp = -1;
    var need = 0;
    var lower = 0x80;
    var upper = 0xbf;
    if (b < 0x80) {
      cp = b;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      cp = b & 0x0f;
      if (b === 0xe0) lower = 0xa0;
      if (b === 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      cp = b & 0x07;
      if (b === 0xf0) lower = 0x90;
      if (b === 0xf4) upper = 0x8f;
    }
    i += 1;
    if (cp < 0) {
      if (fatal) throw new TypeError('The encoded data was not valid UTF-8');
      units.push(REPLACEMENT);
    } else {
      var ok = true;
      while (need > 0) {
        var c = i < n ? bytes[i] : -1;
        if (c < lower || c > upper) {
          ok = false;
          break;
        }
        cp = (cp << 6) | (c & 0x3f);
        lower = 0x80;
        upper = 0xbf;
        need -= 1;
        i += 1;
      }
      if (!ok) {
        if (fatal) throw new TypeError('The encoded data was not valid UTF-8');
        units.push(REPLACEMENT);
      } else if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      } else {
        units.push(cp);
      }
    }
    if (units.length >= CHUNK) {
      parts.push(String.fromCharCode.apply(null, units));
      units = [];
    }
  }
  parts.push(String.fromCharCode.apply(null, units));
  return parts.join('');
}

/**
 * Puts the fallbacks on `target` (the runtime's global object) where it has no codec of its own.
 * Returns the classes in effect, so code that cannot reach the global object can still use them.
 */
function install(target) {
  var scope = target || {};
  if (typeof scope.TextEncoder !== 'function') scope.TextEncoder = FallbackTextEncoder;
  if (typeof scope.TextDecoder !== 'function') scope.TextDecoder = FallbackTextDecoder;
  return { TextEncoder: scope.TextEncoder, TextDecoder: scope.TextDecoder };
}

/* global TextEncoder, TextDecoder */
module.exports = {
  FallbackTextEncoder: FallbackTextEncoder,
  FallbackTextDecoder: FallbackTextDecoder,
  /** The runtime's own codec when it has one, else the fallback (for code that binds them locally). */
  TextEncoder: typeof TextEncoder === 'function' ? TextEncoder : FallbackTextEncoder,
  TextDecoder: typeof TextDecoder === 'function' ? TextDecoder : FallbackTextDecoder,
  install: install,
};
