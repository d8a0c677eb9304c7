"""Pure functions turning query frames into pydeck layers and plotly traces, one class per layer type."""
