/** compiledOnce: the module compiled once, and why there is none when there is none. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { compiledOnce, moduleBytes, Section, vec, wasm } from '../../lib/shared/wasm';

const SWITCH = 'MLOPS_TEST_WASM_SWITCH';
// A valid module with nothing in it but an empty type section.
const empty = () => moduleBytes([[Section.TYPE, vec([])]]);

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('compiledOnce', () => {
  it('compiles once, and reports no reason when it has a module', () => {
    // arrange
    let built = 0;
    const module = compiledOnce(() => {
      built++;
      return empty();
    }, SWITCH);
    // act
    const first = module();
    // assess
    expect(first).toBeInstanceOf(wasm!.Module);
    expect(module()).toBe(first);
    expect(module.unavailable()).toBeUndefined();
    expect(module.instantiate<object>()).toBeDefined();
    expect(built).toBe(1);
  });

  it("says 'off' when its switch is 0, without building the bytes", () => {
    vi.stubEnv(SWITCH, '0');
    let built = 0;
    const module = compiledOnce(() => {
      built++;
      return empty();
    }, SWITCH);
    expect(module.unavailable()).toBe('off');
    expect(module()).toBeUndefined();
    expect(module.instantiate()).toBeUndefined();
    expect(built).toBe(0);
  });

  it("says 'unsupported' for bytes the runtime will not compile", () => {
    const module = compiledOnce(() => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0, 0, 0]), SWITCH);
    expect(module()).toBeUndefined();
    expect(module.unavailable()).toBe('unsupported');
  });
});
