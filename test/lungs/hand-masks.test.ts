import { describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readHandMaskIndex } from '../../src/lungs/data.js';
import { makeTempDir, removeDir } from '../training/fixtures.js';

describe('readHandMaskIndex', () => {
  it('maps classifier images to hand-drawn masks, skipping rows framed differently', async () => {
    const root = await makeTempDir('hand-masks');
    try {
      const masks = path.join(root, 'lungmasks');
      await mkdir(masks, { recursive: true });
      await writeFile(
        path.join(masks, 'manifest.csv'),
        'image,mask,source,patient_id,split\nimages/a.png,masks/a.png,v7covid,p1,test\nimages/b.png,masks/b.png,v7covid,p2,val\n',
      );
      await writeFile(
        path.join(masks, 'classifier_overlap.csv'),
        'image,classifier_file,classifier_split,match,same_aspect_ratio\n' +
          'images/a.png,images/ieee8023/a.jpg,test,same_file_name,yes\n' +
          'images/b.png,images/ieee8023/b.jpg,val,near_duplicate,no\n',
      );
      const index = await readHandMaskIndex(masks, path.join(root, 'data'));
      expect([...index]).toEqual([
        [path.join(root, 'data', 'images/ieee8023/a.jpg'), path.join(masks, 'masks/a.png')],
      ]);
    } finally {
      await removeDir(root);
    }
  });
});
