import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatGoDuration, parseGoDuration } from '../../src/config/duration.js';

describe('Go durations', () => {
  it('parses what time.ParseDuration accepts, to milliseconds', () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['10s', 10_000],
      ['1h30m', 5_400_000],
      ['168h', 604_800_000],
      ['1.5s', 1500],
      ['.5s', 500],
      ['500ms', 500],
      ['-2m', -120_000],
      ['+3s', 3000],
      ['1h2m3s4ms', 3_723_004],
      ['100us', 0.1],
      ['100µs', 0.1],
      ['100μs', 0.1],
      ['2000000ns', 2],
    ];
    for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
  });

  it('rejects what time.ParseDuration rejects', () => {
    for (const text of ['', '10', '1d', 's', '.s', '1.2.3s', '-', '1h 30m', 'ten seconds']) {
      assert.equal(parseGoDuration(text), undefined, text);
    }
  });

  it('formats like Duration.String() and round-trips', () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [604_800_000, '168h0m0s'],
      [5_400_000, '1h30m0s'],
      [90_000, '1m30s'],
      [1500, '1.5s'],
      [500, '500ms'],
      [1.5, '1.5ms'],
      [0.0015, '1.5µs'],
      [0.000_001, '1ns'],
      [-120_000, '-2m0s'],
    ];
    for (const [ms, text] of cases) {
      assert.equal(formatGoDuration(ms), text, String(ms));
      assert.equal(parseGoDuration(text), ms, text);
    }
  });
});
