"""Dash application of cityops: the factory, pages and thin callbacks (``app → layers → queries``)."""
