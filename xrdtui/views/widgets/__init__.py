"""Widgets of the xrdtui app: plots (plotext), the landscape heatmap and small panels."""
