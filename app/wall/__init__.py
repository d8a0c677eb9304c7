"""The video wall (``/wall``, ``/wall/<wall-id>``): a spec's scenes on any screen, live and unattended.

``panels`` holds one class per panel type (data + rendering), ``maps`` the map panels, ``view``
the layout and one refresh step; ``app/pages/wall.py`` registers the pages and the thin callbacks;
``assets/wall.js`` runs the carousel, the screen scale and the emergency switch in the browser.
"""
