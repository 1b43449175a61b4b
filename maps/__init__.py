"""Map layers from PostGIS: the demo city's base map, and (later) vector tiles and offline areas."""
