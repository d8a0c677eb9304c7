"""The data catalogue (/catalog): what each spec's panels read, the filter from the URL, the tables.

``view`` holds the rendering shared with the overview's catalogue table (``app/pages/home.py``);
the page module (``app/pages/catalog.py``) only registers the page and its callbacks.
"""
