"""The throughput benchmark: FLOP counts, synthetic batches, the CPU run end to end, the CLI."""

import json

import pytest
import torch

from mlsearch.__main__ import main as cli_main
from mlsearch.errors import ConfigError
from mlsearch.model import MatchModel
from mlsearch.specials import PAD_ID
from mlsearch.tools import bench

torch.set_num_threads(1)
CPU = torch.device("cpu")


def test_flops_per_pair_match_the_outside_reference():
    assert round(bench.flops_per_pair(bench.CONFIGS["small"]) / 1e6) == 159
    assert round(bench.flops_per_pair(bench.CONFIGS["base"]) / 1e6) == 1239
    # by hand: 1 layer, d 2, ff 4, L 3 → 3·(8·4 + 4·2·4) + 4·9·2 = 192 + 72
    assert bench.encoder_flops(d=2, ff=4, layers=1, length=3) == 264
    assert bench.encoder_flops(d=2, ff=4, layers=3, length=3) == 3 * 264


def test_pool_has_realistic_padding():
    cfg = bench.CONFIGS["small"]
    q, t, y = bench.make_pool(cfg, 2000, seed=1)
    assert q.shape == (2000, 16) and t.shape == (2000, 48) and y.shape == (2000,)
    for ids, lo, hi in ((q, 2, 16), (t, 8, 48)):
        lengths = (ids != PAD_ID).sum(1)
        assert int(lengths.min()) == lo and int(lengths.max()) == hi
        # padding only at the end, [CLS] first, real ids within the vocabulary
        assert torch.equal(ids != PAD_ID, torch.arange(ids.shape[1]) < lengths[:, None])
        assert bool((ids[:, 0] == bench.CLS_ID).all()) and int(ids.max()) < cfg.vocab_size
    assert 0.3 < float(y.mean()) < 0.7
    assert torch.equal(bench.make_pool(cfg, 50, seed=1)[0], bench.make_pool(cfg, 50, seed=1)[0])


def test_bucketed_batches_are_trimmed_and_compute_the_same_function():
    cfg = bench.CONFIGS["tiny"]
    padded = bench.make_batches(cfg, 16, bucket=False, device=CPU)
    bucketed = bench.make_batches(cfg, 16, bucket=True, device=CPU)
    widths = [t.shape[1] for _, t, _ in bucketed]
    assert widths == sorted(widths) and widths[0] < cfg.title_len and all(w % 8 == 0 for w in widths)
    assert bench._padding(bucketed, cfg) < bench._padding(padded, cfg)
    torch.manual_seed(0)
    model = MatchModel(cfg.model_config(), {bench.LANG: cfg.vocab_size}).eval()
    q, t, _ = bucketed[0]
    wide_q = torch.nn.functional.pad(q, (0, cfg.query_len - q.shape[1]))
    wide_t = torch.nn.functional.pad(t, (0, cfg.title_len - t.shape[1]))
    with torch.no_grad():
        assert torch.allclose(model(bench.LANG, q, t), model(bench.LANG, wide_q, wide_t), atol=1e-5)


def test_modes_parse_and_reject_bad_input():
    modes = bench.parse_modes("fp32, bf16@4096", CPU, quick=False)
    assert [(m.name, b) for m, b in modes] == [("fp32", None), ("bf16", 4096)]
    assert [m.name for m, _ in bench.parse_modes(None, CPU, quick=False)] == ["fp32"]
    for bad in ("nope", "bf16@x", "bf16@0", "bf16-graphs", ""):
        with pytest.raises(ConfigError):
            bench.parse_modes(bad, CPU, quick=False)
    with pytest.raises(ConfigError):
        bench.parse_configs("tiny,huge")


def test_compiled_rows_run_last_and_batches_default_by_device():
    modes = bench.parse_modes("bf16-compile,fp32,bf16", CPU, quick=False)
    rows = bench.plan_rows([bench.CONFIGS["tiny"], bench.CONFIGS["small"]], modes, torch.device("cuda"), None)
    assert [(c.name, m.name, b) for c, m, b in rows] == [
        ("tiny", "fp32", 1024), ("tiny", "bf16", 8192), ("small", "fp32", 1024), ("small", "bf16", 8192),
        ("tiny", "bf16-compile", 8192), ("small", "bf16-compile", 8192),
    ]
    assert {b for _, _, b in bench.plan_rows([bench.CONFIGS["small"]], modes, CPU, None)} == {64}
    assert {b for _, _, b in bench.plan_rows([bench.CONFIGS["small"]], modes, CPU, 7)} == {7}


def test_headline_is_the_largest_config_fastest_training_row():
    rows = [
        {"config": "small", "mode": "bf16", "batch": 8, "path": "train", "pairs_per_s": 900.0, "tflops": 1.0},
        {"config": "base", "mode": "fp32", "batch": 4, "path": "train", "pairs_per_s": 10.0, "tflops": 0.1},
        {"config": "base", "mode": "bf16", "batch": 8, "path": "train", "pairs_per_s": 30.0, "tflops": 0.3},
        {"config": "base", "mode": "bf16-bucket", "batch": 8, "path": "candidate", "pairs_per_s": 99.0, "tflops": 0.9},
        {"config": "base", "mode": "bf16-compile", "batch": 8, "path": "compiled", "error": "out of memory"},
    ]
    h = bench.headline(rows, [bench.CONFIGS["small"], bench.CONFIGS["base"]])
    assert (h["config"], h["mode"], h["pairs_per_s"], h["reference_pairs_per_s"]) == ("base", "bf16", 30.0, 10.0)


def test_main_on_cpu_writes_json_and_markdown(tmp_path, capsys):
    assert bench.main(["--configs", "tiny", "--steps", "2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cpu.json").read_text())
    for key in ("device", "config", "pairs_per_s", "reference_pairs_per_s", "tflops", "peak_tflops", "rows"):
        assert key in result
    assert result["config"] == "tiny" and result["card"] == "cpu"
    assert result["pairs_per_s"] > 0 and result["reference_pairs_per_s"] > 0 and result["tflops"] > 0 and result["peak_tflops"] > 0
    (row,) = result["rows"]
    assert row["mode"] == "fp32" and row["steps"] == 2 and row["batch"] == bench.CONFIGS["tiny"].cpu_batch
    assert row["pairs_per_s"] > 0 and row["step_ms"] > 0 and 0 < row["share_of_peak"] and row["speedup"] == 1.0
    assert abs(row["tflops"] - row["pairs_per_s"] * bench.flops_per_pair(bench.CONFIGS["tiny"]) / 1e12) < 1e-12
    md = (tmp_path / "cpu.md").read_text()
    assert "| tiny |" in md and "pairs/s" in md
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("Note:") and "| tiny |" in out  # the table comes last


def test_rows_past_the_budget_are_skipped_and_recorded(tmp_path):
    assert bench.main(["--configs", "tiny", "--modes", "fp32,bf16", "--budget", "0", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cpu.json").read_text())
    assert [r["error"][:8] for r in result["rows"]] == ["skipped:", "skipped:"]
    assert result["pairs_per_s"] is None and result["config"] is None
    assert "skipped: past the 0 s budget" in (tmp_path / "cpu.md").read_text()


def test_cli_forwards_options_and_reports_errors_in_one_line(tmp_path, capsys):
    assert cli_main(["bench", "--modes", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown bench mode 'nope' (--modes)") and "\n" not in err
    assert not (tmp_path / "cpu.json").exists()


@pytest.mark.slow
def test_end_to_end_profile_is_timed(tmp_path):
    assert bench.main(["--configs", "tiny", "--steps", "1", "--warmup", "1", "--out", str(tmp_path), "--profile", "tiny"]) == 0
    e2e = json.loads((tmp_path / "cpu.json").read_text())["end_to_end"]
    assert e2e["profile"] == "tiny" and e2e["languages"] == ["en"] and e2e["pairs_per_s"] > 0
    assert {p.name for p in tmp_path.iterdir()} == {"cpu.json", "cpu.md"}  # the temporary run folder is gone


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_main_on_cuda(tmp_path):
    args = ["--configs", "tiny", "--modes", "fp32@256,bf16@256,bf16-bucket@256", "--steps", "3", "--out", str(tmp_path)]
    assert bench.main(args) == 0
    card = bench.card_slug(torch.device("cuda"))
    result = json.loads((tmp_path / f"{card}.json").read_text())
    assert "bf16" in result["peak_what"] and result["peak_tflops"] > 1
    assert all(r["pairs_per_s"] > 0 and r["peak_mem_gib"] > 0 for r in result["rows"])
    assert [r["path"] for r in result["rows"]] == ["train", "train", "candidate"]


def test_processes_option_rejects_bad_counts_before_training(capsys):
    for argv in (["--processes", "1,x"], ["--processes", "0"], ["--processes", "1,2", "--repeats", "0"]):
        assert cli_main(["bench", *argv]) == 2
        assert capsys.readouterr().err.startswith("error: ")
