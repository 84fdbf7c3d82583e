import { en } from '../messages/en.js';

/** The fixed parts of every model card (TRIPOD-AI / CLAIM spirit): what it is for and where it fails. */
export const INTENDED_USE =
  'Research and education: shows how a small CNN estimates the probability of COVID-19 from a frontal chest ' +
  'X-ray. Not a medical device; not for diagnosis, triage, screening or treatment decisions.';

export const BASE_LIMITATIONS = [
  'Shortcut risk: in the training data, label and collection are strongly linked (some collections hold only COVID-19 images, others only normals). A model can score well by recognising the collection (image size, borders, markers, processing) rather than the disease. Metrics on collections the model never saw are the ones to trust, and they are much lower.',
  'Pediatric normals: the Kermany images are children aged 1-5 and make up most non-COVID pneumonia and a quarter of normals; the model may partly learn age instead of disease.',
  'Labels come from the publishing collections, not from radiologists reading these images; COVID-19 labels are mostly patient-level (a positive patient can have a normal-looking X-ray).',
  'Frontal (PA/AP) chest X-rays only. Lateral views, CT, other body parts and ordinary photos are outside its scope, and the gate refuses what it recognises as such. A phone photo of an X-ray film or screen is cut to the film and answered, but less reliably than the original image: see the figures on simulated phone photos.',
  'Telling COVID-19 from other pneumonia is the clinically relevant task. In this data most other-pneumonia images are pediatric (Kermany), so a high COVID-19 vs other pneumonia AUC can come from age and collection rather than disease; the within-collection figures (ieee8023 holds adult COVID-19, normal and other pneumonia) are the honest ones, and they are poor.',
];

export const DISCLAIMER = en.disclaimer;
