# Runs every TEST_CASE of the app on a connected ESP32-S3 with pytest-embedded, as ESP-IDF's own test
# apps do: one build per sdkconfig.ci.<config>, in build_esp32s3_<config> (README.md). The markers
# are the runner kinds of ESP-IDF's CI: an octal-PSRAM board for octal_psram, a generic ESP32-S3
# board (quad PSRAM) for the others; the no-PSRAM build runs on either. Each case starts after a
# reset: a failed case cannot leave blocks or handlers behind for the next.
import pytest
from pytest_embedded import Dut
from pytest_embedded_idf.utils import idf_parametrize


@pytest.mark.octal_psram
@pytest.mark.parametrize('config', ['octal_psram'], indirect=True)
@idf_parametrize('target', ['esp32s3'], indirect=['target'])
def test_system_service_octal_psram(dut: Dut) -> None:
    dut.run_all_single_board_cases(reset=True, timeout=120)


@pytest.mark.generic
@pytest.mark.parametrize('config', ['quad_psram', 'no_psram', 'iram'], indirect=True)
@idf_parametrize('target', ['esp32s3'], indirect=['target'])
def test_system_service(dut: Dut) -> None:
    dut.run_all_single_board_cases(reset=True, timeout=120)
