"""Screens of the xrdtui app: runs browser, live monitor, match table, run detail, landscape, help."""
