/**
 * Metric scraping as SageMaker does it: every line the algorithm logs is matched against each
 * `AlgorithmSpecification.MetricDefinitions` regex, the first capture group is the value, and
 * DescribeTrainingJob's `FinalMetricDataList` reports the last value seen per metric.
 */

/** A metric definition as the request carries it. */
export interface MetricDefinition {
  readonly Name: string;
  readonly Regex: string;
}

/** One entry of `FinalMetricDataList`. */
export interface MetricData {
  readonly MetricName: string;
  readonly Value: number;
  readonly Timestamp: Date;
}

/**
 * Collects the final value of each metric from log lines.
 *
 * @example
 * const scraper = new MetricScraper([{ Name: 'train:rmse', Regex: 'train_rmse=([-+0-9.eE]+);' }]);
 * scraper.line('train_rmse=0.65;');
 * scraper.final(); // [{ MetricName: 'train:rmse', Value: 0.65, Timestamp: … }]
 */
export class MetricScraper {
  private readonly patterns: { name: string; re: RegExp }[];
  private readonly latest = new Map<string, MetricData>();

  constructor(definitions: readonly MetricDefinition[] = []) {
    this.patterns = definitions.map((d) => ({ name: d.Name, re: new RegExp(d.Regex) }));
  }

  /** Matches one log line against every definition; a value that is not a number is ignored. */
  line(text: string, at: Date = new Date()): void {
    for (const { name, re } of this.patterns) {
      const match = re.exec(text);
      const raw = match?.[1] ?? match?.[0];
      if (raw === undefined) continue;
      const value = Number(raw.trim());
      if (raw.trim() === '' || !Number.isFinite(value)) continue;
      this.latest.set(name, { MetricName: name, Value: value, Timestamp: at });
    }
  }

  /** The last value of each metric that matched at least once, in definition order. */
  final(): MetricData[] {
    return this.patterns.flatMap(({ name }) => {
      const m = this.latest.get(name);
      return m ? [m] : [];
    });
  }
}
