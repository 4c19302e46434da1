"""The staff groups: "Prompt editors" edit and submit prompts, edit rules and guard
patterns and read transcripts; "Prompt publishers" may also publish and roll back.

Permissions are made by ``post_migrate``, after every migration; on a fresh database they
do not exist yet here, so they are made first. Running again only adds what is missing.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "Prompt editors"
PUBLISHERS = "Prompt publishers"
EDITOR_PERMISSIONS = [
    ("agents", "view_prompt"),
    ("agents", "change_prompt"),
    *[
        ("agents", f"{action}_{model}")
        for model in ("rule", "guardpattern")
        for action in ("view", "add", "change", "delete")
    ],
    ("agents", "view_run"),
    ("agents", "view_step"),
    ("chat", "view_conversation"),
    ("chat", "view_message"),
]
PUBLISHER_PERMISSIONS = [*EDITOR_PERMISSIONS, ("agents", "publish_prompt")]


def make_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in ((EDITORS, EDITOR_PERMISSIONS), (PUBLISHERS, PUBLISHER_PERMISSIONS)):
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in wanted:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0003_prompt_review"),
        ("chat", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_groups, migrations.RunPython.noop)]
