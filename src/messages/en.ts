import type { Catalog } from './catalog.js';

export const en: Catalog = {
  locale: 'en',
  disclaimer:
    'For research and education only. This is not a diagnosis and must not guide treatment: ' +
    'please talk to a doctor or other clinician about your X-ray and your symptoms.',
  result: {
    title: 'Chest X-ray reading',
    probability: (p) => `Estimated probability of COVID-19: ${p}`,
    above: (t) =>
      `This is at or above the model's decision threshold (${t}): the image shows patterns the model has learned to associate with COVID-19. Many other conditions look similar on an X-ray.`,
    below: (t) =>
      `This is below the model's decision threshold (${t}): the model did not find the patterns it associates with COVID-19. A normal-looking X-ray does not rule COVID-19 out.`,
    modelVersion: (v) => `Model version: ${v}`,
    heatmapCaption:
      'The coloured map shows which regions most influenced the model (red = more). It shows where the model looked, not where disease is.',
    photoNote: (points) =>
      `This looks like a photo of an X-ray film or screen. Answers on photos are less certain than on the original image${points === undefined ? '' : `: in our tests with simulated photos, the probability changed by ${points} percentage points on average`}. If you can, send the original image file or a DICOM file instead.`,
  },
  refusal: {
    title: 'No reading for this image',
    not_chest_xray:
      "This doesn't look like a frontal chest X-ray, so I can't give a reading. Please send a frontal (front-to-back or back-to-front) chest X-ray image.",
    colour_image:
      "This looks like a colour photo rather than an X-ray, so I can't give a reading. Please send the X-ray image itself, or a straight, well-lit photo of the film.",
    lungs_not_found:
      "I couldn't find the lungs in this image, so I can't give a reading. Please send a whole frontal chest X-ray, not cropped.",
  },
  errors: {
    unsupported_format: () =>
      "I can't read this kind of file. Please send a JPEG, PNG, WebP, TIFF or DICOM image of the X-ray.",
    unreadable_image: () =>
      'This image seems to be damaged or incomplete, so I could not read it. Please try another copy.',
    animated_image: () => 'Animated images are not supported. Please send a single still image of the X-ray.',
    vector_image: () =>
      'Vector images (SVG) are not supported. Please send a JPEG, PNG or DICOM image of the X-ray.',
    image_too_large: (d) =>
      d['limitMb'] !== undefined
        ? `This file is too large (the limit is ${d['limitMb']} MB). Please send a smaller image.`
        : 'This image has too many pixels to process. Please send a smaller image.',
    image_too_small: () => 'This image is too small to read. Please send a larger image of the X-ray.',
    dicom_unsupported: (d) =>
      `This DICOM file uses a format I can't decode${d['syntax'] !== undefined ? ` (${d['syntax']})` : ''}. Please export it as uncompressed DICOM, PNG or JPEG.`,
    busy: () => 'I am busy with other images right now. Please try again in a minute.',
    timeout: () => 'This took too long and I stopped. Please try again, perhaps with a smaller image.',
    cancelled: () =>
      'The bot is restarting and had to stop reading your image. Please send it again in a minute.',
    rate_limited: (d) =>
      `You are sending images faster than I can read them. Please wait${d['seconds'] !== undefined ? ` ${d['seconds']} seconds` : ' a moment'} and try again.`,
    model_missing: () => 'The model is not installed on this server yet. Please tell the operator.',
    model_invalid: () => 'The model on this server could not be loaded. Please tell the operator.',
    internal: () => 'Something went wrong on my side. Please try again later.',
  },
  web: {
    languageName: 'English',
    languageLabel: 'Language',
    title: 'Chest X-ray COVID-19 reader',
    intro:
      'Choose a frontal chest X-ray image and the model estimates the probability that it shows COVID-19.',
    pick: 'Choose an X-ray image',
    dropHint: 'or drop it here, or paste it with Ctrl+V.',
    formats: (mb) => `JPEG, PNG, WebP, TIFF or DICOM, up to ${mb} MB. A new image replaces the previous one.`,
    yourImage: 'The image you chose',
    heatmapAlt: 'Your image with a coloured map of the regions that most influenced the model',
    errorTitle: 'No reading this time',
    networkError: 'The server could not be reached. Please check your connection and try again.',
    privacyHeading: 'Privacy',
    aboutHeading: 'About the model',
    intendedUseHeading: 'Intended use',
    dataHeading: 'Training data',
    trainImages: (n) => `Training images: ${n}`,
    sources: (list) => `Collections: ${list}`,
    createdAt: (date) => `Trained: ${date}`,
    metricsHeading: 'Measured performance',
    metricsColumns: {
      set: 'Set',
      images: 'Images',
      auc: 'AUC',
      sensitivity: 'Sensitivity',
      specificity: 'Specificity',
    },
    metricsSets: {
      test: 'Test',
      validation: 'Validation',
      unseenSource: (s) => `Collection never seen in training (${s})`,
      perSource: (s) => `Source: ${s}`,
    },
    metricsNote: (t) => `Sensitivity and specificity at the decision threshold (${t}).`,
    noMetrics: 'This model card holds no measured performance yet.',
    limitationsHeading: 'Known limits',
    cardInEnglish: '',
    apiNote: 'For developers: POST an image to /api/classify; GET /api/model returns the model card.',
    noscript: 'This page needs JavaScript to send an image.',
  },
  bot: {
    start:
      'Hello! Send me a chest X-ray image (a photo, an image file, or a DICOM file) and I will estimate the probability that it shows COVID-19.\n\n' +
      'Frontal chest X-rays work best. Send the image as a file for the best quality.',
    help:
      'How to use me:\n' +
      '• Send a frontal chest X-ray as a photo or as a file (JPEG, PNG, WebP, TIFF or DICOM).\n' +
      '• The original image file or DICOM file gives the most reliable answer. A phone photo of a film or screen works too, but its answer is less certain: take it straight on, evenly lit, without glare. A film on a light box gives a steadier answer than a screen.\n' +
      '• In a group, mention me in the caption, start the caption with /xray, or reply /xray to a message with an image.\n' +
      '• /about tells you about the model and how well it did in testing.\n' +
      '• /privacy tells you what happens to your images.',
    privacy:
      'Your image is read in memory, analysed, and then discarded. Nothing is stored: no images, no results, no personal data. ' +
      'Logs record only technical events, never images, names or file contents.',
    about: (f) =>
      [
        `Model version: ${f.modelVersion}`,
        `Trained on ${f.images} chest X-rays from public collections (${f.sources}), ${f.trainedOn}.`,
        f.auc === undefined ? undefined : `Test AUC: ${f.auc}`,
        f.sensitivity === undefined || f.specificity === undefined
          ? undefined
          : `At the decision threshold (${f.threshold}): sensitivity ${f.sensitivity}, specificity ${f.specificity}.`,
        f.unseenHospitalAuc === undefined
          ? undefined
          : `On a collection it never saw in training, its AUC was only ${f.unseenHospitalAuc}: results on X-rays from new hospitals are much less reliable.`,
      ]
        .filter((line): line is string => line !== undefined)
        .join('\n'),
    textHint: 'Please send me a chest X-ray image (as a photo or a file). /help shows how.',
    noImageInMessage: 'That message has no image I can read. Please pick a message with a chest X-ray image.',
    working: 'Reading the X-ray…',
    commands: {
      start: 'Welcome and how to send an X-ray',
      help: 'How to use this bot',
      about: 'About the model and its measured accuracy',
      privacy: 'What happens to your images',
      xray: 'Estimate the COVID-19 probability for a chest X-ray image',
    },
    xrayOption: {
      image: 'A chest X-ray image (JPEG, PNG or DICOM)',
      public: 'Show the result to everyone in the channel',
    },
    contextMenu: 'Analyze X-ray',
  },
};
