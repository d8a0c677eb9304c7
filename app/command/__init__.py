"""The commander's drill-down view (``/command``): URL state, data for a step, map layers, panels.

``state`` parses and writes the URL (pure), ``data`` runs the queries of a step through the
query cache, ``mapview`` turns them into deck layers via ``layers``, ``panels`` into Dash
components; ``app/pages/command.py`` holds the layout and the thin callbacks.
"""
