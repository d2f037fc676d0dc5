"""make bench's busy-machine label: judged from the load before the bench, allowing for its own thread."""

from mcl_caffe.bench.speed_report import machine_was_busy


def test_an_idle_machine_is_not_busy_although_the_bench_itself_loads_one_core():
    assert not machine_was_busy([0.1, 0.3, 0.4], [1.02, 0.6, 0.5])


def test_load_before_the_bench_or_a_second_job_during_it_is_busy():
    assert machine_was_busy([1.4, 1.8, 1.9], [1.0, 1.0, 1.0])
    assert machine_was_busy([0.2, 0.2, 0.2], [2.1, 1.2, 0.8])
