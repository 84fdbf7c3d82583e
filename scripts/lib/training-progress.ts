/**
 * Progress display shared by `npm run train` and `npm run train:lungs`: bars for preprocessing
 * and each epoch (cli-progress) on a terminal, plain log lines with --quiet or in logs.
 */
import cliProgress from 'cli-progress';

export interface TrainingProgress {
  log: (line: string) => void;
  onPrepare: (done: number, total: number) => void;
  onBatch: (info: { epoch: number; batch: number; batches: number; loss: number }) => void;
  /** Ends the epoch's bar and logs its summary line. */
  endEpoch: (line: string) => void;
  stop: () => void;
}

export function trainingProgress(quiet: boolean): TrainingProgress {
  const bars =
    quiet || !process.stderr.isTTY
      ? undefined
      : new cliProgress.MultiBar(
          {
            format: '{task} |{bar}| {value}/{total} {info} ETA {eta_formatted}',
            clearOnComplete: false,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
  const log = (line: string) => (bars === undefined ? console.log(line) : bars.log(`${line}\n`));
  let prepareBar: cliProgress.SingleBar | undefined;
  let epochBar: cliProgress.SingleBar | undefined;
  return {
    log,
    onPrepare: (done, total) => {
      if (bars === undefined) return;
      prepareBar ??= bars.create(total, 0, { task: 'preprocess', info: '' });
      prepareBar.setTotal(total);
      prepareBar.update(done);
      // A new phase (validation images, photo views) gets a bar of its own.
      if (done === total) prepareBar = undefined;
    },
    onBatch: ({ epoch, batch, batches, loss }) => {
      if (bars === undefined) return;
      epochBar ??= bars.create(batches, 0, { task: `epoch ${epoch}`, info: '' });
      epochBar.update(batch, { task: `epoch ${epoch}`, info: `loss ${loss.toFixed(4)}` });
    },
    endEpoch: (line) => {
      epochBar?.stop();
      epochBar = undefined;
      log(line);
    },
    stop: () => bars?.stop(),
  };
}
