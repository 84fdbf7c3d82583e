import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError, defaultNegativeFindings, loadDataset } from '../../src/training/datasets.js';
import type { Sample } from '../../src/training/datasets.js';
import { splitCounts } from '../../src/training/split.js';
import { makeTempDir, removeDir, writeImage, writeText } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED_DATA = path.resolve(here, '../../../shared/data');

let tmp: string;
beforeAll(async () => {
  tmp = await makeTempDir('datasets-test');
});
afterAll(async () => {
  await removeDir(tmp);
});

function byName(samples: Sample[]): Record<string, Sample> {
  return Object.fromEntries(samples.map((s) => [path.basename(s.file), s]));
}

describe('folders layout', () => {
  it('reads class folders, maps pneumonia to pneumonia_other and skips non-images', async () => {
    const dir = path.join(tmp, 'flat');
    await writeImage(path.join(dir, 'covid', 'a.png'), 1);
    await writeImage(path.join(dir, 'covid', 'sub', 'b.jpg'), 2);
    await writeImage(path.join(dir, 'NORMAL', 'a.png'), 3);
    await writeImage(path.join(dir, 'pneumonia', 'c.webp'), 4);
    await writeImage(path.join(dir, 'pneumonia', 'd.bmp'), 5);
    await writeText(path.join(dir, 'covid', 'README.txt'), 'notes');
    await writeText(path.join(dir, 'LICENSE'), 'cc-by');

    const dataset = await loadDataset(dir);

    expect(dataset.layout).toBe('folders');
    expect(dataset.root).toBe(dir);
    expect(dataset.samples).toHaveLength(4);
    const samples = byName(dataset.samples);
    expect(samples['b.jpg']).toMatchObject({ label: 'covid', covid: 1, source: 'flat' });
    expect(samples['c.webp']).toMatchObject({ label: 'pneumonia_other', covid: 0 });
    expect(dataset.samples.every((s) => path.isAbsolute(s.file) && s.split === undefined)).toBe(true);
    // covid/a.png and NORMAL/a.png share a stem but are different "patients".
    expect(new Set(dataset.samples.map((s) => s.patientId)).size).toBe(4);
    expect(dataset.warnings?.some((w) => w.includes('d.bmp'))).toBe(true);
  });

  it('takes the split from train/val/test folders', async () => {
    const dir = path.join(tmp, 'splits');
    await writeImage(path.join(dir, 'train', 'covid', 'a.png'), 1);
    await writeImage(path.join(dir, 'train', 'normal', 'b.png'), 2);
    await writeImage(path.join(dir, 'validation', 'covid', 'c.png'), 3);
    await writeImage(path.join(dir, 'test', 'pneumonia_other', 'd.png'), 4);

    const samples = byName((await loadDataset(dir)).samples);

    expect(samples['a.png']).toMatchObject({ split: 'train', label: 'covid' });
    expect(samples['b.png']).toMatchObject({ split: 'train', label: 'normal' });
    expect(samples['c.png']).toMatchObject({ split: 'val', label: 'covid' });
    expect(samples['d.png']).toMatchObject({ split: 'test', label: 'pneumonia_other' });
  });

  it('rejects unknown class folders by name', async () => {
    const dir = path.join(tmp, 'unknown-class');
    await writeImage(path.join(dir, 'covid', 'a.png'), 1);
    await writeImage(path.join(dir, 'lung_opacity', 'b.png'), 2);
    await expect(loadDataset(dir)).rejects.toThrow(/Unknown class folder.*lung_opacity/);
  });

  it('rejects a folder without any dataset and an empty dataset', async () => {
    const none = path.join(tmp, 'nothing');
    await writeText(path.join(none, 'notes.txt'), 'hello');
    await expect(loadDataset(none)).rejects.toThrow(DatasetError);
    await expect(loadDataset(none)).rejects.toThrow(/No dataset found/);

    const empty = path.join(tmp, 'empty');
    await writeText(path.join(empty, 'covid', 'README.md'), 'no images yet');
    await expect(loadDataset(empty)).rejects.toThrow(/contains no usable images/);
  });

  it('rejects a path that does not exist', async () => {
    await expect(loadDataset(path.join(tmp, 'missing'))).rejects.toThrow(/does not exist/);
  });
});

describe('metadata layout (ieee8023)', () => {
  const header = 'patientid,offset,sex,age,finding,RT_PCR_positive,view,modality,date,folder,filename\n';
  const rows = [
    '2,0,M,65,COVID-19,Y,PA,X-ray,2020,images,covid-pa.jpg',
    '2,3,M,65,COVID-19,Y,AP Supine,X-ray,2020,images,covid-supine.jpg',
    '3,0,F,50,Pneumonia/Viral/COVID-19,Y,L,X-ray,2020,images,covid-lateral.jpg',
    '4,0,F,40,COVID-19,Y,Axial,CT,2020,volumes,covid-ct.nii.gz',
    '5,0,M,30,No Finding,,AP,X-ray,2020,images,normal.png',
    '6,0,M,70,Pneumonia/Bacterial/Streptococcus,,PA,X-ray,2020,images,strep.jpg',
    '7,0,F,60,ARDS,,PA,X-ray,2020,images,ards.jpg',
    '8,0,F,66,"Pneumonia/Viral/COVID-19",Y,AP,X-ray,2020,images,covid-hierarchical.jpg',
  ];

  async function writeCollection(dir: string, lines: string[]): Promise<void> {
    await writeText(path.join(dir, 'metadata.csv'), header + lines.join('\n') + '\n');
    const files = [
      'covid-pa.jpg',
      'covid-supine.jpg',
      'normal.png',
      'strep.jpg',
      'ards.jpg',
      'covid-hierarchical.jpg',
    ];
    for (const [i, name] of files.entries()) await writeImage(path.join(dir, 'images', name), 10 + i);
  }

  it('keeps frontal X-rays: COVID-19 positives, "No Finding" and other pneumonia', async () => {
    const dir = path.join(tmp, 'ieee');
    await writeCollection(dir, rows);

    const dataset = await loadDataset(dir);

    expect(dataset.layout).toBe('metadata');
    const samples = byName(dataset.samples);
    expect(Object.keys(samples).sort()).toEqual([
      'covid-hierarchical.jpg',
      'covid-pa.jpg',
      'covid-supine.jpg',
      'normal.png',
      'strep.jpg',
    ]);
    expect(samples['covid-pa.jpg']).toMatchObject({
      label: 'covid',
      covid: 1,
      source: 'ieee8023',
      patientId: 'ieee8023_2',
      view: 'PA',
    });
    expect(samples['covid-supine.jpg']?.patientId).toBe('ieee8023_2');
    expect(samples['normal.png']?.label).toBe('normal');
    expect(samples['strep.jpg']?.label).toBe('pneumonia_other');
    expect(samples['covid-pa.jpg']?.file).toBe(path.join(dir, 'images', 'covid-pa.jpg'));
  });

  it('lets the caller choose the negatives', async () => {
    const dir = path.join(tmp, 'ieee-custom');
    await writeCollection(dir, rows);
    const dataset = await loadDataset(dir, {
      negativeFindings: (finding) => (finding === 'ARDS' ? 'pneumonia_other' : undefined),
    });
    const labels = Object.fromEntries(dataset.samples.map((s) => [path.basename(s.file), s.label]));
    expect(labels).toEqual({
      'covid-pa.jpg': 'covid',
      'covid-supine.jpg': 'covid',
      'covid-hierarchical.jpg': 'covid',
      'ards.jpg': 'pneumonia_other',
    });
  });

  it('default negatives: "No Finding" -> normal, pneumonia -> pneumonia_other, else skipped', () => {
    expect(defaultNegativeFindings('No Finding')).toBe('normal');
    expect(defaultNegativeFindings('Pneumonia/Fungal/Pneumocystis')).toBe('pneumonia_other');
    expect(defaultNegativeFindings('Pneumonia')).toBe('pneumonia_other');
    expect(defaultNegativeFindings('todo')).toBeUndefined();
    expect(defaultNegativeFindings('SARS')).toBeUndefined();
  });

  it('reports missing image files, or skips them on request', async () => {
    const dir = path.join(tmp, 'ieee-missing');
    await writeCollection(dir, [...rows, '9,0,M,50,COVID-19,Y,PA,X-ray,2020,images,gone.jpg']);
    await expect(loadDataset(dir)).rejects.toThrow(/1 of 6 image file\(s\).*do not exist.*gone\.jpg/);
    const dataset = await loadDataset(dir, { missingFiles: 'skip' });
    expect(dataset.samples).toHaveLength(5);
    expect(dataset.warnings?.some((w) => w.includes('gone.jpg'))).toBe(true);
  });

  it('names missing required columns', async () => {
    const dir = path.join(tmp, 'ieee-bad');
    await writeText(path.join(dir, 'metadata.csv'), 'patientid,finding,filename\n1,COVID-19,a.jpg\n');
    await expect(loadDataset(dir)).rejects.toThrow(/lacks required column\(s\) view/);
  });
});

describe('manifest layout', () => {
  const header = 'file,label,source,patient_id,view,age_group,split,orig_sha256\n';

  async function writeManifest(dir: string, lines: string[]): Promise<string> {
    for (let i = 0; i < 4; i++) await writeImage(path.join(dir, 'images', 'src', `${i}.jpg`), 20 + i);
    return writeText(path.join(dir, 'manifest.csv'), header + lines.join('\n') + '\n');
  }

  const good = [
    'images/src/0.jpg,covid,src,src_p0,PA,adult,train,aa',
    'images/src/1.jpg,normal,src,src_p1,unknown,pediatric,val,bb',
    'images/src/2.jpg,pneumonia_other,src,src_p1,AP,unknown,val,cc',
    'images/src/3.jpg,covid,src,src_p3,AP Supine,adult,,dd',
  ];

  it('reads rows relative to the manifest folder, from the folder or the .csv itself', async () => {
    const dir = path.join(tmp, 'manifest');
    const csv = await writeManifest(dir, good);

    for (const target of [dir, csv]) {
      const dataset = await loadDataset(target);
      expect(dataset.layout).toBe('manifest');
      expect(dataset.root).toBe(dir);
      expect(dataset.samples[0]).toEqual({
        file: path.join(dir, 'images', 'src', '0.jpg'),
        label: 'covid',
        covid: 1,
        source: 'src',
        patientId: 'src_p0',
        split: 'train',
        view: 'PA',
        ageGroup: 'adult',
      });
      expect(dataset.samples[1]).toMatchObject({
        label: 'normal',
        covid: 0,
        split: 'val',
        ageGroup: 'pediatric',
      });
      // An empty split cell means "not assigned yet".
      expect(dataset.samples[3]?.split).toBeUndefined();
    }
  });

  it('rejects unknown labels and splits with the line number', async () => {
    const dir = path.join(tmp, 'manifest-bad-label');
    await writeManifest(dir, [
      ...good.slice(0, 2),
      'images/src/2.jpg,lung_opacity,src,src_p2,AP,adult,train,cc',
    ]);
    await expect(loadDataset(dir)).rejects.toThrow(/line 4: unknown label "lung_opacity"/);

    const dir2 = path.join(tmp, 'manifest-bad-split');
    await writeManifest(dir2, ['images/src/0.jpg,covid,src,src_p0,PA,adult,holdout,aa']);
    await expect(loadDataset(dir2)).rejects.toThrow(/line 2: unknown split "holdout"/);
  });

  it('rejects missing files, missing columns and an empty manifest', async () => {
    const dir = path.join(tmp, 'manifest-missing');
    await writeManifest(dir, [...good, 'images/src/404.jpg,covid,src,src_p9,PA,adult,test,ee']);
    await expect(loadDataset(dir)).rejects.toThrow(/do not exist.*404\.jpg/);

    const noLabel = await writeText(path.join(tmp, 'nolabel.csv'), 'file,source\na.jpg,x\n');
    await expect(loadDataset(noLabel)).rejects.toThrow(/lacks required column\(s\) label/);

    const empty = await writeText(path.join(tmp, 'manifest-empty', 'manifest.csv'), header);
    await expect(loadDataset(path.dirname(empty))).rejects.toThrow(/contains no usable images/);
  });
});

describe.skipIf(!existsSync(path.join(SHARED_DATA, 'manifest.csv')))(
  'real manifest (needs ../shared/data; skipped when absent)',
  () => {
    it('loads all 3,853 images with the documented split counts and no patient in two splits', async () => {
      const dataset = await loadDataset(SHARED_DATA);
      expect(dataset.layout).toBe('manifest');
      expect(dataset.samples).toHaveLength(3853);
      const counts = splitCounts(dataset.samples);
      expect(counts.patients).toBe(3265);
      expect(counts.bySplit.train.total).toBe(2680);
      expect(counts.bySplit.val.total).toBe(594);
      expect(counts.bySplit.test.total).toBe(579);
      expect(counts.bySplit.unassigned.total).toBe(0);
      expect(counts.bySplit.test.covid).toBe(281);

      const splitOfPatient = new Map<string, string>();
      for (const sample of dataset.samples) {
        const seen = splitOfPatient.get(sample.patientId);
        expect(seen === undefined || seen === sample.split).toBe(true);
        splitOfPatient.set(sample.patientId, sample.split ?? '');
      }
    });
  },
);
