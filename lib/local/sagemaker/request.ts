/**
 * The CreateTrainingJob request as a Task's `Parameters` render it (the API's PascalCase names),
 * validated once with the limits and messages SageMaker's own validation uses where the local
 * runner depends on them, plus what the local runner cannot do (Pipe mode, manifests, several
 * hosts), refused up front with a sentence instead of a half-run job.
 *
 * Input modes and distribution, locally: `File` and `FastFile` are both accepted and recorded in
 * `inputdataconfig.json` as asked, and both copy the channel's objects into `input/data/<channel>/`
 * before the trainer starts (FastFile's lazy streaming from S3 is a SageMaker optimisation the
 * trainer cannot tell apart: it reads the same files). `S3DataDistributionType` is validated
 * (`FullyReplicated` or `ShardedByS3Key`) and recorded; with the one local host, a sharded channel's
 * share is every object, as it is on SageMaker with one instance. Pipe mode is refused.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** SageMaker's API error codes the local runner raises. */
export type SageMakerErrorCode = 'ValidationException' | 'ResourceInUse' | 'ResourceNotFound';

/**
 * An API error as SageMaker answers it. The message ends the way the AWS SDK for Java (which Step
 * Functions uses) words service errors, because that text is what a Catch sees as `Cause`.
 */
export class SageMakerApiError extends Error {
  constructor(
    readonly code: SageMakerErrorCode,
    readonly detail: string,
  ) {
    super(
      `${detail} (Service: AmazonSageMaker; Status Code: 400; Error Code: ${code}; Request ID: ${randomUUID()}; Proxy: null)`,
    );
    this.name = code;
  }
}

const stringMap = (what: string, why: string) =>
  z.record(
    z.string(),
    z.string({
      error: (issue) =>
        `${what} values must be strings (${why}), but ${JSON.stringify(issue.input)} was provided`,
    }),
  );

const metricDefinition = z.object({
  Name: z.string().min(1).max(255),
  Regex: z
    .string()
    .min(1)
    .max(500)
    .refine(
      (r) => {
        try {
          new RegExp(r);
          return true;
        } catch {
          return false;
        }
      },
      { error: (issue) => `Regex ${JSON.stringify(issue.input)} is not a valid regular expression` },
    ),
});

const channel = z.looseObject({
  ChannelName: z
    .string()
    .regex(/^[A-Za-z0-9.\-_]{1,64}$/, 'ChannelName must be 1-64 letters, digits, ".", "-" or "_"'),
  DataSource: z.looseObject({
    S3DataSource: z.looseObject(
      {
        S3Uri: z.string().min(1),
        S3DataType: z.enum(['S3Prefix', 'ManifestFile', 'AugmentedManifestFile']),
        S3DataDistributionType: z.enum(['FullyReplicated', 'ShardedByS3Key']).optional(),
        AttributeNames: z.array(z.string()).optional(),
      },
      {
        error: (issue) =>
          issue.input === undefined
            ? 'DataSource.S3DataSource is required (the local runner reads channels from S3 only)'
            : undefined,
      },
    ),
  }),
  ContentType: z.string().optional(),
  CompressionType: z.enum(['None', 'Gzip']).optional(),
  RecordWrapperType: z.enum(['None', 'RecordIO']).optional(),
  InputMode: z.enum(['File', 'Pipe', 'FastFile']).optional(),
});

/** The fields of CreateTrainingJob the local runner reads; any others are kept and echoed back. */
export const createTrainingJobSchema = z.looseObject({
  TrainingJobName: z
    .string({ error: 'TrainingJobName is required' })
    .regex(
      /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/,
      'TrainingJobName must be 1-63 letters, digits and hyphens, starting and ending with a letter or digit',
    ),
  RoleArn: z.string({ error: 'RoleArn is required' }).min(20).max(2048),
  AlgorithmSpecification: z
    .looseObject({
      TrainingImage: z.string().optional(),
      AlgorithmName: z.string().optional(),
      TrainingInputMode: z.enum(['File', 'Pipe', 'FastFile'], {
        error: 'AlgorithmSpecification.TrainingInputMode must be File, Pipe or FastFile',
      }),
      MetricDefinitions: z.array(metricDefinition).max(40).optional(),
    })
    .refine((a) => a.TrainingImage !== undefined || a.AlgorithmName !== undefined, {
      error: 'AlgorithmSpecification needs a TrainingImage or an AlgorithmName',
    }),
  HyperParameters: stringMap('HyperParameters', 'SageMaker passes every hyperparameter as a string')
    .refine((h) => Object.keys(h).length <= 100, 'HyperParameters may hold at most 100 entries')
    .optional(),
  InputDataConfig: z.array(channel).min(1).max(20).optional(),
  OutputDataConfig: z.looseObject(
    {
      S3OutputPath: z.string({ error: 'OutputDataConfig.S3OutputPath is required' }).min(1),
      KmsKeyId: z.string().optional(),
      CompressionType: z.enum(['GZIP', 'NONE']).optional(),
    },
    { error: 'OutputDataConfig is required' },
  ),
  ResourceConfig: z.looseObject(
    {
      InstanceType: z.string().optional(),
      InstanceCount: z.number().int().min(0).optional(),
      VolumeSizeInGB: z.number().int().min(1).optional(),
    },
    { error: 'ResourceConfig is required' },
  ),
  StoppingCondition: z.looseObject(
    {
      MaxRuntimeInSeconds: z
        .number()
        .int()
        .min(1)
        .max(28 * 24 * 3600)
        .optional(),
      MaxWaitTimeInSeconds: z.number().int().min(1).optional(),
    },
    { error: 'StoppingCondition is required' },
  ),
  Environment: stringMap('Environment', 'they become environment variables')
    .refine((e) => Object.keys(e).length <= 100, 'Environment may hold at most 100 entries')
    .optional(),
  EnableNetworkIsolation: z.boolean({ error: 'EnableNetworkIsolation must be a boolean' }).optional(),
  // Validated as SageMaker does, then ignored: a local job runs on this machine, in no VPC.
  VpcConfig: z
    .looseObject(
      {
        SecurityGroupIds: z.array(z.string().min(1), { error: 'VpcConfig.SecurityGroupIds must be a list of security group ids' }).min(1, 'VpcConfig.SecurityGroupIds must hold 1 to 5 ids').max(5, 'VpcConfig.SecurityGroupIds must hold 1 to 5 ids'),
        Subnets: z.array(z.string().min(1), { error: 'VpcConfig.Subnets must be a list of subnet ids' }).min(1, 'VpcConfig.Subnets must hold 1 to 16 ids').max(16, 'VpcConfig.Subnets must hold 1 to 16 ids'),
      },
      { error: 'VpcConfig must be an object with SecurityGroupIds and Subnets' },
    )
    .optional(),
});

export type CreateTrainingJobRequest = z.infer<typeof createTrainingJobSchema>;
export type ChannelSpec = z.infer<typeof channel>;

/** SageMaker's default when StoppingCondition omits MaxRuntimeInSeconds: one day. */
export const DEFAULT_MAX_RUNTIME_SECONDS = 24 * 3600;

/**
 * Validates a CreateTrainingJob request; throws {@link SageMakerApiError} `ValidationException`
 * naming every problem found.
 *
 * @example
 * const job = parseCreateTrainingJob(parameters);
 * job.TrainingJobName; // 'wine-2024-06-01'
 */
export function parseCreateTrainingJob(
  request: unknown,
  options: { readonly requiredChannels?: readonly string[] } = {},
): CreateTrainingJobRequest {
  const parsed = createTrainingJobSchema.safeParse(request);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      const where = path.replace(/^\./, '');
      return where && !i.message.startsWith(where) ? `${where}: ${i.message}` : i.message;
    });
    throw invalid(
      `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ${problems.join('; ')}`,
    );
  }
  const job = parsed.data;
  const channels = job.InputDataConfig ?? [];
  const names = channels.map((c) => c.ChannelName);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) {
    throw invalid(
      `Channel names must be unique, but "${duplicate}" appears more than once in InputDataConfig`,
    );
  }
  for (const required of options.requiredChannels ?? []) {
    if (!names.includes(required)) {
      throw invalid(
        `InputDataConfig must include a "${required}" channel (the trainer reads it), but ` +
          (names.length
            ? `only ${names.map((n) => `"${n}"`).join(', ')} ${names.length > 1 ? 'were' : 'was'} provided`
            : 'none was provided'),
      );
    }
  }
  // What SageMaker runs but this runner cannot: refuse now rather than fail differently later.
  const mode = job.AlgorithmSpecification.TrainingInputMode;
  for (const c of channels) {
    const channelMode = c.InputMode ?? mode;
    if (channelMode === 'Pipe') {
      throw invalid(
        `channel "${c.ChannelName}" uses Pipe input mode; the local runner supports File and FastFile`,
      );
    }
    if (c.CompressionType === 'Gzip') {
      // SageMaker's own rule: compressed channels are for Pipe mode only.
      throw invalid(`channel "${c.ChannelName}": CompressionType Gzip is supported only in Pipe input mode`);
    }
    if (c.DataSource.S3DataSource.S3DataType !== 'S3Prefix') {
      throw invalid(
        `channel "${c.ChannelName}" has S3DataType ${c.DataSource.S3DataSource.S3DataType}; the local runner supports S3Prefix`,
      );
    }
  }
  const count = job.ResourceConfig.InstanceCount ?? 1;
  if (count !== 1) {
    throw invalid(
      `ResourceConfig.InstanceCount must be 1 locally (one process is one host), but ${count} was provided`,
    );
  }
  if (job.OutputDataConfig.CompressionType === 'NONE') {
    throw invalid(
      'OutputDataConfig.CompressionType NONE is not supported locally; the model is packed as model.tar.gz',
    );
  }
  return job;
}

function invalid(detail: string): SageMakerApiError {
  return new SageMakerApiError('ValidationException', detail);
}
