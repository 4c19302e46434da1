"""The shipped prompts (``agents/prompts/<key>.txt``) as version 1, published.

A prompt that exists already is left alone, so a deploy never overwrites staff's changes.
"""

from pathlib import Path

from django.db import migrations

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


def load_prompts(apps, schema_editor):
    Prompt = apps.get_model("agents", "Prompt")
    PromptVersion = apps.get_model("agents", "PromptVersion")
    for path in sorted(PROMPTS_DIR.glob("*.txt")):
        prompt, created = Prompt.objects.get_or_create(key=path.stem)
        if created:
            PromptVersion.objects.create(
                prompt=prompt,
                number=1,
                text=path.read_text(encoding="utf-8").strip(),
                note="shipped with Orion",
                published=True,
            )


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(load_prompts, migrations.RunPython.noop)]
