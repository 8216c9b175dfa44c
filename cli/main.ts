/**
 * The runcell command line: run, doctor, rootfs build.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { LANGUAGES } from '../rootfs/languages.js';
import type { RunResult } from '../contract/run-result.js';
import type { TestResult } from '../contract/judged-result.js';
import { INTERACTOR_PROTOCOLS, type InteractorProtocol } from '../contract/job-request.js';
import type { LimitTable } from '../sandbox/limits.js';
import type { JobRequest, JobResult } from '../worker/job.js';
import type { JobContext } from '../worker/plan.js';
import { jobRequestProblem } from '../worker/request.js';
import { loadConfig } from './config.js';
import { runUntilSignal, startService } from './service.js';

/** Exit codes: 0 the run happened (whatever the program did); these when runcell itself failed. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

class UsageError extends Error {}

/** A limit's own minimum (1 ms of CPU, 0 bytes of output...) is checked against LIMIT_TABLE afterwards. */
function nonNegativeInteger(value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(number) || number < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return number;
}

/** 0 asks for any free port. */
function positiveInteger(value: string): number {
  const number = nonNegativeInteger(value);
  if (number < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return number;
}

function portNumber(value: string): number {
  const number = nonNegativeInteger(value);
  if (number > 65535) throw new InvalidArgumentError('expected a TCP port, 0 to 65535');
  return number;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

interface RunOptions {
  lang?: string;
  file?: string[];
  stdin?: string;
  cpuMs?: number;
  wallMs?: number;
  memoryMb?: number;
  pids?: number;
  outputKb?: number;
  fileSizeMb?: number;
  workspaceMb?: number;
  env?: string[];
  json?: boolean;
  interactor?: string[];
  interactorLang?: string;
  protocol?: string;
  test?: string[];
  answer?: string[];
  transcriptBytes?: number;
  checker?: string[];
  checkerLang?: string;
}

const MiB = 1024 * 1024;

function requestFrom(options: RunOptions, rest: string[], table: LimitTable): JobRequest {
  const limits = {
    cpu_ms: options.cpuMs,
    wall_ms: options.wallMs,
    memory_bytes: options.memoryMb === undefined ? undefined : options.memoryMb * MiB,
    pids: options.pids,
    output_bytes: options.outputKb === undefined ? undefined : options.outputKb * 1024,
    file_size_bytes: options.fileSizeMb === undefined ? undefined : options.fileSizeMb * MiB,
    workspace_bytes: options.workspaceMb === undefined ? undefined : options.workspaceMb * MiB,
  };
  const env: Record<string, string> = {};
  for (const pair of options.env ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--env expects NAME=VALUE, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const files = (options.file ?? []).map((path) => ({ path: basename(path), content: readInput('--file', path) }));
  const stdin = options.stdin === undefined ? undefined : readInput('--stdin', options.stdin);
  const request: JobRequest = options.lang
    ? { language: options.lang, files, stdin, args: rest, env, limits: stripUndefined(limits) }
    : { command: rest, files, stdin, env, limits: stripUndefined(limits) };
  if (options.interactor) Object.assign(request, interactiveParts(options, stdin));
  else if (options.test || options.answer || options.protocol || options.interactorLang || options.transcriptBytes !== undefined || options.checker || options.checkerLang) {
    throw new UsageError('--test, --answer, --protocol, --interactor-lang, --transcript-bytes and --checker go with --interactor');
  }
  if (!options.lang && rest.length === 0) throw new UsageError('give --lang with --file, or a command after --');
  // The API's rules (the contract's schema), limits included.
  const problem = jobRequestProblem(request, { limits: table, languages: LANGUAGES.map((l) => l.id) });
  if (problem) throw new UsageError(problem);
  return request;
}

function readInput(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/**
 * --interactor: the job's tests (each --test file is the interactor's input, the --answer at the same
 * position its answer; without --test one test whose input is --stdin) and its interactor.
 */
function interactiveParts(options: RunOptions, stdin: Buffer | undefined): Pick<JobRequest, 'tests' | 'interactor' | 'stdin' | 'checker'> {
  if (!options.lang) throw new UsageError('--interactor needs --lang and --file for the solution');
  const protocol = options.protocol ?? 'testlib';
  if (!(INTERACTOR_PROTOCOLS as readonly string[]).includes(protocol)) throw new UsageError(`--protocol must be one of ${INTERACTOR_PROTOCOLS.join(', ')}`);
  const inputs = options.test ?? [];
  const answers = options.answer ?? [];
  if (answers.length > Math.max(inputs.length, 1)) throw new UsageError('more --answer than --test files');
  if (inputs.length > 0 && stdin) throw new UsageError('give the interactor its input with --test, or one with --stdin, not both');
  const tests = (inputs.length > 0 ? inputs.map((path) => readInput('--test', path)) : [stdin ?? Buffer.alloc(0)]).map((input, i) => ({
    id: inputs[i] ? basename(inputs[i]) : undefined,
    stdin: input,
    expected_stdout: answers[i] ? readInput('--answer', answers[i]).toString('utf8') : '',
  }));
  const files = options.interactor!.map((path) => ({ path: basename(path), content: readInput('--interactor', path) }));
  const interactor = { language: options.interactorLang ?? options.lang, protocol: protocol as InteractorProtocol, files, ...(options.transcriptBytes ? { transcript_bytes: options.transcriptBytes } : {}) };
  // A testlib checker of the interactor's output file (Codeforces' convention); the schema refuses it beside kattis.
  const checker = options.checker && { language: options.checkerLang ?? options.lang, files: options.checker.map((path) => ({ path: basename(path), content: readInput('--checker', path) })) };
  if (!checker && options.checkerLang) throw new UsageError('--checker-lang goes with --checker');
  return { tests: tests.map((test) => stripUndefined(test) as (typeof tests)[number]), interactor, stdin: undefined, ...(checker ? { checker } : {}) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function formatBytes(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** `streamed`: the run's stdout and stderr were printed as they came; only a cut is said again. */
function summarize(step: string, result: RunResult, streamed = false): string {
  const how =
    result.status === 'nonzero_exit' ? `exit code ${result.exit_code}` : result.status === 'signalled' ? `${result.signal}` : '';
  const lines = [
    `${step}: ${result.status}${how ? ` (${how})` : ''}  cpu ${result.cpu_ms} ms, wall ${result.wall_ms} ms, memory ${formatBytes(result.memory_peak_bytes)}${result.oom_killed ? ', OOM-killed' : ''}`,
  ];
  if (result.message) lines.push(`  ${result.message}`);
  for (const stream of ['stdout', 'stderr'] as const) {
    if (streamed && result[`${stream}_truncated`]) lines.push(`  ${stream} was cut at the output limit`);
    if (streamed || result[stream].length === 0) continue;
    const cut = result[`${stream}_truncated`] ? ' (truncated)' : '';
    lines.push(`--- ${stream}${cut} ---`, result[stream].replace(/\n$/, ''));
  }
  return lines.join('\n');
}

/** A test of an interactive run: its verdict and message, the solution's run, the interactor's, the checker's, the transcript. */
function summarizeInteractiveTest(test: TestResult): string {
  const lines = [`test ${test.id}: ${test.verdict}${test.points !== undefined ? ` (${test.points} points)` : ''}${test.verdict_message ? ` - ${test.verdict_message}` : ''}`];
  lines.push(summarize('  solution', test).replace(/\n/g, '\n  '));
  if (test.interactor) lines.push(summarize('  interactor', test.interactor).replace(/\n/g, '\n  '));
  if (test.checker) lines.push(summarize('  checker', test.checker).replace(/\n/g, '\n  '));
  if (test.transcript) {
    lines.push(`  --- transcript${test.transcript_truncated ? ' (truncated)' : ''} ---`);
    for (const entry of test.transcript) lines.push(`  [${(entry.at_ms / 1000).toFixed(3)}s] ${entry.from === 'solution' ? '>' : '<'} ${entry.data.replace(/\n$/, '').replace(/\n/g, '\n      ')}`);
  }
  return lines.join('\n');
}

/**
 * The sandbox's modules (koffi, libseccomp, the rootfs) for the commands that run one: loaded on use, so that
 * `runcell api` (and --help) never load them.
 */
async function loadSandbox() {
  const [build, deployment, sandbox, slots, job] = await Promise.all([
    import('../rootfs/build.js'),
    import('../sandbox/deployment.js'),
    import('../sandbox/sandbox.js'),
    import('../sandbox/slots.js'),
    import('../worker/job.js'),
  ]);
  return { ...build, ...deployment, ...sandbox, ...slots, ...job };
}

async function runCommand(rest: string[], options: RunOptions): Promise<number> {
  const config = loadConfig();
  const request = requestFrom(options, rest, config.limits);
  // Without --json the run's output is printed as it comes, each stream to its own.
  const onOutput = options.json ? undefined : (stream: 'stdout' | 'stderr', chunk: Buffer) => void process[stream].write(chunk);
  const result = await inSandbox(config, request, onOutput);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    if (result.compile) process.stdout.write(`${summarize('compile', result.compile)}\n`);
    if (result.interactor_compile) process.stdout.write(`${summarize('interactor compile', result.interactor_compile)}\n`);
    if (result.checker_compile) process.stdout.write(`${summarize('checker compile', result.checker_compile)}\n`);
    if (result.run) process.stdout.write(`${summarize('run', result.run, true)}\n`);
    for (const test of result.tests ?? []) process.stdout.write(`${summarizeInteractiveTest(test)}\n`);
    if (result.verdict) process.stdout.write(`verdict: ${result.verdict}\n`);
  }
  const { brokenRun } = await import('../worker/judge.js');
  return brokenRun(result) ? EXIT_FAILURE : 0;
}

export function buildProgram(): Command {
  const program = new Command('runcell')
    .description('Run untrusted programs in a sandbox: fresh namespaces, cgroup limits, seccomp, read-only rootfs.')
    .showHelpAfterError()
    // Parse errors become exceptions, so that main() gives them the usage exit code.
    .exitOverride();
  addRunCommand(program);
  addJudgeCommand(program);
  program
    .command('doctor')
    .description('check that this host can run sandboxes, and say what to fix')
    .action(async () => {
      const { doctor } = await import('./doctor.js');
      process.exitCode = (await doctor(loadConfig())) ? 0 : EXIT_FAILURE;
    });
  addServiceCommands(program);
  addRootfsCommands(program);
  addImageCommands(program);
  return program;
}

interface JudgeOptions {
  problem: string;
  file?: string[];
  lang?: string;
  json?: boolean;
}

/** `runcell judge --problem DIR --file F`: a program judged against a problem package in a directory, no server. */
async function judgeCommand(options: JudgeOptions): Promise<number> {
  const config = loadConfig();
  const { readProblemDir, localSubmission, ProblemDirError } = await import('./judge-problem.js');
  let local: Awaited<ReturnType<typeof readProblemDir>>;
  let submission: ReturnType<typeof localSubmission>;
  try {
    local = await readProblemDir(options.problem, config.limits);
    submission = localSubmission(options.file ?? [], options.lang);
  } catch (error) {
    throw error instanceof ProblemDirError ? new UsageError(error.message) : error;
  }
  const [{ problemRequest, validateInputs }, { toJobRequest }, { runJob }, { brokenRun }] = await Promise.all([import('../worker/problem-jobs.js'), import('../worker/request.js'), loadSandbox(), import('../worker/judge.js')]);
  const held = { path: local.pathOf, release() {} };
  const request = problemRequest(submission, toJobRequest(submission), local.manifest, held);
  // The package's input validators first, as an upload runs them: a package they refuse is not judged.
  const judged = await inSlot(config, async (context) => {
    const validation = local.manifest.input_validators.length > 0 ? await validateInputs(context, local.manifest, held) : undefined;
    const broken = validation && brokenRun(validation.result);
    if (validation?.rejection || broken) return { refused: validation?.rejection ?? `the input validators could not be run: ${broken?.message}` };
    return { result: await runJob(context, request) };
  });
  if ('refused' in judged) {
    process.stderr.write(`the package is refused: ${judged.refused}\n`);
    return EXIT_USAGE;
  }
  const { result } = judged;
  if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    if (result.compile) process.stdout.write(`${summarize('compile', result.compile)}\n`);
    for (const test of result.tests ?? []) process.stdout.write(`test ${test.id}: ${test.verdict}  cpu ${test.cpu_ms} ms, wall ${test.wall_ms} ms${test.verdict_message ? `  ${test.verdict_message.split('\n')[0]}` : ''}\n`);
    process.stdout.write(`verdict: ${result.verdict}\n`);
  }
  return brokenRun(result) || result.verdict !== 'accepted' ? EXIT_FAILURE : 0;
}

/**
 * One job in a slot of this host's deployment (and the slot's companion, for an interactor), as `runcell run`
 * and `runcell judge` do: like a worker, never on a cgroup parent, uids or data dir another live deployment owns.
 */
async function inSandbox(config: ReturnType<typeof loadConfig>, request: JobRequest, onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): Promise<JobResult> {
  const { runJob } = await loadSandbox();
  return inSlot(config, (context) => runJob(context, request), onOutput);
}

/** `work` in a slot of this host's deployment (see inSandbox), given the job context a worker would give. */
async function inSlot<T>(config: ReturnType<typeof loadConfig>, work: (context: JobContext) => Promise<T>, onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): Promise<T> {
  const { verifiedRootfs, readMarker, rootfsLocation, claimDeployment, Sandbox, SlotPool } = await loadSandbox();
  const rootfs = verifiedRootfs(config.dataDir, config.languages);
  // The job's image is in use while it runs: `runcell image prune` leaves it alone.
  const { recordInUse, releaseInUse } = await import('../rootfs/store.js');
  const { image } = rootfsLocation(config.dataDir, config.languages);
  if (image) recordInUse(config.dataDir, [image]);
  const claimed = claimDeployment({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, uidBase: config.uidBase, slots: config.slots });
  if (!claimed.ok) throw new Error(claimed.message);
  const sandbox = Sandbox.create({ dataDir: config.dataDir, cgroupParent: config.cgroupParent, rootfs, cpuQuota: config.cpuQuota });
  const pool = new SlotPool({ dataDir: config.dataDir, count: config.slots, uidBase: config.uidBase });
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const installed = readMarker(rootfs).languages;
    return await pool.withSlot((slot) => work({ sandbox, slot, companion: pool.companion(slot), table: config.limits, signal: controller.signal, installed, onOutput }));
  } finally {
    sandbox.close();
    claimed.claim.release();
    releaseInUse(config.dataDir);
  }
}

function addJudgeCommand(program: Command): void {
  program
    .command('judge')
    .description('judge a program against an ICPC/Kattis problem package in a directory (problem.yaml, data/, output_validators/)')
    .requiredOption('--problem <dir>', 'the unpacked problem package')
    .option('--file <path>', 'a source file; repeatable; the first is the entry point', collect)
    .option('--lang <id>', 'language (default: from the first file\'s extension)')
    .option('--json', 'print the judged result as one JSON object')
    .action(async (options: JudgeOptions) => {
      process.exitCode = await judgeCommand(options);
    });
}

/** `runcell run`: one job, no server. */
function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run a program (--lang with --file) or a command (after --) in the sandbox')
    .argument('[command...]', 'command and arguments (or program arguments with --lang)')
    .option('--lang <id>', `language: ${LANGUAGES.map((l) => l.id).join(', ')}`)
    .option('--file <path>', 'a source file; repeatable; the first is the entry point', collect)
    .option('--stdin <path>', 'file to feed to the program on stdin')
    .option('--cpu-ms <n>', 'CPU time limit (all processes)', nonNegativeInteger)
    .option('--wall-ms <n>', 'wall time limit', nonNegativeInteger)
    .option('--memory-mb <n>', 'memory limit in MiB', nonNegativeInteger)
    .option('--pids <n>', 'process/thread limit', nonNegativeInteger)
    .option('--output-kb <n>', 'stdout and stderr cap in KiB, each', nonNegativeInteger)
    .option('--file-size-mb <n>', 'largest file the program may write, in MiB', nonNegativeInteger)
    .option('--workspace-mb <n>', 'size of /box and of /tmp, in MiB', nonNegativeInteger)
    .option('--env <NAME=VALUE>', 'environment variable for the program; repeatable', collect)
    .option('--json', 'print exactly one JSON object: {"compile"?, "run"} (with --interactor, the judged result: tests, verdict...)')
    .option('--interactor <path>', 'an interactive problem\'s interactor source; repeatable, the first is the entry point; the solution and it talk through pipes', collect)
    .option('--interactor-lang <id>', 'the interactor\'s language (default: --lang)')
    .option('--protocol <name>', `the interactor's protocol: ${INTERACTOR_PROTOCOLS.join(' or ')} (default testlib)`)
    .option('--test <path>', 'with --interactor: a test\'s input file given to the interactor; repeatable (default: one test, --stdin)', collect)
    .option('--answer <path>', 'with --interactor: the answer file of the --test at the same position; repeatable', collect)
    .option('--transcript-bytes <n>', 'with --interactor: keep a transcript of both directions, up to n bytes per test', nonNegativeInteger)
    .option('--checker <path>', 'with a testlib --interactor: a checker source given the interactor\'s output file as the output, on each test the interactor accepted; repeatable, the first is the entry point', collect)
    .option('--checker-lang <id>', 'the checker\'s language (default: --lang)')
    .action(async (rest: string[], options: RunOptions) => {
      process.exitCode = await runCommand(rest, options);
    });
}

const SERVICE_COMMANDS = {
  serve: { roles: { api: true, worker: true, embeddedRedis: true }, description: 'the API and a worker in one process (starts its own Redis unless REDIS_URL is set)' },
  api: { roles: { api: true, worker: false, embeddedRedis: false }, description: 'the HTTP API only (needs REDIS_URL)' },
  worker: { roles: { api: false, worker: true, embeddedRedis: false }, description: 'a worker only (needs REDIS_URL)' },
} as const;

/** `runcell serve | api | worker`: the service, until SIGTERM or SIGINT. */
function addServiceCommands(program: Command): void {
  for (const [name, { roles, description }] of Object.entries(SERVICE_COMMANDS)) {
    const command = program.command(name).description(description);
    if (roles.api) command.option('--port <n>', 'port to listen on, 0 for any free one (else RUNCELL_PORT, else 8080)', portNumber);
    if (roles.worker) {
      command.option('--pool <name>', 'serve this worker pool of RUNCELL_POOLS; repeatable (default: every pool listed, or the one pool)', collect);
      command.option('--concurrency <n>', "jobs run at once in each pool served (else the pool's in RUNCELL_POOLS, else RUNCELL_CONCURRENCY)", positiveInteger);
    }
    command.action(async (options: { port?: number; pool?: string[]; concurrency?: number }) => {
      const config = loadConfig();
      if (options.port !== undefined) config.port = options.port;
      if (options.pool) config.servedPools = options.pool;
      if (options.concurrency !== undefined) config.servedConcurrency = options.concurrency;
      const service = await startService(config, roles);
      announce(name, service, config.apiKeys.length > 0);
      await runUntilSignal(service);
    });
  }
}

/** Says where a started service listens, with a request to try. */
function announce(name: string, service: { url?: string; redisUrl: string; metricsUrl?: string }, keyed: boolean): void {
  if (service.url) {
    process.stdout.write(`runcell ${name}: listening on ${service.url}\n`);
    process.stdout.write(
      `try: curl -s -X POST '${service.url}/v1/jobs?wait=10' -H 'Content-Type: application/json' ${keyed ? "-H 'Authorization: Bearer <key>' " : ''}-d '{"language":"python3","files":[{"path":"main.py","content":"print(6*7)"}]}'\n`,
    );
  } else {
    process.stdout.write(`runcell ${name}: taking jobs from ${service.redisUrl.startsWith('unix://') ? service.redisUrl : 'Redis'}\n`);
  }
  if (service.metricsUrl) process.stdout.write(`runcell ${name}: metrics at ${service.metricsUrl}\n`);
}

/** `runcell rootfs build | path`. */
function addRootfsCommands(program: Command): void {
  const rootfs = program.command('rootfs').description('the root filesystem of the sandboxes');
  rootfs
    .command('build')
    .description('build the image for rootfs/manifest.json and the languages of RUNCELL_LANGUAGES (default: all): a base layer, a layer per language, a merge layer; missing layers only (--monolithic: one mmdebstrap tree, as before)')
    .option('--force', 'with --monolithic: rebuild even when a complete image exists')
    .option('--monolithic', 'build one mmdebstrap tree under rootfs/ instead of layers')
    .action(async (options: { force?: boolean; monolithic?: boolean }) => {
      const config = loadConfig();
      if (options.monolithic) {
        const { buildRootfs } = await import('../rootfs/build.js');
        const result = await buildRootfs({ dataDir: config.dataDir, languages: config.languages, force: options.force });
        process.stdout.write(`${result.built ? 'built' : 'already built'}: ${result.path}\n`);
        return;
      }
      const { buildLayered } = await import('../rootfs/layered.js');
      const result = await buildLayered({ dataDir: config.dataDir, languages: config.languages });
      process.stdout.write(`${result.built.length > 0 ? `built ${result.built.length} layers` : 'already built'}: image ${result.image.name} at ${result.root}\n`);
    });
  rootfs
    .command('path')
    .description('print the path of the rootfs for the current manifest, and whether it is complete')
    .action(async () => {
      const config = loadConfig();
      const { rootfsLocation, rootfsProblem } = await import('../rootfs/build.js');
      const location = rootfsLocation(config.dataDir, config.languages);
      const problem = rootfsProblem(location);
      process.stdout.write(`${location.path}\n`);
      if (problem) {
        process.stderr.write(`${problem}\n`);
        process.exitCode = EXIT_FAILURE;
      }
    });
}

/** `runcell image ls | build | import | rm | prune`. */
function addImageCommands(program: Command): void {
  const image = program.command('image').description('the layered images of the data dir (layers shared on disk)');
  image
    .command('ls')
    .description('images, their layers and sizes (a layer shared by several images counted once), and which are in use')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      const { listStore, formatListing } = await import('./image.js');
      const listing = listStore(config.dataDir, config.languages);
      process.stdout.write(options.json ? `${JSON.stringify(listing, null, 2)}\n` : formatListing(listing));
    });
  image
    .command('build')
    .description('build (the missing layers of) the image for the languages given, or RUNCELL_LANGUAGES, or all')
    .option('--languages <ids>', 'comma-separated language ids')
    .action(async (options: { languages?: string }) => {
      const config = loadConfig();
      const languages = options.languages ? options.languages.split(',').map((id) => id.trim()).filter(Boolean).sort() : config.languages;
      const { buildLayered } = await import('../rootfs/layered.js');
      const result = await buildLayered({ dataDir: config.dataDir, languages });
      process.stdout.write(`image ${result.image.name}: ${result.image.layers.length} layers, ${result.built.length} built, mounted at ${result.root}\n`);
    });
  image
    .command('rm <name>')
    .description('unmount an image and forget it (its layers go at the next prune unless another image shares them); refused while a process uses it')
    .option('--force', 'remove the configured image too (never one in use)')
    .action(async (name: string, options: { force?: boolean }) => {
      const config = loadConfig();
      const { removeImage } = await import('./image.js');
      removeImage(config.dataDir, name, { languages: config.languages, force: options.force });
      process.stdout.write(`removed image ${name}\n`);
    });
  image
    .command('import <file>')
    .description("import a user's image: an OCI image layout archive or docker/podman save output (a tar); each layer is extracted as hostile input, layers already in the store are shared")
    .option('--name <name>', 'the image name (default: the archive\'s tag, e.g. alpine:3 -> alpine_3)')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { name?: string; json?: boolean }) => {
      const config = loadConfig();
      const { importImage } = await import('../rootfs/oci-import.js');
      const report = await importImage(config.dataDir, file, { name: options.name });
      const { image, extracted, shared, dropped } = report;
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(`image ${image.name} (${image.digest}): ${extracted.length} layers extracted, ${shared.length} shared; dropped ${dropped.devices} devices, ${dropped.fifos} FIFOs, ${dropped.setid} setuid/setgid bits\n`);
    });
  image
    .command('prune')
    .description('remove layers and mounts no image and no running worker or job uses')
    .action(async () => {
      const config = loadConfig();
      const { pruneStore } = await import('./image.js');
      const result = pruneStore(config.dataDir);
      process.stdout.write(`removed ${result.layers.length} layers (${(result.bytes / 1e6).toFixed(1)} MB) and ${result.mounts.length} mounts\n`);
    });
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message (or the help) already.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    process.stderr.write(`runcell: ${(error as Error).message}\n`);
    process.exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}
