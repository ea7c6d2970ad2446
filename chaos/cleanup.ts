/**
 * Everything a chaos run starts — child processes, temp directories, the private Postgres —
 * is registered here and removed in reverse order at the end, on Ctrl-C/SIGTERM, and on an
 * exception. Children run in process groups of their own, so a Ctrl-C reaches only the
 * orchestrator, which then stops them in order.
 *
 * A crash that skips all of that (SIGKILL, out of memory) is covered by the reaper: a detached
 * watchdog process that is told about every resource as it is created, and removes them all
 * when its IPC channel to the orchestrator closes without a "done".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/** How the reaper stops the private Postgres: `pg_ctl stop -m immediate`, as its owner. */
export interface PostgresHandle {
  readonly pgCtl: string;
  readonly dataDir: string;
  readonly uid?: number;
  readonly gid?: number;
}

type ReaperMessage =
  | { readonly type: 'pid'; readonly pid: number }
  | { readonly type: 'forget'; readonly pid: number }
  | { readonly type: 'dir'; readonly path: string }
  | { readonly type: 'postgres'; readonly handle: PostgresHandle }
  | { readonly type: 'done' };

/** Kills a process and its group (children are spawned detached, as group leaders). */
export function killTree(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGCONT');
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function stopPostgres(handle: PostgresHandle): void {
  spawnSync(handle.pgCtl, ['stop', '-m', 'immediate', '-w', '-t', '10', '-D', handle.dataDir], {
    stdio: 'ignore',
    uid: handle.uid,
    gid: handle.gid,
    timeout: 15_000,
  });
}

export class Resources {
  private readonly cleanups: { readonly label: string; readonly run: () => Promise<void> | void }[] = [];
  private reaper: ChildProcess | undefined;
  private released = false;

  /** Starts the watchdog; `entry` is this bundle, run with `--role reaper`. */
  startReaper(entry: string): void {
    const reaper = spawn(process.execPath, [entry, '--role', 'reaper'], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    reaper.unref();
    // The channel must not keep this process alive; it only has to exist while it lives.
    (reaper.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
    this.reaper = reaper;
  }

  private tell(message: ReaperMessage): void {
    if (this.reaper?.connected) this.reaper.send(message);
  }

  /** A child process: killed (with its group) at cleanup unless already gone. */
  trackProcess(child: ChildProcess, label: string): void {
    const pid = child.pid;
    if (pid === undefined) return;
    this.tell({ type: 'pid', pid });
    // A pid that exited may be reused by another process: the reaper must not kill that one.
    child.once('exit', () => this.forgetPid(pid));
    this.cleanups.push({
      label,
      run: () => {
        if (child.exitCode === null && child.signalCode === null) killTree(pid);
      },
    });
  }

  private forgetPid(pid: number): void {
    this.tell({ type: 'forget', pid });
  }

  trackDirectory(path: string): void {
    this.tell({ type: 'dir', path });
    this.cleanups.push({ label: `rm ${path}`, run: () => rmSync(path, { recursive: true, force: true }) });
  }

  trackPostgres(handle: PostgresHandle): void {
    this.tell({ type: 'postgres', handle });
    this.cleanups.push({ label: 'pg_ctl stop', run: () => stopPostgres(handle) });
  }

  /** Any other cleanup step (closing a connection, stopping a fleet), run in reverse order of registration. */
  onCleanup(label: string, run: () => Promise<void> | void): void {
    this.cleanups.push({ label, run });
  }

  /** Runs every cleanup step, last registered first; never throws. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const step of this.cleanups.reverse()) {
      try {
        await step.run();
      } catch (error) {
        console.error(`[chaos] cleanup "${step.label}" failed:`, error);
      }
    }
    this.tell({ type: 'done' });
    this.reaper?.disconnect();
  }
}

/** The reaper role: waits for its parent to go away, then removes what it was told about. */
export function runReaper(): void {
  const pids = new Set<number>();
  const dirs = new Set<string>();
  const postgres: PostgresHandle[] = [];
  let done = false;
  // The terminal's Ctrl-C does not reach a detached process, but be explicit: only the parent's fate matters.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('message', (message: ReaperMessage) => {
    switch (message.type) {
      case 'pid':
        pids.add(message.pid);
        break;
      case 'forget':
        pids.delete(message.pid);
        break;
      case 'dir':
        dirs.add(message.path);
        break;
      case 'postgres':
        postgres.push(message.handle);
        break;
      case 'done':
        done = true;
        break;
    }
  });
  process.on('disconnect', () => {
    if (!done) {
      for (const pid of pids) killTree(pid);
      for (const handle of postgres) stopPostgres(handle);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
    process.exit(0);
  });
}
