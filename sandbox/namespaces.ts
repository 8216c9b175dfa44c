/**
 * Namespaces and identity: the bubblewrap arguments that give each run fresh
 * user, PID, mount, network (loopback only), IPC, UTS and cgroup namespaces,
 * a fixed uid/gid and hostname, and a clean environment.
 */

/** The uid and gid a job has inside its user namespace. */
export const JOB_UID = 1000;
export const JOB_GID = 1000;
export const JOB_HOSTNAME = 'runcell';

/** The only environment a job gets besides what it asked for; these win over the request. */
export const FIXED_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
};

/**
 * The namespaces of a run. With `sharedNet` (network egress) bubblewrap gets
 * no --unshare-net: the launcher has already joined the run's own network
 * namespace (sandbox/network.ts), which the job's user namespace has no
 * capability over.
 */
export function namespaceArgs(options: { sharedNet?: boolean } = {}): string[] {
  return [
    '--unshare-user', '--uid', String(JOB_UID), '--gid', String(JOB_GID),
    // No nested user namespaces: they would hand the job a fresh set of capabilities.
    '--disable-userns',
    '--unshare-pid',
    ...(options.sharedNet ? [] : ['--unshare-net']),
    '--unshare-ipc',
    '--unshare-uts', '--hostname', JOB_HOSTNAME,
    '--unshare-cgroup',
    // A new session: no controlling terminal to push keystrokes into (TIOCSTI).
    '--new-session',
    '--die-with-parent',
  ];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks a requested environment; returns a problem or undefined. */
export function environmentProblem(env: Record<string, string>): string | undefined {
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) return `environment variable name ${JSON.stringify(name)} is not a valid name`;
    if (value.includes('\0')) return `environment variable ${name} contains a NUL byte`;
  }
  return undefined;
}

/** --clearenv, then an image's Env, the request, the fixed variables (which win), then the sandbox's own `overrides` of them (a writable root's HOME, an image's PATH). */
export function environmentArgs(requested: Record<string, string> = {}, overrides: Record<string, string> = {}, image: Record<string, string> = {}): string[] {
  const problem = environmentProblem({ ...image, ...requested });
  if (problem) throw new Error(problem);
  const args = ['--clearenv'];
  for (const [name, value] of Object.entries({ ...image, ...requested, ...FIXED_ENV, ...overrides })) args.push('--setenv', name, value);
  return args;
}
