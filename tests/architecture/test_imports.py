"""The dependency rules of the layout (README, "Layout"): no import cycles at load
time, and the two apps use each other only through the modules each declares
public (PUBLIC_MODULES in its __init__.py), never a private name. `mail` is below
both apps and imports neither."""

import ast
from pathlib import Path

import mail
import newsletter
import subscribers
from tests.architecture.imports import boundary_violations, cycles, imports_of

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["config", "newsletter", "subscribers", "mail"]
PUBLIC = {
    "newsletter": set(newsletter.PUBLIC_MODULES),
    "subscribers": set(subscribers.PUBLIC_MODULES),
    "mail": set(mail.PUBLIC_MODULES),
}


def test_no_module_imports_itself_back_at_load_time():
    """Services import tasks; each task imports its service inside its body (the one
    allowed lazy edge), so no two modules need each other to load."""
    assert cycles(imports_of(ROOT, [*PACKAGES, "bench"])) == []


def test_the_apps_use_each_other_through_public_modules_and_names_only():
    assert boundary_violations(imports_of(ROOT, PACKAGES), PUBLIC) == []


def test_mail_imports_neither_app():
    found = [i for i in imports_of(ROOT, ["mail", "newsletter", "subscribers"])
             if i.importer.startswith("mail") and not i.module.startswith("mail")]
    assert found == []


def test_no_app_imports_the_tools_and_the_tools_take_no_private_name():
    """bench/ sits beside the product (STYLE.md §14): the apps never need it, and it
    drives them through their public functions only, so a refactoring of an app's
    internals cannot be held back (or silently broken) by the benchmark."""
    found = imports_of(ROOT, [*PACKAGES, "bench"])
    assert [f"{i.importer}:{i.line}" for i in found
            if i.module.split(".")[0] == "bench" and i.importer.split(".")[0] != "bench"] == []
    assert [f"{i.importer}:{i.line} imports {i.module}.{name}" for i in found
            if i.importer.split(".")[0] == "bench" and i.module.split(".")[0] != "bench"
            for name in i.names if name.startswith("_")] == []


# What a migration may take from the apps: the shared operations; a field's default
# (Django's own migrations name the model module's function); and the functions whose
# results the app looks rows up by, so the rows a migration rewrites must match the
# app's own, never a copy's (the suppression list's hashes, blocked domains' form).
MIGRATIONS_MAY_IMPORT = {"newsletter.migration_operations", "newsletter.models", "subscribers.models",
                         "subscribers.suppression", "subscribers.addresses"}


def test_migrations_take_nothing_else_from_the_apps():
    """A migration that imports the app's code changes with it: migration 0039 moved
    beat's intervals by schedules.interval_in_periods, so a later change there would
    have changed what 0039 does on a database that had not run it yet (it keeps its
    own copy now)."""
    found = []
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            found += [f"{path.parent.parent.name}/migrations/{path.name}:{node.lineno} imports {name}"
                      for name in names if name.split(".")[0] in PACKAGES and name not in MIGRATIONS_MAY_IMPORT]
    assert found == []


def test_declared_public_modules_exist():
    for app, names in PUBLIC.items():
        for name in names:
            assert (ROOT / app / f"{name.replace('.', '/')}.py").exists(), f"{app}.{name}"


# --- The checks themselves catch what they are for ------------------------------------


def _tree(tmp_path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_is_found_and_a_lazy_import_breaks_it(tmp_path):
    root = _tree(tmp_path, {
        "app/__init__.py": "",
        "app/services.py": "from .tasks import send\n",
        "app/tasks.py": "from . import services\n",
        "other/__init__.py": "",
        "other/services.py": "from other.tasks import send\n",
        "other/tasks.py": "def send():\n    from other import services\n",
    })
    assert cycles(imports_of(root, ["app", "other"])) == [["app.services", "app.tasks"]]


def test_a_private_name_or_a_module_not_declared_public_is_reported(tmp_path):
    root = _tree(tmp_path, {
        "a/__init__.py": "",
        "a/views.py": "from b.services import _helper, helper\nfrom b.models import Thing\n",
        "a/tasks.py": "def run():\n    from b.internal import x\n",
        "b/__init__.py": "",
        "b/services.py": "def helper(): ...\ndef _helper(): ...\n",
        "b/models.py": "Thing = 1\n",
        "b/internal.py": "x = 1\n",
    })
    problems = boundary_violations(
        imports_of(root, ["a", "b"]), {"a": set(), "b": {"services", "models"}}
    )
    assert sorted(problems) == [
        "a.tasks:2 imports b.internal, which b does not declare public",
        "a.views:1 imports b.services._helper, a private name",
    ]
