#!/usr/bin/env node
// The `mvsr` command: parses flags and calls the library. Errors print one line and exit 1.
import { commands } from './commands.js';

const USAGE = `usage: mvsr <command> [options]

commands:
${Object.entries(commands).map(([n, c]) => `  ${n.padEnd(16)} ${c.summary}`).join('\n')}

Run "mvsr <command> --help" for the options of a command.`;

// `mvsr ... | head` closes our stdout early: that is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

// run by `mvsr worker` over an IPC channel: the channel must not keep us alive, and when the
// worker dies (the channel closes) the job stops too, to be run again by another worker
if (process.channel) {
  process.channel.unref();
  process.once('disconnect', () => process.exit(1));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`mvsr: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help + '\n');
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write((msg.startsWith('mvsr') ? msg : `mvsr: ${msg}`).split('\n')[0] + '\n');
    if (process.env.MVSR_DEBUG && e instanceof Error) process.stderr.write((e.stack ?? '') + '\n');
    process.exitCode = 1;
  },
);
