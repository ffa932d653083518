// Output folders: created with an error that names the folder and the real reason (a recursive
// mkdir reports ENOENT where a read-only or full filesystem stops it).
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** mkdir -p `dir`, or one line: `mvsr: <dir>: cannot create the folder (<code>)`. */
export function makeDirs(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    let code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    let p = resolve(dir);
    while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
    if (!statSync(p).isDirectory()) code = `ENOTDIR: ${p} is a file`;
    else {
      try {
        accessSync(p, constants.W_OK);
      } catch (a) {
        code = (a as NodeJS.ErrnoException).code ?? code;
      }
    }
    throw new Error(`mvsr: ${dir}: cannot create the folder (${code})`);
  }
}
