#!/usr/bin/env node
// Entry point: loads the TypeScript sources through tsx, then runs the CLI.
// Blocking kernel calls (mount, cgroup mkdir and rmdir, posix_spawn) run on libuv's
// thread pool, set before anything starts it: room for every slot and the file system.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
