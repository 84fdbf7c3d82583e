/**
 * `npx tsx scripts/simulate-photo.ts <in> <out.jpg> [--seed n] [--variant film|monitor]`: writes a
 * simulated phone photo of an X-ray (film on a light box or a monitor), for looking at what
 * `evaluate --simulate-photo` scores.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { simulatePhotoDetailed, type PhotoVariant } from './lib/simulate-photo.js';

interface Options {
  seed: number;
  variant?: PhotoVariant;
  size: number;
  quiet: boolean;
}

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number >= 0: ${v}`);
  return n;
};

const program = new Command()
  .name('npx tsx scripts/simulate-photo.ts')
  .description('Simulate a phone photo of an X-ray film or screen (for measurement, not for training data).')
  .argument('<in>', 'X-ray image (JPEG, PNG, ...)')
  .argument('<out>', 'output JPEG')
  .option('--seed <n>', 'random seed', int, 1)
  .addOption(
    new Option('--variant <kind>', 'what is photographed (default: from the seed)').choices([
      'film',
      'monitor',
    ]),
  )
  .option('--size <px>', 'longest side of the photo', int, 1024)
  .option('--quiet', 'print nothing', false)
  .action(async (input: string, output: string, o: Options) => {
    const photo = await simulatePhotoDetailed(await readFile(input), o.seed, {
      size: o.size,
      ...(o.variant === undefined ? {} : { variant: o.variant }),
    });
    await writeFile(output, photo.jpeg);
    if (!o.quiet) {
      const corners = photo.xray.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`).join(' ');
      console.log(
        `${output}: ${photo.width}x${photo.height} ${photo.variant}, JPEG quality ${photo.quality}, X-ray corners ${corners}`,
      );
    }
  });

await program.parseAsync();
