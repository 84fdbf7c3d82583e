// The page's only script: send one image to /api/classify and show the answer. Every sentence
// comes from the server (the page data block and the API's `parts`), so nothing here is wording.
/* global document, URL, AbortController, fetch -- browser globals; the project lint config targets Node */
'use strict';

(function () {
  const data = JSON.parse(document.getElementById('page-data').textContent);
  const strings = data.strings;
  const lang = document.documentElement.lang || 'en';
  const form = document.getElementById('upload-form');
  const input = document.getElementById('file');
  const region = document.getElementById('result');

  let current = null; // { controller, previewUrl } of the image being shown
  let sequence = 0;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear() {
    if (current) {
      current.controller.abort();
      if (current.previewUrl) URL.revokeObjectURL(current.previewUrl);
    }
    current = null;
    region.replaceChildren();
    region.removeAttribute('aria-busy');
  }

  // Previews only for types a browser shows; DICOM and SVG are not previewed.
  function previewable(file) {
    return /^image\/(jpeg|png|webp|gif|avif|bmp)$/.test(file.type);
  }

  function figure(src, alt, caption) {
    const fig = el('figure', 'image');
    const img = el('img');
    img.src = src;
    img.alt = alt;
    img.decoding = 'async';
    img.addEventListener('error', () => fig.remove());
    fig.append(img);
    if (caption) fig.append(el('figcaption', 'hint', caption));
    return fig;
  }

  function show(card) {
    region.removeAttribute('aria-busy');
    region.replaceChildren(card);
  }

  function renderResult(result, previewUrl) {
    const p = result.parts;
    const card = el('article', 'card ' + (result.accepted ? 'accepted' : 'refused'));
    card.append(el('h2', '', p.title));
    card.append(el('p', 'headline', p.headline));
    if (p.meaning) card.append(el('p', 'meaning', p.meaning));
    if (p.photoNote) card.append(el('p', 'photo-note', p.photoNote));
    if (result.heatmap && result.heatmap.dataUrl) {
      card.append(figure(result.heatmap.dataUrl, strings.heatmapAlt, p.heatmapCaption));
    } else if (previewUrl) {
      card.append(figure(previewUrl, strings.yourImage));
    }
    card.append(el('p', 'version hint', p.modelVersion));
    card.append(el('p', 'disclaimer', p.disclaimer));
    show(card);
  }

  function renderError(message) {
    const card = el('article', 'card failed');
    card.append(el('h2', '', strings.errorTitle));
    card.append(el('p', 'headline', message));
    show(card);
  }

  async function classify(file) {
    clear();
    const id = ++sequence;
    const controller = new AbortController();
    const previewUrl = previewable(file) ? URL.createObjectURL(file) : null;
    current = { controller, previewUrl };

    if (file.size > data.maxBytes) {
      renderError(strings.tooLarge);
      return;
    }
    region.setAttribute('aria-busy', 'true');
    region.replaceChildren(el('p', 'working', strings.working));

    let response;
    let body = null;
    try {
      // Raw bytes, not a form: the server sniffs the format, so the file's claimed type does not matter.
      response = await fetch('/api/classify', {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream', 'Accept-Language': lang },
        body: file,
        signal: controller.signal,
      });
      body = await response.json().catch(() => null);
    } catch {
      if (controller.signal.aborted) return; // replaced by a newer image
      if (id === sequence) renderError(strings.networkError);
      return;
    }
    if (id !== sequence) return;
    if (body && body.parts) renderResult(body, previewUrl);
    else if (body && typeof body.message === 'string') renderError(body.message);
    else renderError(strings.networkError);
  }

  function firstFile(list) {
    return list && list.length > 0 ? list[0] : null;
  }

  input.addEventListener('change', () => {
    const file = firstFile(input.files);
    if (file) void classify(file);
    // Lets the same file be picked again.
    input.value = '';
  });

  // Without the script the form would post a multipart form; with it, we stay on the page.
  form.addEventListener('submit', (event) => event.preventDefault());

  form.addEventListener('dragover', (event) => {
    event.preventDefault();
    form.classList.add('dragging');
  });
  form.addEventListener('dragleave', () => form.classList.remove('dragging'));
  form.addEventListener('drop', (event) => {
    event.preventDefault();
    form.classList.remove('dragging');
    const file = firstFile(event.dataTransfer && event.dataTransfer.files);
    if (file) void classify(file);
  });

  document.addEventListener('paste', (event) => {
    const file = firstFile(event.clipboardData && event.clipboardData.files);
    if (file) {
      event.preventDefault();
      void classify(file);
    }
  });
})();
