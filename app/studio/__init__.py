"""The analysts' studio (``/studio``): walls and briefings edited through forms, never YAML.

* ``forms``      — pure functions on a draft spec body (a plain dict, as stored): create,
  duplicate, add/remove scenes, panels and sections, apply one form field, read the form back,
  and map validation errors (``SpecError`` paths) to the form field they concern.
* ``indicators`` — the indicator picker's search: Chinese, pinyin, pinyin initials, English, code.
* ``preview``    — the selected scene rendered with real data through the wall's own panel
  classes (``app.wall.panels``), in a canvas-sized box scaled down by a CSS transform; a
  briefing through the briefing's own sections and template.
* ``links``      — links into the studio (``?wall=&scene=&panel=``, ``?briefing=&section=``): opened
  with that selection, what cannot be found said in a banner; the address bar follows the selection.
* ``layout``     — the page's components; ``callbacks`` — the thin Dash callbacks (every output
  id starts with ``studio-``: the access table gives them to ``edit_specs`` only).

Drafts live in the browser (``studio-draft`` store) until saved; every save is a version in the
database (``queries.specs.store``) with its author, and nothing invalid is ever saved or published.
"""
