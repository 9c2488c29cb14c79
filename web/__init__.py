"""Static browser files of Tukilinja (HTML, ES modules, CSS, translation catalogs).

There is no Python code here; the package exists so that the files ship as package data
and the gateway can locate them with ``importlib.resources.files("web")``.
"""
