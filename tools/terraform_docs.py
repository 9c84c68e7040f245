"""Generate the reference part of terraform/README.md from the module's .tf files.

The sections terraform-docs writes (Requirements, Providers, Modules, Resources, Inputs, Outputs)
go between ``<!-- BEGIN_TASKQUEUE_DOCS -->`` and ``<!-- END_TASKQUEUE_DOCS -->``: markers of this
project's own, so that a platform repository's terraform-docs pre-commit hook, which rewrites what
lies between its ``BEGIN_TF_DOCS`` markers, leaves them alone. ``python -m tools.terraform_docs``
rewrites the README; ``--check`` only reports whether it is stale (exit status 1), for CI.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE_DIR = REPO_ROOT / "terraform"
BEGIN = "<!-- BEGIN_TASKQUEUE_DOCS -->"
END = "<!-- END_TASKQUEUE_DOCS -->"
REGISTRY_DOCS = "https://registry.terraform.io/providers/{source}/latest/docs/{kind}/{name}"

# Expressions as inline HCL text, strings with their quotes: what a reader would write.
_OPTIONS = SerializationOptions(
    with_comments=False,
    explicit_blocks=False,
    preserve_heredocs=False,
    wrap_objects=True,
    wrap_tuples=True,
)


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str
    default: str | None  # HCL text; None when the variable is required

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Output:
    name: str
    description: str


@dataclass(frozen=True)
class Requirement:
    name: str  # "terraform" or a provider's local name
    source: str | None  # a provider's source address; None for Terraform itself
    version: str


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    data: bool  # a data source

    @property
    def address(self) -> str:
        return f"{'data.' if self.data else ''}{self.type}.{self.name}"


@dataclass(frozen=True)
class ModuleCall:
    name: str
    source: str


def _unquote(text: str) -> str:
    """The value of an HCL string literal (quoted, escaped) as python-hcl2 renders it."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        return re.sub(r'\\(["\\nrt])', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), body)
    return text


def _expression(value: Any) -> str:
    """HCL text of an attribute value: ``${...}`` unwrapped, null and booleans spelled as in HCL."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


def _load(path: Path) -> dict[str, Any]:
    with path.open() as file:
        return dict(hcl2.load(file, serialization_options=_OPTIONS))


def _blocks(document: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    blocks = []
    for block in document.get(kind, []):
        for label, body in block.items():
            blocks.append((_unquote(label), body))
    return blocks


def read_variables(module_dir: Path = MODULE_DIR) -> list[Variable]:
    variables = []
    for name, body in _blocks(_load(module_dir / "variables.tf"), "variable"):
        variables.append(
            Variable(
                name=name,
                description=_unquote(str(body.get("description", ""))),
                type=_expression(body.get("type", "any")),
                default=_expression(body["default"]) if "default" in body else None,
            )
        )
    return variables


def read_outputs(module_dir: Path = MODULE_DIR) -> list[Output]:
    return [
        Output(name=name, description=_unquote(str(body.get("description", ""))))
        for name, body in _blocks(_load(module_dir / "outputs.tf"), "output")
    ]


def read_requirements(module_dir: Path = MODULE_DIR) -> list[Requirement]:
    """Terraform's and each provider's version constraint, from the module's terraform block (if any)."""
    if not (module_dir / "versions.tf").is_file():
        return []
    with (module_dir / "versions.tf").open() as file:
        document = hcl2.load(file)
    requirements: list[Requirement] = []
    for block in document.get("terraform", []):
        if "required_version" in block:
            requirements.append(Requirement("terraform", None, _unquote(block["required_version"])))
        for providers in block.get("required_providers", []):
            for name, provider in providers.items():
                if isinstance(provider, dict):
                    requirements.append(Requirement(name, _unquote(provider["source"]), _unquote(provider["version"])))
    return requirements


def read_resources(module_dir: Path = MODULE_DIR) -> list[Resource]:
    """Every resource and data source of the module, as terraform-docs lists them."""
    resources: list[Resource] = []
    for path in sorted(module_dir.glob("*.tf")):
        document = _load(path)  # parsed once for both kinds: the parse is the slow part
        for kind, data in (("resource", False), ("data", True)):
            for type_name, body in _blocks(document, kind):
                resources.extend(Resource(type_name, _unquote(name), data) for name in body)
    return resources


def read_module_calls(module_dir: Path = MODULE_DIR) -> list[ModuleCall]:
    """Every module block of the module (its local child modules), as terraform-docs lists them."""
    calls: list[ModuleCall] = []
    for path in sorted(module_dir.glob("*.tf")):
        for name, body in _blocks(_load(path), "module"):
            calls.append(ModuleCall(name, _unquote(body["source"])))
    return calls


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    # A backtick inside code is rare in HCL; a double-backtick span keeps it intact.
    text = _cell(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _docs_link(resource: Resource, requirements: list[Requirement]) -> str:
    provider = resource.type.split("_", 1)[0]
    source = next((requirement.source for requirement in requirements if requirement.name == provider), None)
    if source is None:
        return f"`{resource.address}`"
    kind = "data-sources" if resource.data else "resources"
    url = REGISTRY_DOCS.format(source=source, kind=kind, name=resource.type.split("_", 1)[1])
    return f"[{resource.address}]({url})"


def render(
    variables: list[Variable],
    outputs: list[Output],
    requirements: list[Requirement] | None = None,
    resources: list[Resource] | None = None,
    module_calls: list[ModuleCall] | None = None,
) -> str:
    requirements = requirements or []
    lines = [
        BEGIN,
        "<!-- Generated from the module's .tf files by `make docs` (tools/terraform_docs.py). -->",
        "",
        "### Requirements",
        "",
        "| Name | Version |",
        "|------|---------|",
    ]
    lines += [f"| {requirement.name} | `{_cell(requirement.version)}` |" for requirement in requirements]
    lines += ["", "### Providers", "", "| Name | Version |", "|------|---------|"]
    lines += [f"| {req.name} | `{_cell(req.version)}` |" for req in requirements if req.source is not None]
    lines += ["", "### Modules", ""]
    if module_calls:
        lines += ["| Name | Source | Version |", "|------|--------|---------|"]
        lines += [
            f"| {call.name} | `{_cell(call.source)}` | n/a |" for call in sorted(module_calls, key=lambda c: c.name)
        ]
    else:
        lines.append("No modules.")
    lines += ["", "### Resources", "", "| Name | Type |", "|------|------|"]
    for resource in sorted(resources or [], key=lambda resource: (resource.data, resource.type, resource.name)):
        lines.append(f"| {_docs_link(resource, requirements)} | {'data source' if resource.data else 'resource'} |")
    lines += [
        "",
        "### Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for variable in sorted(variables, key=lambda v: (not v.required, v.name)):
        default = "n/a" if variable.default is None else _code(variable.default)
        required = "yes" if variable.required else "no"
        description = _cell(variable.description)
        lines.append(f"| `{variable.name}` | {description} | {_code(variable.type)} | {default} | {required} |")
    lines += ["", "### Outputs", "", "| Name | Description |", "|------|-------------|"]
    for output in sorted(outputs, key=lambda o: o.name):
        lines.append(f"| `{output.name}` | {_cell(output.description)} |")
    lines.append(END)
    return "\n".join(lines)


def render_module(module_dir: Path = MODULE_DIR) -> str:
    """The reference part of a module's README, from its .tf files."""
    return render(
        read_variables(module_dir),
        read_outputs(module_dir),
        read_requirements(module_dir),
        read_resources(module_dir),
        read_module_calls(module_dir),
    )


def update(readme: str, tables: str) -> str:
    """``readme`` with the text between the markers replaced by ``tables``."""
    start = readme.find(BEGIN)
    end = readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {BEGIN} ... {END} section")
    return readme[:start] + tables + readme[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", type=Path, default=MODULE_DIR, help="the module directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale, change nothing")
    args = parser.parse_args(argv)
    readme_path = args.module / "README.md"
    readme = readme_path.read_text()
    fresh = update(readme, render_module(args.module))
    if fresh == readme:
        return 0
    if args.check:
        print(f"{readme_path} is stale: run `make docs`", file=sys.stderr)
        return 1
    readme_path.write_text(fresh)
    print(f"updated {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
