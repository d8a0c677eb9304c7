"""The commander's drill-down view (``/command``): URL state, data for a step, map layers, panels.

``state`` parses and writes the URL (pure), ``data`` runs the queries of a step through the
query cache, ``mapview`` turns them into deck layers via ``layers``, ``payload`` decides what of
them travels (the page's skeleton of layers, each layer rendered once per inputs and sent only
when it changed), ``panels`` makes the Dash components; ``app/pages/command.py`` holds the layout
and the thin callbacks (one round trip per step).
"""

# Events received this long before a drawing arrived may not be in it: the console's live gate
# (app/pages/command.py) and the load generator's copy of it (app.loadtest.LiveGate) both wait it.
LIVE_SLACK_MS = 3000
