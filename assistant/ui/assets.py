"""The page's look and behaviour in the browser: the CSS, the JavaScript that links ``[n]`` markers to
their source cards, the sources panel's and page view's own scripts, and the theme's fonts. Class and id
names match what ``render.py`` and ``app.py`` emit.
"""

CSS = """
#sources .answer-kind { font-size: 0.75em; color: var(--body-text-color-subdued); margin: -6px 0 8px; }
#chat .cite { color: var(--color-accent); cursor: pointer; font-weight: 600; font-size: 0.8em;
  vertical-align: super; line-height: 0; padding: 0 1px; border-radius: 3px; }
#chat .cite:hover, #chat .cite:focus { background: #fde68a; color: #1f2937; outline: none; }
#chat .refusal { border-left: 4px solid #9ca3af; padding-left: 10px; color: var(--body-text-color-subdued); }
#chat .refusal-label { display: inline-block; font-size: 0.75em; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.04em; background: #e5e7eb; color: #374151; border-radius: 4px; padding: 1px 6px; }
#sources { max-height: 640px; overflow-y: auto; }
#sources .sources-question { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-bottom: 10px; transition: box-shadow 0.2s, border-color 0.2s; scroll-margin: 8px; }
#sources .source.linked, #sources .source.flash { border-color: #f59e0b;
  box-shadow: 0 0 0 3px rgba(245, 158, 11, 0.35); }
#sources .source-n { font-weight: 700; color: var(--color-accent); }
#sources .source-title { font-weight: 600; }
#sources .source-date { font-size: 0.85em; color: var(--body-text-color-subdued); margin-left: 4px; }
#sources .source-where { font-size: 0.78em; color: var(--body-text-color-subdued); margin: 2px 0 6px; }
#sources .passage { white-space: pre-wrap; margin: 0; padding: 4px 0 4px 10px; font-size: 0.9em;
  border-left: 3px solid var(--border-color-primary); color: var(--body-text-color-subdued); }
#sources mark.cited { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
#sources mark.cited strong.short-answer { background: #f59e0b; color: #111827; padding: 0 2px; border-radius: 3px; }
#sources .sources-refused { border-left: 4px solid #9ca3af; padding: 6px 10px; margin-bottom: 10px; }
#sources .retrieved table, #documents-list table { width: 100%; font-size: 0.85em; border-collapse: collapse;
  border: none !important; }
#sources .retrieved td, #sources .retrieved th, #documents-list td, #documents-list th { padding: 4px 8px;
  border: none !important; border-bottom: 1px solid var(--border-color-primary) !important; text-align: left;
  vertical-align: top; }
#documents-list td.date, #documents-list td.when, #sources .retrieved td.chars { white-space: nowrap; }
#sources .retrieved-note { font-size: 0.8em; color: var(--body-text-color-subdued); margin-top: 4px; }
#sources .sources-empty { color: var(--body-text-color-subdued); font-size: 0.9em; }
#sources .cite-sample { color: var(--color-accent); font-weight: 600; }
#documents-list td.num { text-align: right; }
#sources .page-open { margin-top: 6px; font-size: 0.8em; padding: 2px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
#sources .page-open:hover, #sources .page-open:focus { border-color: #f59e0b; }
:is(#page-view, #eval-page-view) .page-view { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-top: 10px; scroll-margin: 8px; }
:is(#page-view, #eval-page-view) header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 8px; }
:is(#page-view, #eval-page-view) .source-n { font-weight: 700; color: var(--color-accent); }
:is(#page-view, #eval-page-view) .source-title { font-weight: 600; }
:is(#page-view, #eval-page-view) .source-where { flex-basis: 100%; order: 3; font-size: 0.78em; color: var(--body-text-color-subdued); }
:is(#page-view, #eval-page-view) .page-close { margin-left: auto; font-size: 0.8em; padding: 1px 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
:is(#page-view, #eval-page-view) .page-notice { color: #b45309; font-weight: 600; font-size: 0.85em; margin: 6px 0; }
:is(#page-view, #eval-page-view) .page-frame { max-height: 75vh; overflow: auto; margin-top: 6px; background: #fff;
  border: 1px solid var(--border-color-primary); }
:is(#page-view, #eval-page-view) .page-sheet { position: relative; width: 100%; }
:is(#page-view, #eval-page-view) .page-frame.zoomed .page-sheet { width: 220%; }
:is(#page-view, #eval-page-view) .page-image { display: block; width: 100%; height: auto; max-width: none; cursor: zoom-in; }
:is(#page-view, #eval-page-view) .page-frame.zoomed .page-image { cursor: zoom-out; }
:is(#page-view, #eval-page-view) .page-mark { position: absolute; background: rgba(250, 204, 21, 0.38); outline: 2px solid #f59e0b;
  border-radius: 2px; mix-blend-mode: multiply; pointer-events: none; }
:is(#page-view, #eval-page-view) .page-quote { font-size: 0.8em; color: var(--body-text-color-subdued); margin: 6px 0 0; }
:is(#page-view, #eval-page-view) .section-text { white-space: pre-wrap; margin: 6px 0 0; padding: 4px 0 4px 10px; font-size: 0.9em;
  max-height: 60vh; overflow-y: auto; border-left: 3px solid var(--border-color-primary); }
:is(#page-view, #eval-page-view) mark.cited { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 3px; }
#feedback { padding: 8px 12px; border: 1px solid #f59e0b; border-radius: 8px; }
#feedback-status p { font-weight: 600; }
#eval-summary .eval-head { margin: 0 0 6px; }
#eval-summary .eval-metrics th, #eval-side-by-side .eval-metrics th { text-align: left; font-weight: 500; padding-right: 16px; }
#eval-cases table, #eval-side-by-side table { width: 100%; border-collapse: collapse; font-size: 0.88em; }
#eval-cases td, #eval-cases th, #eval-side-by-side td, #eval-side-by-side th { padding: 6px 8px; text-align: left;
  vertical-align: top; border-bottom: 1px solid var(--border-color-primary); }
#eval-cases .eval-count, #eval-side-by-side .eval-head { font-size: 0.9em; color: var(--body-text-color-subdued); }
.eval-tags, .eval-why { font-size: 0.8em; color: var(--body-text-color-subdued); }
.verdict.pass { color: #15803d; font-weight: 700; }
.verdict.fail { color: #b91c1c; font-weight: 700; }
.change { font-size: 0.8em; padding: 1px 6px; border-radius: 4px; background: #e5e7eb; color: #374151; }
.change.worse { background: #fee2e2; color: #991b1b; }
.change.better { background: #dcfce7; color: #166534; }
.eval-row.fail td:first-child, .eval-pair.differs td:first-child { border-left: 3px solid #f59e0b; }
.eval-differs { font-size: 0.75em; font-weight: 700; color: #b45309; text-transform: uppercase; }
.eval-cite { color: var(--color-accent); font-weight: 600; }
.eval-sources { margin: 4px 0 0; padding-left: 0; list-style: none; font-size: 0.9em; }
.eval-sources .source-where { font-size: 0.85em; color: var(--body-text-color-subdued); }
.eval-quote { margin: 2px 0; padding-left: 8px; border-left: 3px solid #fde68a; color: var(--body-text-color-subdued); }
.eval-source { font-size: 0.8em; padding: 1px 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
#eval-cases .refusal, #eval-side-by-side .refusal { color: var(--body-text-color-subdued); }
#status, #upload-status { min-height: 0; }
#status p { color: #b45309; font-weight: 600; }
"""

# Markers and source cards meet in the browser: hovering a marker outlines its card, clicking (or Enter)
# scrolls the card into view and flashes it. A click on an older answer first switches the panel to that
# answer (Chatbot.select), so the card is looked for again for a moment until it is there.
JS = r"""
() => {
  if (window.__assistantCites) return;
  window.__assistantCites = true;
  const markerOf = (el) => (el && el.closest ? el.closest('#chat .cite') : null);
  const cardOf = (m) => {
    const k = /(?:^|\s)cite-(\d+)-(\d+)(?:\s|$)/.exec(m.className);
    return k ? document.getElementById(`source-${k[1]}-${k[2]}`) : null;
  };
  const bring = (m, tries = 0) => {
    const card = cardOf(m);
    if (!card) { if (tries < 40) setTimeout(() => bring(m, tries + 1), 75); return; }
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('flash'); void card.offsetWidth; card.classList.add('flash');
    clearTimeout(card.__flash); card.__flash = setTimeout(() => card.classList.remove('flash'), 2500);
  };
  document.addEventListener('click', (e) => { const m = markerOf(e.target); if (m) bring(m); });
  document.addEventListener('keydown', (e) => {
    const m = markerOf(e.target);
    if (m && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); bring(m); }
  });
  const hover = (on) => (e) => {
    const m = markerOf(e.target); if (!m) return;
    const card = cardOf(m); if (card) card.classList.toggle('linked', on);
  };
  document.addEventListener('mouseover', hover(true));
  document.addEventListener('mouseout', hover(false));
}
"""

# The sources panel's own script (Gradio runs it with the panel as ``element``): a card's button asks the
# server for its page (the panel's ``open_page`` event, with the card's turn and number).
SOURCES_JS = r"""
element.addEventListener('click', (e) => {
  const button = e.target.closest ? e.target.closest('.page-open') : null;
  if (button) trigger('open_page', {turn: Number(button.dataset.turn), n: Number(button.dataset.n)});
});
"""

# The Evaluation tab's case rows: a citation's button asks the server for its source where it sits (the rows'
# ``open_source`` event, with the case, the side of a comparison and the citation's number).
EVAL_JS = r"""
element.addEventListener('click', (e) => {
  const button = e.target.closest ? e.target.closest('.eval-source') : null;
  if (button) trigger('open_source', {case: button.dataset.case, side: button.dataset.side || '',
                                      n: Number(button.dataset.n)});
});
"""

# The page view's: brought into view when a page arrives, scrolled to the first boxed line; a click on the
# page (or Enter on it) zooms in and out, Close empties the view.
PAGE_VIEW_JS = r"""
const focusMark = () => {
  const frame = element.querySelector('.page-frame'), mark = element.querySelector('.page-mark');
  if (!frame || !mark) return;
  frame.scrollTop = Math.max(0, mark.offsetTop - frame.clientHeight / 3);
  frame.scrollLeft = Math.max(0, mark.offsetLeft - frame.clientWidth / 6);
};
watch('value', () => {
  const view = element.querySelector('.page-view, .page-notice');
  if (!view) return;
  view.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  const image = element.querySelector('.page-image');
  if (image && !image.complete) image.addEventListener('load', focusMark, {once: true}); else focusMark();
});
const zoom = () => { element.querySelector('.page-frame').classList.toggle('zoomed'); focusMark(); };
element.addEventListener('click', (e) => {
  if (!e.target.closest) return;
  if (e.target.closest('.page-close')) { props.value = ''; return; }
  if (e.target.closest('.page-image')) zoom();
});
element.addEventListener('keydown', (e) => {
  if (e.target.matches && e.target.matches('.page-image') && (e.key === 'Enter' || e.key === ' ')) {
    e.preventDefault(); zoom();
  }
});
"""

THEME_FONTS = dict(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
