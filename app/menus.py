"""The daily menus list each screen once: the raw record tables behind a daily screen (the call log
behind "Log a call", the jobs table behind the pipeline board, ...) move to one "Records" menu,
which only the people allowed to open those tables see (admins, and whoever the matrix lets read them)."""
from __future__ import annotations

RECORDS = "Records"
# category -> labels of the raw tables that duplicate one of its daily screens
DUPLICATES = {
    "Support": ("Calls", "Tickets", "Requests"),
    "Installations": ("Installation jobs",),
    "WhatsApp": ("Message log",),
    "Chargers": ("Sessions",),
}


def tidy_menus(appbuilder) -> None:
    """Run after every view is registered and before the categories are granted."""
    moved = []
    for item in appbuilder.menu.menu:
        labels = DUPLICATES.get(item.name)
        if not labels:
            continue
        keep = []
        for child in item.childs:
            if str(child.label) in labels and not child.href:  # a model view's list, not a daily screen's link
                child.label = f"{'Charging sessions' if str(child.label) == 'Sessions' else child.label} (all records)"
                moved.append(child)
            else:
                keep.append(child)
        item.childs = keep
    if moved:
        appbuilder.menu.add_category(RECORDS, icon="fa-database", label="Records")
        appbuilder.menu.find(RECORDS).childs.extend(moved)
        if appbuilder.app.config.get("FAB_UPDATE_PERMS", True):
            appbuilder.sm.add_permissions_menu(RECORDS)
