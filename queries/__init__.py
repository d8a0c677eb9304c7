"""Data layer of cityops: settings, schema, migrations, ingest, demo city and read queries.

Nothing here imports dash, plotly or pydeck. Functions take an SQLAlchemy engine or connection
and return (Geo)DataFrames or plain values, the way ``geopandas.read_postgis(sql, con)`` does.
"""
