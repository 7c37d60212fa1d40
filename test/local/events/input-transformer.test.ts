/**
 * The local EventBridge's input transformer and the local scheduler's rate parsing, on the shapes
 * CDK writes: `RuleTargetInput.fromObject` (placeholders as JSON values) and `fromText` (inside a
 * JSON string, for an SNS message).
 */
import { describe, expect, it } from 'vitest';
import { transformInput } from '../../../lib/local/events';
import { ratePeriodMs } from '../../../lib/local/scheduler';

const event = {
  id: 'e-1',
  'detail-type': 'DriftDetected',
  detail: { model: 'wine-quality', reportUri: 's3://b/drift/"quoted"/report.json', share: 0.6 },
};
const paths = { 'detail-type': '$.detail-type', 'detail-reportUri': '$.detail.reportUri', id: '$.id', share: '$.detail.share', none: '$.detail.missing' };

describe('transformInput', () => {
  it('puts values into an object template as JSON values', () => {
    const out = transformInput(
      { InputPathsMap: paths, InputTemplate: '{"model_name":"wine-quality","trigger":{"reason":<detail-type>,"report_uri":<detail-reportUri>,"event_id":<id>,"share":<share>,"none":<none>}}' },
      event,
    );
    expect(out).toEqual({
      model_name: 'wine-quality',
      trigger: { reason: 'DriftDetected', report_uri: 's3://b/drift/"quoted"/report.json', event_id: 'e-1', share: 0.6, none: null },
    });
  });

  it('puts values into a text template (inside a JSON string) as text, escaped', () => {
    const out = transformInput(
      { InputPathsMap: paths, InputTemplate: '"<detail-type> for wine-quality (report <detail-reportUri>, share <share>): run it"' },
      event,
    );
    expect(out).toBe('DriftDetected for wine-quality (report s3://b/drift/"quoted"/report.json, share 0.6): run it');
  });

  it('fails clearly on a path that is not JSONPath', () => {
    expect(() => transformInput({ InputPathsMap: { x: 'detail.model' }, InputTemplate: '<x>' }, event)).toThrow(
      "InputPathsMap paths must start with $, but 'detail.model' was provided",
    );
  });
});

describe('ratePeriodMs', () => {
  it('reads rate expressions and leaves cron and at to AWS', () => {
    expect(ratePeriodMs('rate(5 minutes)')).toBe(300_000);
    expect(ratePeriodMs('rate(1 hour)')).toBe(3_600_000);
    expect(ratePeriodMs('rate(1 day)')).toBe(86_400_000);
    expect(ratePeriodMs('rate(0 minutes)')).toBeUndefined();
    expect(ratePeriodMs('cron(0 6 ? * MON *)')).toBeUndefined();
  });
});
