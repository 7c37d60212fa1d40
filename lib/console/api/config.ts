/**
 * Where the platform's public endpoints are. The console is one static build: the page that serves
 * it also serves `console/config.json` naming the endpoints (the local platform writes its own
 * ports there), so the same build can be hosted beside a deployed environment with that file
 * pointing at the real endpoints.
 */

export interface ConsoleConfig {
  /** The gateway (MLflow, Feast, the prediction routes); '' is the page's own origin. */
  readonly gateway: string;
  /** The AWS JSON protocol endpoint (Step Functions). */
  readonly awsEndpoint: string;
  /** The S3 endpoint (reports). */
  readonly s3Endpoint: string;
  readonly region: string;
  /** The namespace prediction deployments live in (Seldon's `/seldon/<namespace>/<deployment>`). */
  readonly servingNamespace: string;
}

const DEFAULTS: ConsoleConfig = {
  gateway: '',
  awsEndpoint: '',
  s3Endpoint: '',
  region: 'us-east-1',
  servingNamespace: 'seldon',
};

let loaded: ConsoleConfig = DEFAULTS;

/** Reads `console/config.json` beside the page once, at start. */
export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch(new URL('console/config.json', document.baseURI).href);
  if (!res.ok) throw new Error(`console/config.json could not be read (HTTP ${res.status})`);
  loaded = { ...DEFAULTS, ...((await res.json()) as Partial<ConsoleConfig>) };
  return loaded;
}

/** The configuration read at start. */
export function config(): ConsoleConfig {
  return loaded;
}

/** Sets the configuration (tests, or a host that embeds the console). */
export function setConfig(c: Partial<ConsoleConfig>): void {
  loaded = { ...DEFAULTS, ...c };
}
