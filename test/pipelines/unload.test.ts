/**
 * The UNLOAD cut around its attempt's folder (lib/shared/unload.ts): what the Task's `States.Format`
 * assembles, and the bad values it refuses.
 */
import { describe, expect, it } from 'vitest';
import { attemptLocation, attemptUnload, unloadAt } from '../../lib/shared/unload';

describe('an UNLOAD per attempt', () => {
  it("puts the attempt's folder under the location, and doubles a quote of the location in the SQL literal", () => {
    const u = attemptUnload('SELECT 1 AS x', "s3://b/it's/run-1/", 'JSON');
    expect(u.location).toBe("s3://b/it's/run-1/");
    expect(unloadAt(u, 'attempt-2-13')).toBe("UNLOAD (SELECT 1 AS x) TO 's3://b/it''s/run-1/attempt-2-13/' WITH (format = 'JSON')");
    expect(`${u.head}attempt-0-0${u.tail}`).toBe(unloadAt(u, 'attempt-0-0'));
    expect(attemptLocation(u.location, 'attempt-0-1')).toBe("s3://b/it's/run-1/attempt-0-1/");
  });

  it('fails if the location is no s3:// prefix ending in /, or the attempt is not attempt-<redrive>-<retry>', () => {
    for (const bad of ['s3://b/run-1', 'https://b/run-1/', 's3:///x/']) {
      expect(() => attemptUnload('SELECT 1', bad, 'PARQUET'), bad).toThrow(
        `an UNLOAD location must be an s3:// prefix ending in '/', but ${JSON.stringify(bad)} was provided`,
      );
    }
    const u = attemptUnload('SELECT 1', 's3://b/run-1/', 'PARQUET');
    for (const bad of ['attempt-0', "attempt-0-0/' OR '", '../x', '']) {
      expect(() => unloadAt(u, bad), bad).toThrow(`an UNLOAD attempt is named attempt-<redrive>-<retry>, but ${JSON.stringify(bad)} was provided`);
      expect(() => attemptLocation(u.location, bad), bad).toThrow(/an UNLOAD attempt is named/);
    }
  });
});
