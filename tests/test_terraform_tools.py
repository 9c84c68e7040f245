"""tools/terraform.py (provider mirror, CLI configuration) and tools/terraform_docs.py, without terraform."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools import terraform as tf
from tools import terraform_docs

REPO_ROOT = Path(__file__).resolve().parent.parent


def _mirror(root: Path) -> Path:
    (root / tf.PROVIDER / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return root


def test_module_readme_tables_are_current() -> None:
    readme = (REPO_ROOT / "terraform" / "README.md").read_text()
    assert terraform_docs.update(readme, terraform_docs.render_module()) == readme, (
        "terraform/README.md is stale: run `make docs`"
    )


def test_readme_leaves_terraform_docs_markers_to_terraform_docs() -> None:
    """A platform repository's terraform-docs hook rewrites what lies between BEGIN_TF_DOCS and END_TF_DOCS:
    with those markers it would replace the generated tables with its own, and the staleness check would fail."""
    readme = (REPO_ROOT / "terraform" / "README.md").read_text()
    assert "BEGIN_TF_DOCS" not in readme and "END_TF_DOCS" not in readme
    assert terraform_docs.BEGIN in readme and terraform_docs.END in readme


def test_docs_have_the_sections_terraform_docs_writes() -> None:
    text = terraform_docs.render_module()
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Requirements",
        "### Providers",
        "### Modules",
        "### Resources",
        "### Inputs",
        "### Outputs",
    ]
    assert "| terraform | `>= 1.5` |" in text
    floor = next(req.version for req in terraform_docs.read_requirements() if req.name == "aws")
    assert f"| aws | `{floor}` |" in text
    assert (
        "| [aws_sqs_queue.this](https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/sqs_queue)"
        " | resource |"
    ) in text
    assert (
        "| [data.aws_partition.current](https://registry.terraform.io/providers/hashicorp/aws/latest/docs/data-sources/partition)"
        " | data source |"
    ) in text


def test_docs_list_every_resource_of_the_module() -> None:
    addresses = {resource.address for resource in terraform_docs.read_resources()}
    assert {"aws_sqs_queue.this", "terraform_data.worker_settings", "aws_cloudwatch_dashboard.this"} <= addresses
    assert "data.aws_partition.current" in addresses
    # The functions' own resources are the child module's: terraform-docs lists the calls instead.
    assert "aws_lambda_function.worker" not in addresses


def test_docs_list_the_module_calls() -> None:
    calls = {call.name: call.source for call in terraform_docs.read_module_calls()}
    assert calls == {"consumer": "./modules/function", "worker": "./modules/function"}
    text = terraform_docs.render_module()
    assert "| worker | `./modules/function` | n/a |" in text
    assert "No modules." not in text


def test_docs_list_every_variable_and_output() -> None:
    variables = {variable.name: variable for variable in terraform_docs.read_variables()}
    outputs = {output.name for output in terraform_docs.read_outputs()}
    assert variables["name"].required
    assert variables["schedule_expression"].default == '"rate(1 minute)"'
    assert variables["consumer_package"].default == "null"
    assert variables["trigger_mode"].description.startswith("How tasks reach the worker")
    assert all(variable.description for variable in variables.values())
    assert {"queue_url", "producer_policy_json", "schedule_rule_arn", "idempotency_table_name"} <= outputs


def test_docs_update_needs_markers() -> None:
    with pytest.raises(ValueError, match=terraform_docs.BEGIN):
        terraform_docs.update("# no markers\n", "tables")


def test_docs_check_reports_a_stale_readme(tmp_path: Path) -> None:
    module = tmp_path / "module"
    module.mkdir()
    (module / "variables.tf").write_text('variable "a" {\n  description = "The \\"a\\"."\n  type = string\n}\n')
    (module / "outputs.tf").write_text('output "b" {\n  description = "B | pipe."\n  value = 1\n}\n')
    (module / "README.md").write_text(f"# M\n\n{terraform_docs.BEGIN}\n{terraform_docs.END}\n")
    assert terraform_docs.main(["--module", str(module), "--check"]) == 1
    assert terraform_docs.main(["--module", str(module)]) == 0
    assert terraform_docs.main(["--module", str(module), "--check"]) == 0
    readme = (module / "README.md").read_text()
    assert '| `a` | The "a". | `string` | n/a | yes |' in readme
    assert "| `b` | B \\| pipe. |" in readme


def test_planned_change_names_the_attributes_that_differ() -> None:
    change = tf.planned_change(
        {
            "address": "module.task_queue.aws_lambda_function.worker[0]",
            "type": "aws_lambda_function",
            "change": {
                "actions": ["update"],
                "before": {"timeout": 30, "logging_config": [], "tags": {}},
                "after": {"timeout": 30, "logging_config": [{"log_format": "JSON"}], "tags": {}},
                "after_unknown": {"last_modified": True, "tags": False},
            },
        }
    )
    assert change == tf.PlannedChange(
        address="module.task_queue.aws_lambda_function.worker[0]",
        resource_type="aws_lambda_function",
        actions=("update",),
        attributes=("last_modified", "logging_config"),
    )


def test_planned_change_skips_no_ops_and_reads() -> None:
    for actions in (["no-op"], ["read"]):
        entry = {"address": "a.b", "type": "a", "change": {"actions": actions, "before": {}, "after": {}}}
        assert tf.planned_change(entry) is None


def test_mirror_from_the_environment(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "mirror")
    assert tf.find_provider_mirror({tf.MIRROR_ENV: str(mirror), "HOME": str(tmp_path)}) == mirror.resolve()


def test_mirror_from_the_environment_must_hold_the_provider(tmp_path: Path) -> None:
    with pytest.raises(tf.TerraformUnavailable, match=tf.MIRROR_ENV):
        tf.find_provider_mirror({tf.MIRROR_ENV: str(tmp_path), "HOME": str(tmp_path)})


def test_implied_mirror_directories(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_DIRS": f"{tmp_path}/a:{tmp_path}/b"}
    assert tf.implied_mirror_dirs(env) == [
        tmp_path / ".terraform.d" / "plugins",
        tmp_path / ".local" / "share" / "terraform" / "plugins",
        tmp_path / "a" / "terraform" / "plugins",
        tmp_path / "b" / "terraform" / "plugins",
    ]
    mirror = _mirror(tmp_path / "b" / "terraform" / "plugins")
    assert tf.find_provider_mirror(env) == mirror.resolve()


def test_search_finds_a_mirror_within_its_depth(tmp_path: Path) -> None:
    mirror = _mirror(tmp_path / "tools" / "terraform" / "mirror")
    assert tf.search_mirror([tmp_path], max_depth=3) == mirror
    assert tf.search_mirror([tmp_path], max_depth=2) is None


def test_search_skips_links_hidden_and_large_trees(tmp_path: Path) -> None:
    elsewhere = _mirror(tmp_path / "elsewhere")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    _mirror(root / ".hidden")
    _mirror(root / "node_modules" / "x")
    assert tf.search_mirror([root]) is None


def test_search_stops_at_its_directory_budget(tmp_path: Path) -> None:
    for index in range(20):
        (tmp_path / f"d{index:02}" / "x").mkdir(parents=True)
    mirror = _mirror(tmp_path / "zz" / "mirror")
    assert tf.search_mirror([tmp_path], max_directories=5) is None
    assert tf.search_mirror([tmp_path]) == mirror


def test_cli_config_installs_from_the_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / 'odd "path" ${x}'
    path = tf.write_cli_config(mirror, tmp_path / "build" / "cli.tfrc")
    text = path.read_text()
    assert "filesystem_mirror {" in text
    assert 'path    = "' + str(tmp_path) + '/odd \\"path\\" $${x}"' in text
    assert f'include = ["{tf.PROVIDER}"]' in text
    assert f'exclude = ["{tf.PROVIDER}"]' in text
    assert tf.write_cli_config(mirror, path) == path


def test_setup_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(tf.TerraformUnavailable, match="terraform CLI is not on PATH"):
        tf.setup(tmp_path, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})


def test_commands_run_with_their_environment(tmp_path: Path) -> None:
    """The Terraform wrapper swaps in its environment for the command only."""
    script = tmp_path / "terraform"
    script.write_text('#!/bin/sh\necho "$TF_CLI_CONFIG_FILE $TF_DATA_DIR $1"\n')
    script.chmod(0o755)
    setup = tf.TerraformSetup(
        binary=str(script),
        mirror=tmp_path,
        cli_config=tmp_path / "cli.tfrc",
        env={"TF_CLI_CONFIG_FILE": "/config"},
    )
    terraform = setup.terraform(tmp_path, data_dir=tmp_path / "data")
    before = dict(os.environ)
    assert tf.run(terraform, "version").split() == ["/config", str(tmp_path / "data"), "version"]
    assert dict(os.environ) == before
    script.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    with pytest.raises(tf.TerraformError, match="exited with 3") as failure:
        tf.run(terraform, "plan")
    assert failure.value.stderr == "broken\n"
