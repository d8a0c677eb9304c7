"""Specs: walls (and later briefings) described as versioned, validated data (``model``), read from
the shipped files and the database (``store``)."""
