"""Tools in the admin: staff switch each registered tool on or off for the model.

The rows mirror the registry (``agents.tools.TOOLS``): none is added or deleted here, and
what a tool does and takes is shown from its code, read-only. A change takes effect on
the next reply in every process (the configuration snapshot's token).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from agents.models import ToolSetting
from agents.tools import TOOLS


@admin.register(ToolSetting)
class ToolSettingAdmin(admin.ModelAdmin):
    list_display = ("name", "what_it_does", "enabled", "updated_at")
    list_editable = ("enabled",)
    fields = ("name", "enabled", "what_it_does", "arguments", "timeout")
    readonly_fields = ("name", "what_it_does", "arguments", "timeout")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="What it does")
    def what_it_does(self, setting: ToolSetting) -> str:
        tool = TOOLS.get(setting.name)
        return tool.description if tool else "Not a registered tool: the model never sees it."

    @admin.display(description="Arguments (JSON schema)")
    def arguments(self, setting: ToolSetting) -> str:
        tool = TOOLS.get(setting.name)
        text = json.dumps(tool.parameters, indent=2) if tool else "—"
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="Time limit")
    def timeout(self, setting: ToolSetting) -> str:
        tool = TOOLS.get(setting.name)
        return f"{tool.timeout:g} seconds" if tool else "—"
