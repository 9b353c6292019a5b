import { createHash } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import {
  base64Encode,
  canonicalJson,
  sha256Hex,
  specHash,
  utf8Encode
} from '../hash.js';

// Node's own implementations are the reference in tests only: src/flow itself may not use them.
const nodeSha = (text: string) =>
  createHash('sha256').update(text, 'utf8').digest('hex');

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 test vectors', () => {
    expect(sha256Hex('')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    );
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    );
    expect(
      sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')
    ).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    expect(sha256Hex('a'.repeat(1000000))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'
    );
  });

  it('agrees with node:crypto around every padding boundary and on multi-byte text', () => {
    for (let length = 0; length < 200; length++) {
      const text = 'x'.repeat(length);
      expect(sha256Hex(text)).toBe(nodeSha(text));
    }
    for (const text of [
      'héllo wörld',
      '日本語のテキスト',
      'emoji 🎉🚀 mix',
      '\u0000\u007f\u0080\u07ff\u0800\uffff'
    ]) {
      expect(sha256Hex(text)).toBe(nodeSha(text));
    }
  });
});

describe('utf8Encode and base64Encode', () => {
  it('match Buffer for ASCII, multi-byte and astral text', () => {
    for (const text of [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'Grüße',
      '€',
      '𝄞 music',
      '"; import os; os._exit(1) #'
    ]) {
      expect(Array.from(utf8Encode(text))).toEqual(
        Array.from(Buffer.from(text, 'utf8'))
      );
      expect(base64Encode(utf8Encode(text))).toBe(
        Buffer.from(text, 'utf8').toString('base64')
      );
    }
  });

  it('turns a lone surrogate into U+FFFD as TextEncoder does', () => {
    expect(Array.from(utf8Encode('a\ud800b'))).toEqual(
      Array.from(new TextEncoder().encode('a\ud800b'))
    );
    expect(Array.from(utf8Encode('\udc00'))).toEqual([0xef, 0xbf, 0xbd]);
  });

  it('encodes every byte value', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(base64Encode(bytes)).toBe(Buffer.from(bytes).toString('base64'));
  });
});

describe('canonicalJson and specHash', () => {
  it('sorts keys at every depth and drops undefined members', () => {
    expect(
      canonicalJson({
        b: 1,
        a: { d: [1, { z: 1, y: 2 }], c: null },
        u: undefined
      })
    ).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson([undefined, 'x'])).toBe('[null,"x"]');
  });

  it('gives equal hashes for equal data built in a different key order, ignoring the hash field', () => {
    const one = {
      name: 'etl',
      tasks: [{ name: 'a', retries: 1 }],
      hash: 'old'
    };
    const two = { tasks: [{ retries: 1, name: 'a' }], name: 'etl' };
    expect(specHash(one)).toBe(specHash(two));
    expect(specHash(one)).toBe(
      nodeSha('{"name":"etl","tasks":[{"name":"a","retries":1}]}')
    );
    expect(specHash({ ...two, name: 'other' })).not.toBe(specHash(two));
  });
});
