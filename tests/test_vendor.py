"""Wheels vendored for an endpoint without a route to a package index (serving.vendor): for the image's Python,
which is not this machine's (the PyTorch 2.x images run 3.10)."""

from __future__ import annotations

import pytest
from endpoint_runbook.serving import vendor


def test_a_wheel_is_pure_only_with_python_3_none_any_tags():
    assert vendor._pure("tabulate-0.9.0-py3-none-any.whl")
    assert vendor._pure("six-1.16.0-py2.py3-none-any.whl")
    assert not vendor._pure("ujson-5.10.0-cp311-cp311-linux_x86_64.whl")
    assert not vendor._pure("cffi-1.16.0-cp310-none-any.whl")  # CPython 3.10 only
    assert vendor._canonical("zope_interface-6.0-cp310-cp310-manylinux_2_17_x86_64.whl") == "zope-interface"


def test_the_wheels_are_the_images_python_not_this_machines(env21, tmp_path):
    """A compiled package comes as the image's CPython 3.10 manylinux wheel (pip on this 3.11 machine would build or
    pick a cp311 one, which the image's pip refuses); a pure one as it is; nothing the image ships."""
    assert vendor.image_python(env21) == "3.10"
    got = vendor.vendor_wheels(env21, "ujson==5.10.0\ntabulate==0.9.0\nsix\n", None, tmp_path / "wheels")
    files = {w["name"]: w["file"] for w in got}
    assert set(files) == {"ujson", "tabulate"}, files  # six: the image ships it
    assert "-cp310-cp310-manylinux" in files["ujson"], files
    assert files["tabulate"] == "tabulate-0.9.0-py3-none-any.whl"
    assert all((tmp_path / "wheels" / f).stat().st_size > 0 for f in files.values())


def test_a_release_with_no_wheel_for_the_images_python_is_refused_not_vendored(env21, tmp_path):
    """A compiled release that publishes no cp310 wheel (ujson 1.35: an sdist only) is built here for 3.11: the
    vendoring stops and says to build it in the image, rather than ship a wheel the image cannot install."""
    import sysconfig
    from pathlib import Path

    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        pytest.skip("no Python headers here: a C extension cannot be built to show the refusal")
    with pytest.raises(vendor.VendorError) as e:
        vendor.vendor_wheels(env21, "ujson==1.35\n", None, tmp_path / "wheels")
    assert e.value.code == "vendor-not-for-image" and "ujson-1.35-cp311" in str(e.value)
    assert "inside the image" in (e.value.hint or "")
