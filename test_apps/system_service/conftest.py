# What ESP-IDF's own conftest.py gives the test apps inside its tree, for running this app outside
# it: the `config` a test is parametrized with, and the build directory of that config.
import os

import pytest
from pytest_embedded.plugin import multi_dut_argument
from pytest_embedded.plugin import multi_dut_fixture


@pytest.fixture
@multi_dut_argument
def config(request: pytest.FixtureRequest) -> str:
    return getattr(request, 'param', None) or 'default'


@pytest.fixture
@multi_dut_fixture
def build_dir(request: pytest.FixtureRequest, app_path: str, target: str, config: str) -> str:
    """--build-dir if given, else build_<target>_<config> (idf-build-apps' name). No fallback to
    `build`: a build of another config would run under this config's name."""
    candidates = [request.config.getoption('build_dir', None), f'build_{target}_{config}']
    for candidate in candidates:
        if candidate and os.path.isdir(os.path.join(app_path, candidate)):
            return candidate
    b = f'build_{target}_{config}'
    raise ValueError(f'no build of config {config}: idf.py -B {b} -D SDKCONFIG={b}/sdkconfig '
                     f'-D SDKCONFIG_DEFAULTS="sdkconfig.defaults;sdkconfig.ci.{config}" '
                     f'set-target {target} build')
