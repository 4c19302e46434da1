from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentsConfig(AppConfig):
    name = "agents"

    def ready(self) -> None:
        from agents.pipeline import cache, config  # noqa: F401  (connect their signals)
        from agents.prompting import prompts_install_shipped
        from agents.tools.settings import tools_install

        post_migrate.connect(prompts_install_shipped, sender=self, dispatch_uid="agents-prompts")
        post_migrate.connect(tools_install, sender=self, dispatch_uid="agents-tools")
