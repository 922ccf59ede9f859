"""The page's own CSS: answers, sources, the page view. Nothing here imports gradio."""

CSS = """
#qa-chat .qa-quote { white-space: normal; }
#qa-chat .qa-marker { color: var(--color-accent); font-weight: 600; }
#qa-chat .qa-query, .qa-status { color: var(--body-text-color-subdued); font-size: 0.9em; margin-top: .4em; }
#qa-chat .qa-abstain { border-left: 3px solid #d97706; padding-left: .5em; }
#qa-chat .qa-error { color: #b91c1c; }
#qa-chat .qa-unsupported { text-decoration: underline wavy #b91c1c; background: #fee2e2; }
#qa-chat .qa-unsupported-mark { color: #b91c1c; font-weight: 600; }
#qa-chat .qa-unsupported-note, #qa-chat .qa-fallback, #qa-chat .qa-generating {
  color: var(--body-text-color-subdued); font-size: 0.9em; margin-top: .4em; }
#qa-chat .qa-fallback { border-left: 3px solid #d97706; padding-left: .5em; }
#qa-chat .qa-low-confidence { border-left: 3px solid #d97706; padding-left: .5em; color: #92400e; }
.qa-passage { white-space: normal; line-height: 1.5; }
mark.qa-cited { background: #fde68a; color: inherit; padding: 0 .1em; }
strong.qa-short { text-decoration: underline; }
.qa-source-head { font-size: .9em; margin-bottom: .4em; }
.qa-title { font-weight: 600; }
.qa-snippet { color: var(--body-text-color-subdued); font-size: .9em; }
table.qa-retrieval { width: 100%; table-layout: fixed; }
table.qa-retrieval th:first-child { width: 2.2em; }
table.qa-retrieval th:nth-child(n+2):nth-child(-n+4) { width: 4.6em; }
table.qa-retrieval td.qa-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.qa-source, table.qa-retrieval td { overflow-wrap: anywhere; }
figure.qa-page { margin: .8em 0 0; }
.qa-page-nav { display: flex; align-items: center; gap: .6em; margin-bottom: .4em; font-size: .9em; }
.qa-page-nav button { font: inherit; border: 1px solid var(--border-color-primary); border-radius: 4px;
  padding: .1em .6em; background: var(--button-secondary-background-fill); cursor: pointer; }
.qa-page-nav button:disabled { opacity: .4; cursor: default; }
.qa-page-frame { position: relative; line-height: 0; border: 1px solid var(--border-color-primary); }
.qa-page-frame img.qa-page-image { display: block; width: 100%; height: auto; margin: 0; }
.qa-box { position: absolute; background: rgba(250, 204, 21, .35); outline: 1px solid rgba(217, 119, 6, .9);
  pointer-events: none; }
figure.qa-page figcaption, .qa-page-note { color: var(--body-text-color-subdued); font-size: .85em; margin-top: .3em; }
.qa-page-note { border-left: 3px solid #d97706; padding-left: .5em; }
"""
