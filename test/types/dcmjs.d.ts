// dcmjs ships no type declarations; this covers only what the test helpers use to WRITE files.
declare module 'dcmjs' {
  /** A denaturalized data set: tag hex ('00280010') → { vr, Value }. */
  type DenaturalizedDataset = Record<string, unknown>;

  interface DicomDict {
    meta: DenaturalizedDataset;
    dict: DenaturalizedDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }

  interface DcmjsData {
    DicomDict: new (meta: DenaturalizedDataset) => DicomDict;
    DicomMetaDictionary: {
      /** Keyword-named data set (e.g. `{ Rows: 16 }`, `_vrMap` for ambiguous VRs) → tag hex form. */
      denaturalizeDataset(dataset: Record<string, unknown>): DenaturalizedDataset;
    };
  }

  const dcmjs: { data: DcmjsData };
  export default dcmjs;
}
