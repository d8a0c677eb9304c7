"""Pages of the app: each module calls ``dash.register_page``; ``create_app`` loads them all."""
