"""The leaders' briefing (``/briefing``, ``/briefing/<id>``): one scroll of what matters today.

Rendered on the server as plain HTML (``page``, template ``app/templates/briefing.html``), not as
a Dash page: a Dash page downloads the whole component bundle (deck.gl alone is 3.2 MB) before it
paints anything, which on a 1.6 Mbit/s government link is half a minute; the briefing is a
document with links, so it ships as one small HTML file with inline SVG charts and one stylesheet.
``sections`` turns each section of the spec into values for the template.
"""
