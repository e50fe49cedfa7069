"""Sweeps (grid points, checks, planned jobs) and the selection rule, by hand."""

import pytest

from clearbench.errors import UserError
from clearbench.report import build_report
from clearbench.report.entries import ReportEntry
from clearbench.report.selection import Selection, choose, select
from clearbench.run import sweep
from clearbench.run.config import load_config
from clearbench.run.pipeline import Pipeline


def test_points_are_every_combination_in_key_order():
    assert sweep.points({}) == [{}]
    assert sweep.points({"learning_rate": [1, 2], "beta": [0.1, 0.5]}) == [
        {"learning_rate": 1, "beta": 0.1},
        {"learning_rate": 1, "beta": 0.5},
        {"learning_rate": 2, "beta": 0.1},
        {"learning_rate": 2, "beta": 0.5},
    ]
    assert sweep.label({"beta": 0.5, "epochs": 2}) == "[beta=0.5,epochs=2]" and sweep.label({}) == ""


def test_a_point_sets_training_settings_and_hyperparameters():
    section = load_config(None, ["unlearn.methods=[npo]", "unlearn.hparams={npo: {beta: 0.2}}"]).unlearn
    options, hparams = sweep.apply(section, "npo", {"learning_rate": "1e-4", "alpha": 2.0})
    assert options.learning_rate == 1e-4 and section.learning_rate == 3e-4  # coerced, section untouched
    assert hparams == {"beta": 0.2, "alpha": 2.0}


def test_a_method_s_own_training_settings_apply_to_it_alone_and_a_point_overrides_them():
    section = load_config(
        None, ["unlearn.methods=[ga, rmu]", "unlearn.hparams={rmu: {learning_rate: 2e-3, alpha: 10}}"]
    ).unlearn
    options, hparams = sweep.apply(section, "rmu", {})
    assert options.learning_rate == 2e-3 and hparams == {"alpha": 10}
    assert sweep.apply(section, "ga", {}) == (section, {})
    options, hparams = sweep.apply(section, "rmu", {"learning_rate": 1e-4, "alpha": 5})
    assert options.learning_rate == 1e-4 and hparams == {"alpha": 5}


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("grid", "{ga: {learning_rate: [1e-4]}}", "'ga' is not in unlearn.methods"),
        ("grid", "{npo: {}}", "must map settings to lists"),
        ("grid", "{npo: {beta: []}}", "'unlearn.grid.npo.beta' must be a non-empty list"),
        ("grid", "{npo: {betta: [1]}}", "point [betta=1]: method 'npo' has no hyperparameter 'betta'"),
        (
            "grid",
            "{npo: {learning_rate: [-1]}}",
            "'unlearn.grid.npo.learning_rate' must be a positive number",
        ),
        ("grid", "{npo: {methods: [[ga]]}}", "'unlearn.grid.npo.methods': a grid sweeps training settings"),
        (
            "hparams",
            "{npo: {learning_rate: -1}}",
            "'unlearn.hparams.npo.learning_rate' must be a positive number",
        ),
        (
            "hparams",
            "{npo: {methods: [ga]}}",
            "'unlearn.hparams.npo.methods': a method's entry sets training",
        ),
        ("hparams", "{npo: 5}", "'unlearn.hparams.npo' must map settings to values"),
    ],
)
def test_bad_grids_and_per_method_settings_are_refused_before_anything_runs(key, value, message):
    with pytest.raises(UserError) as error:
        load_config(None, ["unlearn.methods=[npo]", f"unlearn.{key}={value}"])
    assert message in str(error.value)


@pytest.mark.parametrize(
    "override, message",
    [
        ("selection.rule=best", "unknown rule 'best'"),
        ("selection.forget_quality=accuracy", "'accuracy' is not a computed metric"),
        ("selection.utility_fraction=1.5", "must be in (0, 1]"),
    ],
)
def test_bad_selection_rules_are_refused(override, message):
    with pytest.raises(UserError) as error:
        load_config(None, [override])
    assert message in str(error.value)


def test_the_pipeline_plans_one_unlearning_job_per_point_and_seed(tmp_path):
    config = load_config(
        None, ["unlearn.methods=[ga, npo]", "unlearn.grid={npo: {beta: [0.1, 0.5]}}", "seeds.unlearn=[0, 1]"]
    )
    pipeline = Pipeline(config, tmp_path, log=lambda line: None)
    pipeline.data_revision = "sha256:test"
    runs = [run for run in pipeline.plan_training() if run.kind == "unlearned"]
    assert [run.name for run in runs] == [
        "ga~u0", "npo[beta=0.1]~u0", "npo[beta=0.5]~u0", "ga~u1", "npo[beta=0.1]~u1", "npo[beta=0.5]~u1",
    ]  # fmt: skip
    assert runs[2].job.spec["hparams"] == {"beta": 0.5} and runs[2].group == "npo[beta=0.5]"
    assert len({run.job.key for run in runs}) == 6


def _point(name, fq, utility, kind="unlearned", method="npo", point=None):
    return ReportEntry(name, kind, method=method if kind == "unlearned" else None, point=point,
                       metrics={"forget_quality_js": fq, "model_utility": utility, "tasks": {}})  # fmt: skip


def test_fq_at_utility_takes_the_best_forgetting_that_keeps_95_percent_of_the_utility():
    target = _point("target", 0.0, 0.60, kind="target")
    points = [_point("a", 0.9, 0.50), _point("b", 0.4, 0.58), _point("c", 0.3, 0.59)]
    # 0.95 × 0.60 = 0.57: a (0.50) is out; of b and c, b forgets better.
    assert choose(points, target, Selection())[0].name == "b"
    assert choose(points, target, Selection(utility_fraction=0.8))[0].name == "a"  # floor 0.48
    # No point at 0.99 × 0.60 = 0.594: the most useful one, said so.
    pick, why = choose(points, target, Selection(utility_fraction=0.99))
    assert pick.name == "c" and "no point keeps" in why


def test_mean_fq_utility_ranks_on_the_mean_of_both():
    points = [_point("a", 0.9, 0.50), _point("b", 0.4, 0.58)]  # means 0.70 and 0.49
    assert choose(points, None, Selection(rule="mean_fq_utility"))[0].name == "a"


def test_the_leaderboard_shows_the_selected_point_and_the_report_every_point(tmp_path):
    entries = [
        _point("target", 0.0, 0.60, kind="target"),
        _point("npo[beta=0.1]", 0.9, 0.50, point={"beta": 0.1}),
        _point("npo[beta=0.5]", 0.4, 0.58, point={"beta": 0.5}),
        _point("ga", 0.2, 0.3, method="ga"),
    ]
    shown, table = select(entries, Selection())
    assert [e.name for e in shown] == ["target", "npo[beta=0.5]", "ga"]
    assert [row[0] for row in table.rows] == ["npo[beta=0.1]", "npo[beta=0.5]"]
    assert table.rows[1][3].startswith("selected")
    build_report(entries, tmp_path)
    assert "npo[beta=0.1]" not in (tmp_path / "leaderboard.csv").read_text()
    assert "selected" in (tmp_path / "sweep.csv").read_text() and (tmp_path / "plots" / "sweep.png").is_file()


TRAJECTORY = [
    "data.persons=5",
    "pretrain.max_steps=3",
    "finetune.max_steps=4",
    "unlearn.methods=[ga]",
    "unlearn.epochs=3",
    "eval.max_rows=2",
    "eval.max_new_tokens=4",
    "eval.bootstrap=0",
    "attack.attacks=[]",
]


@pytest.mark.slow
def test_a_trajectory_evaluates_every_epoch_and_leaves_training_untouched(tmp_path):
    import json

    from safetensors.torch import load_file

    from clearbench.jobs import job_states
    from clearbench.jobs.job import output

    Pipeline(load_config(None, TRAJECTORY + ["unlearn.trajectory=true"]), tmp_path / "t", log=print).run()
    Pipeline(load_config(None, TRAJECTORY), tmp_path / "plain", log=print).run()

    def job(run, name):
        return output(run, next(j["key"] for j in job_states(run) if j["name"] == name))

    ga = job(tmp_path / "t", "ga")
    assert sorted(p.name for p in (ga / "epochs").iterdir()) == ["1", "2"]
    weights = {name: load_file(path / "model.safetensors") for name, path in (
        ("epoch 1", ga / "epochs" / "1"), ("epoch 2", ga / "epochs" / "2"), ("final", ga),
        ("without trajectory", job(tmp_path / "plain", "ga")),
    )}  # fmt: skip

    def same(a, b):
        return all((weights[a][k] == weights[b][k]).all() for k in weights[a])

    assert same("final", "without trajectory")  # saving snapshots changed nothing in training
    assert not same("epoch 1", "epoch 2") and not same("epoch 2", "final")
    metrics = {p.stem for p in (tmp_path / "t" / "metrics").glob("*.json")}
    assert {"ga[epoch=1]", "ga[epoch=2]", "ga"} <= metrics
    sweep_rows = (tmp_path / "t" / "report" / "sweep.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in sweep_rows] == ["ga", "ga[epoch=1]", "ga[epoch=2]"]
    assert sum("selected" in row for row in sweep_rows) == 1
    entry = next(r for r in json.loads((tmp_path / "t" / "runs.json").read_text()) if r["name"] == "ga")
    assert entry["point"] == {"epoch": 3.0}
