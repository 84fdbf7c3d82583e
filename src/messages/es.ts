import type { Catalog } from './catalog.js';

export const es: Catalog = {
  locale: 'es',
  disclaimer:
    'Solo para investigación y docencia. Esto no es un diagnóstico y no debe guiar ningún tratamiento: ' +
    'consulte su radiografía y sus síntomas con un médico u otro profesional sanitario.',
  result: {
    title: 'Lectura de la radiografía de tórax',
    probability: (p) => `Probabilidad estimada de COVID-19: ${p}`,
    above: (t) =>
      `Está en o por encima del umbral de decisión del modelo (${t}): la imagen muestra patrones que el modelo ha aprendido a asociar con la COVID-19. Muchas otras enfermedades se ven parecidas en una radiografía.`,
    below: (t) =>
      `Está por debajo del umbral de decisión del modelo (${t}): el modelo no encontró los patrones que asocia con la COVID-19. Una radiografía de aspecto normal no descarta la COVID-19.`,
    modelVersion: (v) => `Versión del modelo: ${v}`,
    heatmapCaption:
      'El mapa de colores muestra las zonas que más influyeron en el modelo (rojo = más). Indica dónde miró el modelo, no dónde está la enfermedad.',
    photoNote: (points) =>
      `Parece una foto de una placa de rayos X o de una pantalla. Las respuestas sobre fotos son menos fiables que sobre la imagen original${points === undefined ? '' : `: en nuestras pruebas con fotos simuladas, la probabilidad cambió de media ${points} puntos porcentuales`}. Si puede, envíe el archivo de imagen original o un archivo DICOM.`,
  },
  refusal: {
    title: 'Sin lectura para esta imagen',
    not_chest_xray:
      'Esto no parece una radiografía de tórax frontal, así que no puedo dar una lectura. Envíe una radiografía de tórax frontal.',
    colour_image:
      'Esto parece una foto en color y no una radiografía, así que no puedo dar una lectura. Envíe la imagen de la radiografía o una foto recta y bien iluminada de la placa.',
    lungs_not_found:
      'No encontré los pulmones en esta imagen, así que no puedo dar una lectura. Envíe una radiografía de tórax frontal completa, sin recortar.',
  },
  errors: {
    unsupported_format: () =>
      'No puedo leer este tipo de archivo. Envíe la radiografía como imagen JPEG, PNG, WebP, TIFF o DICOM.',
    unreadable_image: () => 'La imagen parece dañada o incompleta y no pude leerla. Pruebe con otra copia.',
    animated_image: () =>
      'Las imágenes animadas no se admiten. Envíe una sola imagen fija de la radiografía.',
    vector_image: () =>
      'Las imágenes vectoriales (SVG) no se admiten. Envíe la radiografía como JPEG, PNG o DICOM.',
    image_too_large: (d) =>
      d['limitMb'] !== undefined
        ? `El archivo es demasiado grande (el límite es ${d['limitMb']} MB). Envíe una imagen más pequeña.`
        : 'La imagen tiene demasiados píxeles para procesarla. Envíe una imagen más pequeña.',
    image_too_small: () =>
      'La imagen es demasiado pequeña para leerla. Envíe una imagen más grande de la radiografía.',
    dicom_unsupported: (d) =>
      `Este archivo DICOM usa un formato que no puedo decodificar${d['syntax'] !== undefined ? ` (${d['syntax']})` : ''}. Expórtelo como DICOM sin comprimir, PNG o JPEG.`,
    busy: () => 'Ahora mismo estoy ocupado con otras imágenes. Inténtelo de nuevo en un minuto.',
    timeout: () => 'Esto tardó demasiado y lo detuve. Inténtelo de nuevo, quizá con una imagen más pequeña.',
    cancelled: () =>
      'El bot se está reiniciando y tuvo que dejar de leer su imagen. Envíela de nuevo en un minuto.',
    rate_limited: (d) =>
      `Está enviando imágenes más rápido de lo que puedo leerlas. Espere${d['seconds'] !== undefined ? ` ${d['seconds']} segundos` : ' un momento'} y vuelva a intentarlo.`,
    model_missing: () => 'El modelo aún no está instalado en este servidor. Avise al operador.',
    model_invalid: () => 'No se pudo cargar el modelo de este servidor. Avise al operador.',
    internal: () => 'Algo falló por mi parte. Inténtelo de nuevo más tarde.',
  },
  web: {
    languageName: 'Español',
    languageLabel: 'Idioma',
    title: 'Lector de radiografías de tórax para COVID-19',
    intro:
      'Elija una radiografía de tórax frontal y el modelo estimará la probabilidad de que muestre COVID-19.',
    pick: 'Elegir una radiografía',
    dropHint: 'o suéltela aquí, o péguela con Ctrl+V.',
    formats: (mb) =>
      `JPEG, PNG, WebP, TIFF o DICOM, hasta ${mb} MB. Una imagen nueva reemplaza a la anterior.`,
    yourImage: 'La imagen que eligió',
    heatmapAlt: 'Su imagen con un mapa de colores de las zonas que más influyeron en el modelo',
    errorTitle: 'Esta vez no hay lectura',
    networkError: 'No se pudo contactar con el servidor. Compruebe su conexión e inténtelo de nuevo.',
    privacyHeading: 'Privacidad',
    aboutHeading: 'Sobre el modelo',
    intendedUseHeading: 'Uso previsto',
    dataHeading: 'Datos de entrenamiento',
    trainImages: (n) => `Imágenes de entrenamiento: ${n}`,
    sources: (list) => `Colecciones: ${list}`,
    createdAt: (date) => `Entrenado: ${date}`,
    metricsHeading: 'Rendimiento medido',
    metricsColumns: {
      set: 'Conjunto',
      images: 'Imágenes',
      auc: 'AUC',
      sensitivity: 'Sensibilidad',
      specificity: 'Especificidad',
    },
    metricsSets: {
      test: 'Prueba',
      validation: 'Validación',
      unseenSource: (s) => `Colección no vista en el entrenamiento (${s})`,
      perSource: (s) => `Fuente: ${s}`,
    },
    metricsNote: (t) => `Sensibilidad y especificidad en el umbral de decisión (${t}).`,
    noMetrics: 'La ficha de este modelo aún no contiene rendimiento medido.',
    limitationsHeading: 'Limitaciones conocidas',
    cardInEnglish: 'Los textos de la ficha del modelo están en inglés.',
    apiNote:
      'Para desarrolladores: envíe una imagen con POST a /api/classify; GET /api/model devuelve la ficha del modelo.',
    noscript: 'Esta página necesita JavaScript para enviar una imagen.',
  },
  bot: {
    start:
      '¡Hola! Envíeme una radiografía de tórax (una foto, un archivo de imagen o un archivo DICOM) y estimaré la probabilidad de que muestre COVID-19.\n\n' +
      'Las radiografías de tórax frontales funcionan mejor. Envíe la imagen como archivo para conservar la calidad.',
    help:
      'Cómo usarme:\n' +
      '• Envíe una radiografía de tórax frontal como foto o como archivo (JPEG, PNG, WebP, TIFF o DICOM).\n' +
      '• El archivo de imagen original o el archivo DICOM da la respuesta más fiable. Una foto de la placa o de la pantalla también sirve, pero su respuesta es menos segura: hágala de frente, con luz uniforme y sin reflejos. Una placa en un negatoscopio da una respuesta más estable que una pantalla.\n' +
      '• En un grupo, mencióneme en el pie de foto, empiece el pie con /xray o responda /xray a un mensaje con una imagen.\n' +
      '• /about informa sobre el modelo y sus resultados en las pruebas.\n' +
      '• /privacy explica qué pasa con sus imágenes.',
    privacy:
      'Su imagen se lee en memoria, se analiza y se descarta. No se guarda nada: ni imágenes, ni resultados, ni datos personales. ' +
      'Los registros solo anotan eventos técnicos, nunca imágenes, nombres ni contenidos de archivos.',
    about: (f) =>
      [
        `Versión del modelo: ${f.modelVersion}`,
        `Entrenado con ${f.images} radiografías de tórax de colecciones públicas (${f.sources}), ${f.trainedOn}.`,
        f.auc === undefined ? undefined : `AUC en la prueba: ${f.auc}`,
        f.sensitivity === undefined || f.specificity === undefined
          ? undefined
          : `Con el umbral de decisión (${f.threshold}): sensibilidad ${f.sensitivity}, especificidad ${f.specificity}.`,
        f.unseenHospitalAuc === undefined
          ? undefined
          : `En una colección que no vio durante el entrenamiento, su AUC fue solo ${f.unseenHospitalAuc}: los resultados con radiografías de hospitales nuevos son mucho menos fiables.`,
      ]
        .filter((line): line is string => line !== undefined)
        .join('\n'),
    textHint: 'Envíeme una radiografía de tórax (como foto o archivo). /help explica cómo.',
    noImageInMessage:
      'Ese mensaje no tiene ninguna imagen que pueda leer. Elija un mensaje con una radiografía de tórax.',
    working: 'Leyendo la radiografía…',
    commands: {
      start: 'Bienvenida y cómo enviar una radiografía',
      help: 'Cómo usar este bot',
      about: 'Sobre el modelo y su precisión medida',
      privacy: 'Qué pasa con sus imágenes',
      xray: 'Estimar la probabilidad de COVID-19 en una radiografía de tórax',
    },
    xrayOption: {
      image: 'Una radiografía de tórax (JPEG, PNG o DICOM)',
      public: 'Mostrar el resultado a todo el canal',
    },
    contextMenu: 'Analizar radiografía',
  },
};
