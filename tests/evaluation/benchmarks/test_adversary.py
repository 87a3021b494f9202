"""`splatsim bench adversary`: sampling medians for both settings and their ratio (the Ray
throughput part is exercised by the generation tests)."""

from evaluation.benchmarks.adversary import measure_adversary


def test_bench_adversary_times_both_sampling_settings(demo_dataroot):
    out = measure_adversary(demo_dataroot, scenes=("scene-demo-0002",), repeats=1, throughput=False)
    s = out["sampling"]
    assert 0 < s["shipped_ddim"]["median_s"] < s["ddpm_50_steps"]["median_s"]
    assert s["ddpm_50_over_shipped"] > 1.0
    assert s["ddpm_50_steps"]["denoising_steps"] == 50
