"""Loading a utility's own network and customers (GeoJSON, CSV) and giving them back (export).

One code path for `faultline import` and the administrator's upload page: server.imports.service.
"""
