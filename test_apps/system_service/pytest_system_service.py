# Runs every TEST_CASE of the app on a connected ESP32-S3 (pytest-embedded, as ESP-IDF's own test
# apps): pytest --target esp32s3 test_apps/system_service
import pytest
from pytest_embedded import Dut


@pytest.mark.esp32s3
@pytest.mark.generic
def test_system_service(dut: Dut) -> None:
    dut.run_all_single_board_cases(timeout=120)
