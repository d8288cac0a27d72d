"""Recovery methods: one registry (:mod:`xrdtui.methods.registry`) whose entries every layer consults, the
batch records a method's ``run`` takes and returns (:mod:`xrdtui.methods.batch`), and the built-in entries
(:mod:`xrdtui.methods.builtin`, registered on first lookup). Adding a method is one ``register_method``
call with its own engine routine; nothing else in the project names it.
"""

from xrdtui.methods.registry import (
    METHODS,
    Method,
    SettingsTable,
    all_methods,
    get_method,
    is_energy_objective,
    is_kind,
    method_info,
    method_rank,
    register_method,
    register_table,
    settings_tables,
    steps_from,
)

__all__ = [
    "METHODS",
    "Method",
    "SettingsTable",
    "all_methods",
    "get_method",
    "is_energy_objective",
    "is_kind",
    "method_info",
    "method_rank",
    "register_method",
    "register_table",
    "settings_tables",
    "steps_from",
]
