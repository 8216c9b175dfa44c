/**
 * Attacks that need more than one job, or the HTTP service, to play out.
 * The descriptors are data (id, line, what it does); the steps live in the
 * theme's test file, named by the same id.
 */
import type { ScenarioAttack } from '../attack.js';

const scenario = (id: string, line: number, does: string): ScenarioAttack => ({ id, line, does, scenario: id });

export const RESOURCE_SCENARIOS = {
  floodMemory: scenario('L08-worker-memory-after-floods', 8, "twenty 4 MiB output floods leave the worker's memory flat"),
};

export const SERVICE_SCENARIOS = {
  longArgv: scenario('L12-api-argv', 12, 'a command of 100,000 arguments, and one argument of 1 MB: 422 from the API'),
  longEnv: scenario('L12-api-env', 12, 'a thousand environment variables, and one of 1 MB: 422 from the API'),
  hugeStdin: scenario('L12-api-stdin', 12, 'stdin of 11 MB: 413 from the API, nothing queued'),
  manyFiles: scenario('L12-api-files', 12, 'a thousand files: 422 from the API'),
  boundedButLarge: scenario('L12-sandbox-largest-accepted', 12, 'argv and env each within bounds but too much together: 422; the largest accepted runs in the sandbox'),
  workerEnv: scenario('L14-worker-env', 14, "a job looks for the worker's REDIS_URL and secret in every environment it can read"),
};

export const JOB_SCENARIOS = {
  leftFiles: scenario('L26-left-files', 26, 'a job leaves files in /tmp, /box and /dev/shm; the next job looks for them'),
  leftIpc: scenario('L26-left-ipc', 26, 'a job leaves System V shared memory, a message queue and POSIX shared memory; the next job looks'),
  leftProcesses: scenario('L26-left-processes', 26, 'a job leaves a daemon and an abstract socket listener; the next job looks'),
  concurrentProcesses: scenario('L27-concurrent-processes', 27, 'a job looks for, and kills, the processes of a job running beside it'),
  concurrentFiles: scenario('L27-concurrent-files', 27, "a job looks for the files of a job running beside it, through the filesystem and /proc"),
};

export const ALL_SCENARIOS: ScenarioAttack[] = [RESOURCE_SCENARIOS, SERVICE_SCENARIOS, JOB_SCENARIOS].flatMap((group) => Object.values(group));
